//! `plan`: a pipeline file turned into a validated step graph.
//!
//! `schema` is the file as written; `resolve` expands board templates,
//! resolves plugins, pools, policies and dependencies, and `cycles` rejects
//! cyclic graphs. Every error is collected with the key path it concerns, so
//! that `baton check` reports all of them at once, before anything runs.

pub mod bundled;
pub mod cycles;
pub mod error;
#[cfg(test)]
mod fuzz_tests;
pub mod inputs;
pub mod operator;
pub mod policy;
mod resolve;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{PlanError, PlanErrors};
pub use schema::{OnFailure, Trust};

use crate::plan::policy::StepPolicy;
use crate::registry::reference::OciRef;

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// The pipeline file, absolute.
    pub file: PathBuf,
    /// The directory of the pipeline file (relative plugin paths resolve here).
    pub dir: PathBuf,
    /// What steps see at `/src` and `$BATON_SRC`: `dir`, or the patched copy
    /// of a try run.
    pub src_dir: PathBuf,
    /// The run state, `.baton/`: in `dir`, or in the trusted checkout of a
    /// try run (whose pipeline is read from an export of its `HEAD`).
    pub state: PathBuf,
    /// Who decided trust: the file, `--untrusted`/an operator policy, or `baton try`.
    /// The one place to ask whether a run is a try run (e.g. for cache namespaces).
    pub kind: operator::RunKind,
    /// What the operator's policy narrowed, said before the run starts.
    pub notes: Vec<String>,
    /// What a try run ran (base, patch, files), for its report.
    pub try_info: Option<operator::TryInfo>,
    /// The operator's settings the plan was resolved under (sent to workers).
    pub operator: operator::Operator,
    /// Max steps running at once.
    pub jobs: usize,
    /// Wasm stack of every step, bytes (`[policy] stack`).
    pub wasm_stack: u64,
    pub plugins: Vec<PluginDef>,
    pub pools: Vec<PoolDef>,
    /// Board names, in file order.
    pub boards: Vec<String>,
    /// Per board: the worker labels it needs when it runs on a cluster
    /// (`runs_on`; ignored by a local run).
    pub runs_on: Vec<std::collections::BTreeMap<String, String>>,
    /// Steps, boards in file order, each board's steps in list order.
    pub steps: Vec<StepDef>,
    /// `[pipeline] cache_salt` (empty if unset): part of every cache key.
    pub cache_salt: String,
}

/// A plugin named in `[plugins]` or bundled with baton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDef {
    pub name: String,
    pub source: PluginSource,
    /// Pinned digest (hex sha256), checked when the plugin is loaded.
    pub sha256: Option<String>,
    pub trust: Option<Trust>,
}

/// Where a plugin's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    File(PathBuf),
    Bundled(&'static str),
    /// A registry plugin; `blob` is its component in the plugin cache, set
    /// once the reference is resolved (`cli::lock`), before any step runs.
    Oci {
        reference: OciRef,
        blob: Option<PathBuf>,
    },
}

/// A pool (`[pools] foreground = 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolDef {
    pub name: String,
    pub capacity: usize,
}

/// One step of the expanded graph.
#[derive(Debug, Clone)]
pub struct StepDef {
    /// `board.step`.
    pub id: String,
    pub board: usize,
    pub name: String,
    /// Index into `Plan::plugins`; `None` for a sync point (no plugin, no `with`).
    pub plugin: Option<usize>,
    /// The `with` table as JSON.
    pub config: String,
    /// Steps this one runs after (indices into `Plan::steps`).
    pub deps: Vec<usize>,
    pub pool: Option<usize>,
    pub on_failure: OnFailure,
    pub always: bool,
    pub retries: u32,
    pub backoff: Duration,
    /// Signals this step may raise.
    pub emits: Vec<String>,
    pub policy: StepPolicy,
    /// Hash of everything that defines the step (not its plugin's bytes).
    pub fingerprint: String,
    /// Where the step is written, e.g. `templates.cros.steps[1]`.
    pub source: String,
    /// `cache = true`: how the step is keyed and restored (`None`: never cached).
    pub cache: Option<CacheSpec>,
    /// `outputs`: workspace paths the step leaves for later steps, normalised.
    pub outputs: Vec<String>,
    /// Why the step is skipped without running, whatever its dependencies
    /// did (a step that lists secrets in a run that gives none).
    pub withheld: Option<String>,
}

/// What a cached step declares besides its definition (docs/caching.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSpec {
    /// `inputs`: patterns over `/src`, checked.
    pub inputs: Vec<inputs::Pattern>,
}

impl Plan {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Plan, PlanErrors> {
        let shown = path.display().to_string();
        let fail = |message: String| PlanErrors { file: shown.clone(), errors: vec![PlanError::new("", message)] };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read pipeline file: {e}")))?;
        let file = std::path::absolute(path).map_err(|e| fail(format!("cannot resolve path: {e}")))?;
        Self::parse_with(&text, &file, &operator::Operator::default())
    }

    /// Reads and validates a pipeline file under the operator's settings.
    pub fn load_with(path: &Path, op: &operator::Operator) -> Result<Plan, PlanErrors> {
        let shown = path.display().to_string();
        let fail = |message: String| PlanErrors { file: shown.clone(), errors: vec![PlanError::new("", message)] };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read pipeline file: {e}")))?;
        let file = std::path::absolute(path).map_err(|e| fail(format!("cannot resolve path: {e}")))?;
        Self::parse_with(&text, &file, op)
    }

    /// Validates pipeline text; `file` is where it lives (relative plugin paths
    /// resolve against its directory).
    pub fn parse(text: &str, file: &Path) -> Result<Plan, PlanErrors> {
        Self::parse_with(text, file, &operator::Operator::default())
    }

    /// Validates pipeline text under the operator's settings.
    pub fn parse_with(text: &str, file: &Path, op: &operator::Operator) -> Result<Plan, PlanErrors> {
        resolve::resolve(text, file, op).map_err(|errors| PlanErrors { file: file.display().to_string(), errors })
    }

    /// Validates a pipeline text from the coordinator of a cluster run,
    /// under the operator's settings it carries ([`operator::Operator::wire_text`]).
    pub fn parse_wire(text: &str, file: &Path) -> Result<Plan, PlanErrors> {
        let op = operator::Operator::from_wire(text)
            .map_err(|m| PlanErrors { file: file.display().to_string(), errors: vec![PlanError::new("", m)] })?;
        Self::parse_with(text, file, &op)
    }

    /// The index of step `board.step`.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// For each step, the steps that depend on it.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.steps.len()];
        for (i, s) in self.steps.iter().enumerate() {
            for &d in &s.deps {
                out[d].push(i);
            }
        }
        out
    }

    /// The `.baton/` directory of this pipeline.
    pub fn state_dir(&self) -> PathBuf {
        self.state.clone()
    }
}

/// Whether `name` is usable as a board, step or signal name: letters, digits,
/// `_` and `-` (no `.` or `/`, which separate board, step and name in references).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
