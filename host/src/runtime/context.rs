//! Everything one attempt of one step carries into its sandbox: identity,
//! policy, log, the run's services, and the processes it started.

use std::path::PathBuf;
use std::sync::Arc;

use crate::executor::Reporter;
use crate::plan::policy::StepPolicy;
use crate::runtime::host::process::ProcessGroups;
use crate::runtime::host::src_view::SourceDir;
use crate::sandbox::confine::Confinement;
use crate::storage::artifacts::ArtifactStore;
use crate::storage::step_log::StepLog;
use crate::text::Secrets;

/// Run-wide services shared by every step.
pub struct RunServices {
    pub run_id: String,
    pub store: ArtifactStore,
    pub confinement: Confinement,
    /// Values of the variables steps list in `secrets`, masked in what the run writes.
    pub secrets: Secrets,
}

/// One attempt of one step.
pub struct StepContext {
    /// Index of the step in the plan.
    pub index: usize,
    /// `board.step`.
    pub id: String,
    pub board: String,
    pub name: String,
    pub attempt: u32,
    /// The `with` table as JSON.
    pub config: String,
    /// The board workspace on the host (mounted at `/workspace`).
    pub workspace: PathBuf,
    /// The pipeline's directory, offered read-only at `/src` (without
    /// `.baton/`); `None` where there is no pipeline (`describe()`).
    pub src: Option<SourceDir>,
    pub policy: StepPolicy,
    pub log: StepLog,
    pub run: Arc<RunServices>,
    /// Where the attempt's progress and requests go (the scheduler).
    pub reporter: Reporter,
    /// Process groups started by this attempt; all killed when it ends.
    pub processes: ProcessGroups,
    /// Whether the host denied this attempt something its policy forbids (a
    /// program, another step's artifact): its failure is then not retried
    /// (the next attempt would be denied the same).
    pub denied: std::sync::atomic::AtomicBool,
}
