//! `baton:stage/process`: programs on the step's allow-list, run in the
//! workspace with a scrubbed environment, in their own process group
//! (confined with bubblewrap for untrusted steps). Output is streamed line
//! by line to the step log and captured (bounded, with the start dropped
//! first). When a process ends, whatever it left running in its group is
//! killed; when the step ends, every group it started is killed.

mod groups;
mod output;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use wasmtime::component::Resource;

pub use groups::{ProcessGroups, kill_everything, supervisors_done};
use groups::{Supervising, kill_group};
use output::{ChildIo, pump};

use crate::runtime::bindings::ProcessTrap;
use crate::runtime::bindings::baton::stage::process::{
    Chunk, Command, ExitStatus, Host, HostChild, Output, OutputStream, ProcessError,
};
use crate::runtime::context::StepContext;
use crate::runtime::state::StepState;
use crate::sandbox::confine::{Spec, which};
use crate::sandbox::paths::cwd_in_workspace;
use crate::sandbox::policy::{spawn_allowed, spawn_denied};

/// How long to keep reading a process's pipes after it ended and its group
/// was killed (a process that left the group may still hold them).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A running (or finished) process of a stage: the host side of `child`.
pub struct ChildHandle {
    pid: u32,
    io: Arc<ChildIo>,
    exit: watch::Receiver<Option<ExitStatus>>,
    groups: ProcessGroups,
}

impl ChildHandle {
    async fn wait(&mut self) -> Output {
        let status = loop {
            if let Some(s) = *self.exit.borrow_and_update() {
                break s;
            }
            if self.exit.changed().await.is_err() {
                break (*self.exit.borrow()).unwrap_or(ExitStatus::Signaled(libc::SIGKILL));
            }
        };
        self.io.output(status)
    }
}

/// Starts `cmd` for the step, or says why it may not run.
pub fn start(ctx: &StepContext, cmd: Command) -> Result<ChildHandle, ProcessError> {
    let policy = &ctx.policy;
    if !spawn_allowed(&policy.spawn, &cmd.program) {
        return Err(ProcessError::Denied(spawn_denied(policy, &ctx.id, &cmd.program)));
    }
    let program: PathBuf = if cmd.program.starts_with('/') {
        PathBuf::from(&cmd.program)
    } else {
        which(&cmd.program)
            .ok_or_else(|| ProcessError::NotFound(format!("program `{}` is not on the host PATH", cmd.program)))?
    };
    if !program.exists() {
        return Err(ProcessError::NotFound(format!("program `{}` does not exist", cmd.program)));
    }
    let cwd = cwd_in_workspace(&ctx.workspace, cmd.cwd.as_deref()).map_err(ProcessError::InvalidCwd)?;
    let live = ctx.processes.count();
    if live >= policy.max_children as usize {
        return Err(ProcessError::Limit(format!(
            "max_children {} reached: step {} already has {live} processes running",
            policy.max_children, ctx.id
        )));
    }
    let env = environment(ctx, &cmd)?;
    // A cgroup directory name: bounded whatever the length of the step's names.
    let label = format!("{}-{}", ctx.id.chars().take(64).collect::<String>(), ctx.attempt);
    let mut launch = ctx
        .run
        .confinement
        .launch(
            policy,
            &Spec {
                program: &program,
                args: &cmd.args,
                env: &env,
                workspace: &ctx.workspace,
                src: ctx.src.as_ref().map(|s| s.root.as_path()),
                cwd: &cwd,
                label: &label,
            },
        )
        .map_err(|e| {
            ProcessError::Failed(format!("cannot confine `{}` for untrusted step {}: {e}", cmd.program, ctx.id))
        })?;

    if policy.trust == crate::plan::Trust::Trusted
        && let Some(why) = ctx.run.confinement.trusted_weakness()
    {
        ctx.log.line(
            "baton",
            &format!("warning: no pid namespace for this process ({why}): a process that leaves its group may outlive the step"),
        );
    }
    if policy.trust == crate::plan::Trust::Untrusted && launch.cgroup.is_none() {
        ctx.log.line(
            "baton",
            "warning: no pids cgroup to join: the process count of this confined tree is capped by RLIMIT_NPROC \
             only (which counts every process of the sandbox user)",
        );
    }
    let mut command = tokio::process::Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&cwd)
        .process_group(0)
        .stdin(if cmd.stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let rlimits = launch.rlimits.clone();
    let cgroup_fd = launch.cgroup.as_ref().map(|c| std::os::fd::AsRawFd::as_raw_fd(&c.procs));
    let identity = launch.identity;
    let pid_namespace = launch.pid_namespace;
    let staging = launch.staging.take();
    let args_fd = launch.args_file.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe syscalls (write, setrlimit, setgroups, setgid,
    // setuid, prctl) on values prepared here.
    unsafe {
        command.pre_exec(move || {
            if let Some(fd) = cgroup_fd
                && libc::write(fd, b"0".as_ptr().cast(), 1) != 1
            {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(st) = &staging {
                st.enter()?;
            }
            // bubblewrap reads its arguments from this file: keep it open across exec.
            if let Some(fd) = args_fd
                && libc::fcntl(fd, libc::F_SETFD, 0) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            for &(resource, value) in &rlimits {
                let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Untrusted, as root: become the unprivileged sandbox user for
            // good (groups first, then gid, then uid).
            if let Some(who) = identity
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(who.gid) != 0
                    || libc::setuid(who.uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // Die with baton, even if it is killed with SIGKILL (after the
            // identity change, which clears this setting).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if pid_namespace {
                crate::sandbox::pidns::enter()?;
            }
            Ok(())
        });
    }
    let mut child =
        command.spawn().map_err(|e| ProcessError::Failed(format!("cannot start `{}`: {e}", cmd.program)))?;
    let pid = child.id().unwrap_or(0);
    let pgid = pid as i32;
    ctx.processes.add(pgid);

    let source = format!("{}[{pid}]", short_name(&cmd.program));
    // The command is the stage's text on a line of baton's: one line, inert.
    let words = shell_words(&cmd.program, &cmd.args);
    ctx.log.line("baton", &format!("started {source}: {}", crate::text::escape_line(&words)));

    let limit = policy.output_limit as usize;
    let io = Arc::new(ChildIo::new(limit, ctx.run.secrets.longest()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(out, OutputStream::Stdout, io.clone(), ctx.log.clone(), source.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(err, OutputStream::Stderr, io.clone(), ctx.log.clone(), source.clone())));
    }
    if let (Some(mut stdin), Some(bytes)) = (child.stdin.take(), cmd.stdin) {
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
        });
    }

    let (exit_tx, exit) = watch::channel(None);
    let groups = ctx.processes.clone();
    let log = ctx.log.clone();
    let timeout = cmd.timeout_ms;
    let cgroup = launch.cgroup;
    let supervising = Supervising::start();
    tokio::spawn(async move {
        let _supervising = supervising;
        let status = match timeout {
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), child.wait()).await {
                Ok(s) => convert(s),
                Err(_) => {
                    kill_group(pgid);
                    let _ = child.wait().await;
                    ExitStatus::TimedOut(ms)
                }
            },
            None => convert(child.wait().await),
        };
        groups.finish(pgid);
        drop(cgroup);
        let drained = tokio::time::timeout(DRAIN_GRACE, futures_join(readers)).await;
        if drained.is_err() {
            log.line(
                "baton",
                &format!("{source}: output still open {}s after exit; stopped reading", DRAIN_GRACE.as_secs()),
            );
        }
        log.line("baton", &format!("{source} {}", describe(status)));
        let _ = exit_tx.send(Some(status));
    });

    Ok(ChildHandle { pid, io, exit, groups: ctx.processes.clone() })
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

fn convert(status: std::io::Result<std::process::ExitStatus>) -> ExitStatus {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => ExitStatus::Exited(c),
            (None, Some(sig)) => ExitStatus::Signaled(sig),
            (None, None) => ExitStatus::Exited(-1),
        },
        Err(_) => ExitStatus::Exited(-1),
    }
}

/// "exited with code 2", "killed by signal 9", "timed out after 500ms".
pub fn describe(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(c) => format!("exited with code {c}"),
        ExitStatus::Signaled(s) => format!("killed by signal {s}"),
        ExitStatus::TimedOut(ms) => format!("timed out after {ms}ms"),
    }
}

/// `PATH`, the step's `BATON_*` variables, the host variables the policy
/// passes through (`env`, `secrets`), then the stage's own.
fn environment(ctx: &StepContext, cmd: &Command) -> Result<Vec<(String, String)>, ProcessError> {
    let mut env =
        vec![("PATH".to_string(), std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()))];
    env.extend(step_variables(ctx));
    for name in &ctx.policy.env {
        if let Ok(v) = crate::env_vars::var(name) {
            env.push((name.clone(), v));
        }
    }
    // Read once before the run started (a missing one stopped it then).
    for name in &ctx.policy.secrets {
        if let Some(v) = ctx.run.secrets.value(name) {
            env.push((name.clone(), v.to_string()));
        }
    }
    for (k, v) in &cmd.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(ProcessError::Failed(format!("invalid environment variable `{}`", k.escape_debug())));
        }
        env.retain(|(existing, _)| existing != k);
        env.push((k.clone(), v.clone()));
    }
    Ok(env)
}

/// What every process of a step is told: which step, attempt and run it
/// serves, where its workspace is and where the project's source is (its
/// real path for a trusted step; `/src`, where bubblewrap binds it, for an
/// untrusted one).
fn step_variables(ctx: &StepContext) -> Vec<(String, String)> {
    use crate::env_vars::for_processes as P;
    let workspace = ctx.workspace.canonicalize().unwrap_or_else(|_| ctx.workspace.clone());
    let mut vars = vec![
        (P::RUN_ID.to_string(), ctx.run.run_id.clone()),
        (P::BOARD.to_string(), ctx.board.clone()),
        (P::STEP.to_string(), ctx.id.clone()),
        (P::ATTEMPT.to_string(), ctx.attempt.to_string()),
        (P::WORKSPACE.to_string(), workspace.display().to_string()),
    ];
    if let Some(src) = &ctx.src {
        let seen = match ctx.policy.trust {
            crate::plan::Trust::Trusted => src.root.display().to_string(),
            crate::plan::Trust::Untrusted => crate::sandbox::wasi::SRC.to_string(),
        };
        vars.push((P::SRC.to_string(), seen));
    }
    vars
}

/// The program's file name as a log source: `[`, `]`, `|`, spaces and
/// controls replaced, so that a source can never read as another one
/// (`baton`, the host's) or break the line's layout.
fn short_name(program: &str) -> String {
    let name = program.rsplit('/').next().unwrap_or(program);
    let clean: String = name
        .chars()
        .take(64)
        .map(|c| if c.is_control() || c.is_whitespace() || "[]|".contains(c) { '_' } else { c })
        .collect();
    if clean.is_empty() { "process".into() } else { clean }
}

fn shell_words(program: &str, args: &[String]) -> String {
    let mut out = program.to_string();
    for a in args {
        out.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
            out.push('\'');
            out.push_str(&a.replace('\'', "'\\''"));
            out.push('\'');
        } else {
            out.push_str(a);
        }
    }
    out
}

// ---------------------------------------------------------------- WIT

/// Before an untrusted process starts as the sandbox user (baton is root),
/// the workspace is handed to that user: on a blocking thread, stopped if
/// the attempt ends meanwhile (see `identity::hand_over_off_runtime`).
async fn hand_over_workspace(ctx: &StepContext, cmd: &Command) -> Result<(), ProcessError> {
    if ctx.policy.trust != crate::plan::Trust::Untrusted || !spawn_allowed(&ctx.policy.spawn, &cmd.program) {
        return Ok(());
    }
    // An invalid sandbox identity is reported by the launch itself.
    let Ok(Some(who)) = crate::sandbox::identity::Identity::for_sandbox() else {
        return Ok(());
    };
    crate::sandbox::identity::hand_over_off_runtime(&ctx.workspace, who).await.map(drop).map_err(|e| {
        ProcessError::Failed(format!(
            "cannot confine `{}` for untrusted step {}: cannot hand the workspace to the sandbox user {}: {e}",
            cmd.program, ctx.id, who.uid
        ))
    })
}

/// [`start`], remembering a denial on the attempt (its failure is not retried).
async fn start_noting_denial(ctx: &StepContext, cmd: Command) -> Result<ChildHandle, ProcessError> {
    hand_over_workspace(ctx, &cmd).await?;
    let started = start(ctx, cmd);
    if let Err(ProcessError::Denied(_)) = &started {
        ctx.denied.store(true, Ordering::Relaxed);
    }
    started
}

impl Host for StepState {
    async fn run(&mut self, cmd: Command) -> Result<Output, ProcessTrap> {
        let mut child = start_noting_denial(&self.ctx, cmd).await?;
        Ok(child.wait().await)
    }

    async fn spawn(&mut self, cmd: Command) -> Result<Resource<ChildHandle>, ProcessTrap> {
        let child = start_noting_denial(&self.ctx, cmd).await?;
        let handle = self.table.push(child).map_err(|e| ProcessError::Limit(format!("too many open handles: {e}")))?;
        Ok(handle)
    }

    fn convert_process_error(&mut self, err: ProcessTrap) -> wasmtime::Result<ProcessError> {
        err.downcast()
    }
}

impl HostChild for StepState {
    async fn pid(&mut self, child: Resource<ChildHandle>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&child)?.pid)
    }

    async fn read(&mut self, child: Resource<ChildHandle>) -> wasmtime::Result<Option<Chunk>> {
        let io = self.table.get(&child)?.io.clone();
        Ok(io.next().await)
    }

    async fn wait(&mut self, child: Resource<ChildHandle>) -> Result<Output, ProcessTrap> {
        // A handle that is not in the table is the guest's bug: a trap.
        let handle = self.table.get_mut(&child).map_err(ProcessTrap::trap)?;
        Ok(handle.wait().await)
    }

    async fn kill(&mut self, child: Resource<ChildHandle>) -> wasmtime::Result<()> {
        let handle = self.table.get(&child)?;
        if handle.exit.borrow().is_none() {
            kill_group(handle.pid as i32);
        }
        Ok(())
    }

    async fn drop(&mut self, child: Resource<ChildHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(child)?;
        // A dropped handle's process is not waited for; it is killed.
        if handle.exit.borrow().is_none() {
            handle.groups.finish(handle.pid as i32);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_sources_cannot_pass_for_another_source() {
        assert_eq!(short_name("/usr/bin/make"), "make");
        assert_eq!(short_name("/opt/x/baton | forged\x1b"), "baton___forged_");
        assert_eq!(short_name("/opt/dir/"), "process");
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(shell_words("sh", &["-c".into(), "echo 'hi' there".into()]), r"sh -c 'echo '\''hi'\'' there'");
    }
}
