//! `executor`: the boundary between deciding what runs when (the
//! scheduler) and running one attempt of one step.
//!
//! # Design
//!
//! The scheduler owns readiness, pools, job slots, waits and deadlock
//! detection, retries, halting and cancellation. When a step may run, it
//! hands an [`Attempt`] (which step, which attempt, the board workspace, the
//! plugin) to an [`Executor`] and goes on; the executor runs the attempt
//! somewhere and tells the scheduler what happens through the attempt's
//! [`Reporter`]: that it started, its progress, what the stage asks of the
//! run (a [`Request`]: signals, artifact lookups and publications) and,
//! exactly once, its end with a typed [`AttemptOutcome`]. Dropping the
//! `cancel` sender the scheduler keeps (or sending on it) interrupts the
//! attempt, which still ends with a report.
//!
//! Everything that crosses the boundary is owned data of this module (no
//! WIT-generated type, no wasmtime handle), so:
//! - the local executor (`runtime::executor::LocalExecutor`: a wasmtime
//!   `Store` per attempt, in this process) converts requests and answers
//!   to and from the WIT types on its side;
//! - a remote executor (workers reached through a message bus) can carry
//!   the same reports as messages: an attempt names its step by index in
//!   the plan both sides loaded, its plugin by index and digest;
//! - the scheduler is tested with a scripted executor: no wasmtime, no
//!   processes.
//!
//! This module is a leaf for the step path: `runtime` implements the trait
//! and `scheduler` uses it, and neither needs the other's types for it.

pub mod outcome;
pub mod request;

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

pub use outcome::{AttemptOutcome, FailureKind};
pub use request::{ArtifactError, Request, SignalError};

/// One attempt of one step, as the scheduler hands it over.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Index of the step in the plan (the executor was built for that plan).
    pub step: usize,
    /// 1 for the first attempt.
    pub number: u32,
    /// The board's workspace (the same for every step of a board).
    pub workspace: PathBuf,
    /// The plugin, by index in the plan's plugins and digest.
    pub plugin: PluginRef,
}

/// Which plugin runs an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub index: usize,
    /// sha256 of the component, `None` if it could not be loaded.
    pub digest: Option<String>,
}

/// Runs attempts. Implementations return from [`Executor::start`] at once and
/// report on the given [`Reporter`] until [`Reporter::ended`].
pub trait Executor: Send + Sync {
    /// How many attempts may be alive at once (running or waiting in a
    /// stage): the scheduler starts no more.
    fn capacity(&self) -> usize;

    /// Starts `attempt`. The attempt is interrupted (and then ends as
    /// [`AttemptOutcome::Cancelled`]) when `cancel` resolves or its sender is
    /// dropped.
    fn start(&self, attempt: Attempt, reporter: Reporter, cancel: oneshot::Receiver<()>);

    /// Every attempt of the run has ended: release what was kept for the
    /// run's attempts (the local executor's open directory handles), before
    /// the report samples the host's open files. Executors that keep
    /// nothing do nothing.
    fn finish(&self) {}

    /// What happened to the run that no attempt shows (a cluster's board
    /// moves and replays), in order, for the report. Read once, at the end.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What an executor tells the scheduler about one attempt.
#[derive(Debug)]
pub enum Event {
    /// The attempt began to run. Optional: the scheduler counts an attempt
    /// as started when it hands it over; an executor with a queue of its
    /// own (remote workers) says when the attempt left it. The local
    /// executor starts at once and does not send it (one wake-up less per
    /// step).
    Started,
    /// The attempt runs on this worker of a cluster (a remote executor
    /// says so before `Started`; the report keeps the last one).
    RanOn { worker: String },
    /// A progress report from the stage, one line, already made inert.
    Progress { done: u64, total: u64, message: String },
    /// The stage asks something of the run; the answer goes to the reply
    /// channel inside the request.
    Request(Request),
    /// The attempt is over. `tail`: its last log lines (kept for failures).
    Ended { outcome: AttemptOutcome, tail: Vec<String> },
}

/// An [`Event`] of attempt `attempt` of step `step`.
#[derive(Debug)]
pub struct Report {
    pub step: usize,
    pub attempt: u32,
    pub event: Event,
}

/// The sending side of one attempt's reports.
#[derive(Debug, Clone)]
pub struct Reporter {
    step: usize,
    attempt: u32,
    tx: mpsc::UnboundedSender<Report>,
}

impl Reporter {
    pub fn new(step: usize, attempt: u32, tx: mpsc::UnboundedSender<Report>) -> Self {
        Self { step, attempt, tx }
    }

    /// The step this reporter speaks for.
    pub fn step(&self) -> usize {
        self.step
    }

    /// Sends an event; `false` if the scheduler is gone (the run is ending).
    pub fn send(&self, event: Event) -> bool {
        self.tx.send(Report { step: self.step, attempt: self.attempt, event }).is_ok()
    }

    /// Sends a request made with a reply channel and waits for the answer;
    /// `None` if the scheduler is gone or dropped the request.
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        if !self.send(Event::Request(make(reply))) {
            return None;
        }
        answer.await.ok()
    }

    /// Reports the end of the attempt.
    pub fn ended(self, outcome: AttemptOutcome, tail: Vec<String>) {
        self.send(Event::Ended { outcome, tail });
    }
}
