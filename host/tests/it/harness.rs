//! A pipeline in a temp directory, run by the real `baton` binary, and its
//! report read back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The `baton` binary under test.
pub fn baton_bin() -> &'static str {
    env!("CARGO_BIN_EXE_baton")
}

/// Compile cache shared by all tests (fixtures compile once).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("baton-cache")
}

/// A pipeline file in a fresh directory.
pub struct Pipeline {
    dir: tempfile::TempDir,
}

impl Pipeline {
    /// Writes `toml` as `baton.toml`; `{probe}` and the other fixture names
    /// in braces become the fixtures' paths.
    pub fn new(toml: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("baton-it-").tempdir().expect("tempdir");
        let p = Self { dir };
        p.write(toml);
        p
    }

    /// Replaces `baton.toml`.
    pub fn write(&self, toml: &str) {
        std::fs::write(self.file(), expand(toml)).expect("write baton.toml");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self) -> PathBuf {
        self.dir().join("baton.toml")
    }

    /// The workspace of `board` in the latest run (a path that does not
    /// exist before the first run has started).
    pub fn workspace(&self, board: &str) -> PathBuf {
        self.latest_run().unwrap_or_else(|| self.dir().join(".baton/runs/none")).join("ws").join(board)
    }

    /// Every run directory, oldest first.
    pub fn runs(&self) -> Vec<PathBuf> {
        let dir = self.dir().join(".baton/runs");
        let mut ids: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        ids.sort();
        ids
    }

    /// The latest run's directory, once there is one.
    pub fn latest_run(&self) -> Option<PathBuf> {
        self.runs().pop()
    }

    /// A `baton` command in the pipeline's directory.
    pub fn baton(&self) -> Command {
        let mut c = Command::new(baton_bin());
        c.current_dir(self.dir()).env("BATON_CACHE_DIR", cache_dir()).env("NO_COLOR", "1");
        c
    }

    /// `baton run --json <args>`.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.baton().arg("run").arg("--json").args(args).output().expect("run baton");
        Run::from_output(out)
    }

    /// `baton run --json <args>` with extra environment variables.
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut c = self.baton();
        c.envs(env.iter().copied()).arg("run").arg("--json").args(args);
        Run::from_output(c.output().expect("run baton"))
    }

    /// `baton check`.
    pub fn check(&self) -> Output {
        self.baton().arg("check").output().expect("run baton check")
    }

    /// Text of step `id`'s log in the latest run.
    pub fn log(&self, id: &str) -> String {
        let last = self.latest_run().expect("a run");
        std::fs::read_to_string(last.join("logs").join(format!("{id}.log"))).unwrap_or_default()
    }
}

/// Replaces `{fixture}` tokens with fixture paths.
pub fn expand(toml: &str) -> String {
    let mut text = toml.to_string();
    for (name, path) in baton_test_artifacts::ALL {
        text = text.replace(&format!("{{{name}}}"), path);
    }
    text
}

/// A finished `baton run --json`.
pub struct Run {
    pub code: i32,
    pub stderr: String,
    pub report: Value,
}

impl Run {
    pub fn from_output(out: Output) -> Self {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        Self { code: out.status.code().unwrap_or(-1), stderr, report }
    }

    pub fn step(&self, id: &str) -> &Value {
        self.report["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["id"] == id))
            .unwrap_or_else(|| panic!("no step {id} in the report; stderr:\n{}", self.stderr))
    }

    pub fn status(&self, id: &str) -> &str {
        self.step(id)["status"].as_str().unwrap_or("?")
    }

    pub fn error(&self, id: &str) -> String {
        self.step(id)["error"].as_str().unwrap_or("").to_string()
    }

    pub fn start(&self, id: &str) -> f64 {
        self.step(id)["start"].as_f64().unwrap_or_else(|| panic!("{id} did not start; stderr:\n{}", self.stderr))
    }

    pub fn end(&self, id: &str) -> f64 {
        self.step(id)["end"].as_f64().unwrap_or_else(|| panic!("{id} did not end; stderr:\n{}", self.stderr))
    }

    /// `a` ended before `b` started.
    pub fn assert_before(&self, a: &str, b: &str) {
        assert!(
            self.end(a) <= self.start(b),
            "{a} (end {}) should finish before {b} starts ({})",
            self.end(a),
            self.start(b)
        );
    }

    /// `a` and `b` ran at the same time for a while.
    pub fn overlap(&self, a: &str, b: &str) -> bool {
        self.start(a) < self.end(b) && self.start(b) < self.end(a)
    }

    /// Panics with the run's stderr unless every listed step has `status`.
    pub fn assert_status(&self, status: &str, ids: &[&str]) {
        for id in ids {
            assert_eq!(self.status(id), status, "step {id}: error {:?}; stderr:\n{}", self.error(id), self.stderr);
        }
    }
}
