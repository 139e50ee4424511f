//! `report`: what a run leaves: the report model (also `report.json` in the
//! run directory and `baton run --json` on stdout) and what is built from
//! it: the terminal summary (`text`), JUnit XML (`junit`), the self-contained
//! HTML page (`html`) and the graph picture (`graph_svg`). `analysis` holds
//! what they share: why the run took as long as it did.

pub mod analysis;
pub mod ci_format;
pub mod graph_svg;
pub mod host_usage;
pub mod html;
pub mod junit;
mod outcome;
pub mod plugin_code;
mod svg_canvas;
pub mod text;
pub mod xml;

/// How a step ended, as the reports say it.
pub use crate::status::StepStatus as Outcome;

use serde::{Deserialize, Serialize};

use crate::status::{AttemptStatus, FailureKind, RunStatus};

/// How a step blocked in a wait counts against `jobs`; repeated in every
/// report so that the choice is visible.
pub const WAITING_POLICY: &str = "a step blocked in a signal or artifact wait gives its job slot back \
(keeping its pool slot) and gets one again, before any new step starts, when the wait ends";

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub pipeline: String,
    pub file: String,
    pub status: RunStatus,
    pub started_unix: f64,
    /// Seconds from start to end.
    pub duration: f64,
    pub jobs: usize,
    pub resumed_from: Option<String>,
    pub steps: Vec<StepReport>,
    /// Step ids, first to last.
    pub critical_path: Vec<String>,
    pub critical_path_seconds: f64,
    /// Every failed attempt that failed its step (and forgiven ones), in order.
    pub failures: Vec<FailureReport>,
    pub log_dir: String,
    pub waiting_policy: String,
    /// How each plugin was loaded.
    pub plugins: Vec<PluginLoad>,
    /// Every artifact the run published (or kept from the run it resumed),
    /// in publication order.
    #[serde(default)]
    pub artifacts: Vec<crate::storage::artifacts::ArtifactRecord>,
    /// baton's own memory and open files at the start and end of the run.
    #[serde(default)]
    pub host: host_usage::HostUsage,
    /// What happened to the run that no attempt shows, in order: on a
    /// cluster, a lost worker's board moving and its replays, and a replay
    /// that published different bytes than the first time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Who decided trust: the pipeline file (`normal`), `--untrusted` or an
    /// operator policy (`untrusted`), or `baton try` (`try`).
    #[serde(default)]
    pub kind: crate::plan::operator::RunKind,
    /// What a try run ran: base, patch digest, files changed and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub try_run: Option<crate::plan::operator::TryInfo>,
}

/// How a plugin was loaded for the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginLoad {
    pub name: String,
    /// Hex sha256 of the component.
    pub digest: String,
    /// The `baton:stage` version it was built against.
    pub contract: String,
    pub size: u64,
    /// `hit` (compiled code from the cache), `compiled` (and cached) or
    /// `compileduncached`.
    pub cache: String,
    /// Time to read, check, compile or load, and pre-instantiate it.
    pub seconds: f64,
    /// The compiler of the code it was loaded with: `cranelift`, or `winch`
    /// (tiered compilation's first run, or `BATON_COMPILER=winch`).
    #[serde(default)]
    pub compiler: String,
    /// Why Winch was not used where it would have been (it refused the
    /// component): the plugin runs on Cranelift's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Which code each attempt of its steps ran on (`steps`), and when the
    /// Cranelift code replaced the Winch code (`tier_up_seconds`).
    #[serde(default, flatten)]
    pub code: plugin_code::CodeLog,
}

/// One step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// `board.step`.
    pub id: String,
    pub board: String,
    /// Coarse: `ok`, `failed` or `skipped`.
    pub status: Outcome,
    /// The finer outcome: `ok`, `previously_done`, `failed`, `forgiven`,
    /// `cancelled`, `skipped` or `excluded` (absent in reports of older
    /// versions: use [`StepReport::outcome`]).
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Seconds since the run started; null if the step did not run.
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub error: Option<String>,
    pub deps: Vec<String>,
    pub attempts: Vec<AttemptReport>,
    /// Succeeded in an earlier run and was not run again (`--resume`).
    pub previously_done: bool,
    /// Failed under `on_failure = "ignore"`: does not fail the run.
    pub forgiven: bool,
    pub pool: Option<String>,
    pub always: bool,
    pub on_failure: String,
    pub waits: Vec<WaitReport>,
    /// References of the artifacts it published.
    pub artifacts: Vec<String>,
    /// Path of the step log, if it wrote one.
    pub log: Option<String>,
    /// A step cache hit: what it saved and where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<CachedReport>,
}

/// A step restored from the step cache instead of run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedReport {
    /// The key's first 12 hex digits.
    pub key: String,
    /// Seconds the step took when it ran (what the hit saved).
    pub saved: f64,
    /// The run that made the entry.
    pub run: String,
    /// The namespace it was read from.
    pub namespace: String,
}

impl CachedReport {
    /// `cached abcdef123456 (saved 3.20s, from run …)`.
    pub fn describe(&self) -> String {
        format!("cached {} (saved {:.2}s, from run {})", self.key, self.saved, self.run)
    }
}

/// One attempt of a step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptReport {
    pub attempt: u32,
    /// When the attempt became ready; until `start` it waited for a job slot or its pool.
    pub queued: f64,
    pub start: f64,
    pub end: Option<f64>,
    pub status: AttemptStatus,
    pub error: Option<String>,
    /// For failures.
    pub kind: Option<FailureKind>,
    pub log_tail: Vec<String>,
    /// The cluster worker that ran it (`baton run --nats`); null for a local run.
    #[serde(default)]
    pub worker: Option<String>,
}

/// A wait inside a step; its job slot was given back meanwhile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitReport {
    pub on: Vec<String>,
    pub start: f64,
    pub end: Option<f64>,
    pub error: Option<String>,
    pub slot_released: bool,
}

/// One failure for the combined failure report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureReport {
    pub step: String,
    pub attempt: u32,
    pub error: String,
    pub kind: Option<FailureKind>,
    pub forgiven: bool,
    pub log_tail: Vec<String>,
}

impl RunReport {
    /// The process exit code: 0 success, 1 a step failed, 130 cancelled.
    pub fn exit_code(&self) -> i32 {
        self.status.exit_code()
    }

    pub fn step(&self, id: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.id == id)
    }
}
