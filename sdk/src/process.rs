//! Running programs on the host. Only programs on the step's `spawn`
//! allow-list can run; they run in the workspace with only the environment
//! given here (plus `PATH`), and every process is killed when the step ends.

use std::time::Duration;

use crate::wit::baton::stage::process as host;
pub use host::{Chunk, ExitStatus, OutputStream, ProcessError};

/// A program to run, built up like `std::process::Command`.
#[derive(Debug, Clone)]
pub struct Command {
    inner: host::Command,
}

impl Command {
    /// A command running `program` (a name on the step's allow-list).
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            inner: host::Command {
                program: program.into(),
                args: Vec::new(),
                env: Vec::new(),
                cwd: None,
                timeout_ms: None,
                stdin: None,
            },
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.inner.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (the process sees only these, plus `PATH`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.inner.env.push((key.into(), value.into()));
        self
    }

    /// Runs in `dir`, relative to the workspace.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.inner.cwd = Some(dir.into());
        self
    }

    /// Kills the process (and its process group) after `limit`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.inner.timeout_ms = Some(limit.as_millis().try_into().unwrap_or(u64::MAX));
        self
    }

    /// Feeds `bytes` to the process's standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.inner.stdin = Some(bytes.into());
        self
    }

    /// Runs the program to completion. Its output goes to the step log and is
    /// returned (bounded).
    pub fn run(&self) -> Result<Output, ProcessError> {
        host::run(&self.inner).map(Output)
    }

    /// Starts the program and returns at once.
    pub fn spawn(&self) -> Result<Child, ProcessError> {
        host::spawn(&self.inner).map(Child)
    }
}

/// What a finished process left.
#[derive(Debug, Clone)]
pub struct Output(pub host::Output);

impl Output {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        matches!(self.0.status, ExitStatus::Exited(0))
    }

    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self.0.status {
            ExitStatus::Exited(c) => Some(c),
            _ => None,
        }
    }

    /// How it ended.
    pub fn status(&self) -> ExitStatus {
        self.0.status
    }

    /// Captured standard output.
    pub fn stdout(&self) -> &[u8] {
        &self.0.stdout
    }

    /// Captured standard error.
    pub fn stderr(&self) -> &[u8] {
        &self.0.stderr
    }

    /// Standard output as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// "exited with code 2", "killed by signal 9", "timed out after 500ms".
    pub fn describe(&self) -> String {
        describe_status(self.0.status)
    }
}

/// A human description of how a process ended.
pub fn describe_status(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(c) => format!("exited with code {c}"),
        ExitStatus::Signaled(s) => format!("killed by signal {s}"),
        ExitStatus::TimedOut(ms) => format!("timed out after {ms}ms"),
    }
}

/// A process running alongside the stage.
#[derive(Debug)]
pub struct Child(host::Child);

impl Child {
    /// The host process id.
    pub fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// The next piece of output (waits for one); `None` once both streams closed.
    pub fn read(&self) -> Option<Chunk> {
        self.0.read()
    }

    /// Waits for the process to end.
    pub fn wait(&self) -> Result<Output, ProcessError> {
        self.0.wait().map(Output)
    }

    /// Kills the process and its process group.
    pub fn kill(&self) {
        self.0.kill()
    }
}

pub(crate) fn error_message(e: &ProcessError) -> String {
    match e {
        ProcessError::Denied(m) => format!("denied: {m}"),
        ProcessError::NotFound(m) => format!("not found: {m}"),
        ProcessError::InvalidCwd(m) => format!("invalid cwd: {m}"),
        ProcessError::Limit(m) => format!("limit: {m}"),
        ProcessError::Failed(m) => m.clone(),
    }
}
