//! The state of one step during a run.

use tokio::sync::{OwnedSemaphorePermit, oneshot};

use crate::status::{FailureKind, StepStatus};

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Some dependency has not finished.
    Pending,
    /// Queued for a job slot (and its pool).
    Ready,
    /// An attempt is running (possibly waiting on a signal or artifact).
    Running,
    /// Failed an attempt; the next one starts after the backoff.
    Backoff,
    /// Finished (a failure under `on_failure = "ignore"` is `Failed` here,
    /// with [`StepRun::forgiven`] set).
    Done(StepStatus),
}

impl Status {
    pub fn finished(self) -> bool {
        matches!(self, Status::Done(_))
    }
}

/// One attempt, kept for the report.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub number: u32,
    /// When it became ready (the wait for a job slot or pool ends at `start`).
    pub queued: f64,
    pub start: f64,
    pub end: Option<f64>,
    /// `None` while running or on success.
    pub error: Option<(FailureKind, String)>,
    pub cancelled: bool,
    /// Last log lines of the attempt (kept for failures).
    pub tail: Vec<String>,
    /// The cluster worker it runs on (`None`: this process).
    pub worker: Option<String>,
}

/// A wait of the step on signals or artifacts, kept for the report.
#[derive(Debug, Clone)]
pub struct WaitRecord {
    pub on: Vec<String>,
    pub start: f64,
    pub end: Option<f64>,
    pub error: Option<String>,
}

/// Everything the scheduler tracks for one step.
pub struct StepRun {
    pub status: Status,
    /// Dependencies not finished yet.
    pub waiting_deps: usize,
    pub attempts: Vec<Attempt>,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub error: Option<String>,
    /// Failed under `on_failure = "ignore"`.
    pub forgiven: bool,
    /// Its job slot, while it runs (not while it waits).
    pub slot: Option<OwnedSemaphorePermit>,
    /// Its attempt's place among those the executor may have alive.
    pub instance: Option<OwnedSemaphorePermit>,
    /// Its slot of its pool, from its start to its attempt's end.
    pub pool: Option<OwnedSemaphorePermit>,
    /// Blocked in a wait (its job slot is released meanwhile).
    pub blocked: bool,
    pub waits: Vec<WaitRecord>,
    pub artifacts: Vec<String>,
    /// Stops the running attempt.
    pub cancel: Option<oneshot::Sender<()>>,
    /// When the step last became ready.
    pub queued_at: f64,
    /// A cached step's key while it runs (a miss).
    pub cache: Option<Box<super::cache_step::StepCache>>,
    /// Its declared `outputs` as stored once it passed (`None`: not stored).
    pub output_blobs: Option<Vec<crate::cache::CachedBlob>>,
    /// A step cache hit.
    pub cached: Option<crate::report::CachedReport>,
}

impl StepRun {
    pub fn new(waiting_deps: usize) -> Self {
        Self {
            status: Status::Pending,
            waiting_deps,
            attempts: Vec::new(),
            start: None,
            end: None,
            error: None,
            forgiven: false,
            slot: None,
            instance: None,
            pool: None,
            blocked: false,
            waits: Vec::new(),
            artifacts: Vec::new(),
            cancel: None,
            queued_at: 0.0,
            cache: None,
            output_blobs: None,
            cached: None,
        }
    }

    /// Whether dependents of this step may run (succeeded, or counts as done).
    pub fn satisfies(&self) -> bool {
        matches!(
            self.status,
            Status::Done(StepStatus::Ok | StepStatus::PreviouslyDone | StepStatus::Cached | StepStatus::Excluded)
        ) || (self.status == Status::Done(StepStatus::Failed) && self.forgiven)
    }
}
