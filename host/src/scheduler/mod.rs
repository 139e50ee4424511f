//! `scheduler`: runs a plan's step graph.
//!
//! # Design
//!
//! One task owns the state of every step (`Scheduler`) and reacts to events:
//! reports from the attempts it started, retry timers and cancellation. It
//! decides what runs when; it never runs a stage itself. Each attempt is
//! handed to an [`Executor`](crate::executor::Executor) (the local wasmtime
//! one in a real run, a scripted one in the unit tests), which reports back
//! over one channel: progress, requests (signals, artifacts) and the end
//! with a typed outcome. So the scheduler knows no wasmtime and no WIT type,
//! and everything below is tested without either.
//!
//! Ready steps start as soon as their dependencies are done, up to `jobs`
//! and their pool's capacity (and the executor's), highest critical-path
//! priority first. Each of these slots is an owned semaphore permit that the
//! step holds (`StepRun::{slot, pool, instance}`) and gives back by dropping
//! it: nothing is counted by hand. A step waiting on a signal or artifact
//! drops its job slot; when the wait ends it gets one again before any new
//! step starts.
//! Failures follow each step's `on_failure`; every status change is appended
//! to the run journal, so `--resume` after a crash redoes only what did not
//! finish.
//!
//! Files: `start` (a run's set-up: pre-flight, workspaces, the local
//! executor), `dispatch` (starting attempts, their outcomes, retries),
//! `graph` (readiness, skips, halting), `requests` (what stages ask for),
//! `waits` (signal and artifact waits, deadlock detection), `ready`
//! (priority queue with pools), `priority` (critical path), `select`
//! (`--only`/`--skip`/`--from`), `resume`, `step_run` (per-step state),
//! `outcome` (the report at the end).

mod cache_step;
mod dispatch;
mod graph;
mod outcome;
pub mod priority;
pub mod ready;
mod requests;
pub mod resume;
pub mod select;
mod start;
pub mod step_run;
#[cfg(test)]
mod tests;
pub mod waits;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::executor::{Executor, Report, SignalError};
use crate::plan::Plan;
use crate::report::PluginLoad;
use crate::storage::artifacts::ArtifactRecord;
use crate::storage::journal::{Journal, Record};
use crate::storage::runs::RunDir;

pub use select::Selection;
pub use start::run;
pub use step_run::Status;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides `[pipeline] jobs`.
    pub jobs: Option<usize>,
    /// Continue the last run: steps that succeeded there are not run again.
    pub resume: bool,
    pub selection: Selection,
    /// Which ready step goes first when slots are short.
    pub priority: Priority,
    /// Run the attempts on the workers of the cluster at this NATS server
    /// (`crate::cluster`) instead of in this process.
    pub nats: Option<String>,
    /// `--no-cache`: look nothing up in the step cache (still record).
    pub no_cache: bool,
    /// A try run or not: decides the step cache's namespaces.
    pub run_kind: crate::cache::RunKind,
}

/// Order of ready steps competing for slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Priority {
    /// Longest remaining path first (durations from earlier runs).
    #[default]
    CriticalPath,
    /// Plan order: boards as written, steps in list order.
    List,
}

/// Something for the live view. `PluginCompiling`: a plugin's compilation
/// starts (a compile cache miss), its code kept for later runs if `cached`.
#[derive(Debug)]
pub enum UiEvent<'a> {
    RunStarted {
        run_id: &'a str,
        steps: usize,
        jobs: usize,
        log_dir: &'a std::path::Path,
    },
    StepStarted {
        id: &'a str,
        attempt: u32,
    },
    StepFinished {
        id: &'a str,
        status: crate::status::StepStatus,
        seconds: Option<f64>,
        error: Option<&'a str>,
        forgiven: bool,
    },
    StepRetrying {
        id: &'a str,
        next_attempt: u32,
        delay: Duration,
        error: &'a str,
    },
    StepWaiting {
        id: &'a str,
        on: &'a [String],
    },
    StepResumed {
        id: &'a str,
    },
    Progress {
        id: &'a str,
        done: u64,
        total: u64,
        message: &'a str,
    },
    PluginCompiling {
        name: &'a str,
        size: u64,
        cached: bool,
    },
    PluginLoaded(&'a PluginLoad),
    Cancelling,
}

/// Receives live events.
pub type Observer = Box<dyn FnMut(&UiEvent<'_>) + Send>;

/// An error that ends the run before or outside any step (not a step failure).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Usage(String),
    /// Pre-flight found problems: nothing was started.
    #[error("pre-flight: {}", .0.join("; "))]
    Preflight(Vec<String>),
    #[error("cannot {what}: {error}")]
    Io { what: String, error: std::io::Error },
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |error| RunError::Io { what, error }
}

/// What a scheduler starts from, prepared by [`run`] (or a test).
pub(crate) struct Setup {
    pub run: RunDir,
    pub jobs: usize,
    /// Priority per step (higher first).
    pub prio: Vec<u64>,
    /// Per step: whether it takes part in this run.
    pub selected: Vec<bool>,
    /// What the resumed run already did.
    pub carried: resume::Carried,
    pub resumed_from: Option<String>,
    /// Masked in the error messages the run keeps.
    pub secrets: crate::text::Secrets,
    /// Per board: its workspace.
    pub workspaces: Vec<PathBuf>,
    /// Per plan plugin: its digest, if it loaded.
    pub digests: Vec<Option<String>>,
    pub plugin_loads: Vec<PluginLoad>,
    /// The start of the run.
    pub epoch: Instant,
    /// The step cache, if any step uses it.
    pub cache: Option<Arc<crate::cache::session::Session>>,
}

pub(crate) struct Scheduler {
    plan: Arc<Plan>,
    executor: Arc<dyn Executor>,
    /// Per plan plugin: its digest, if it loaded.
    digests: Vec<Option<String>>,
    steps: Vec<step_run::StepRun>,
    dependents: Vec<Vec<usize>>,
    prio: Vec<u64>,
    ready: ready::ReadyQueue,
    jobs: usize,
    /// `jobs` job slots: a running step holds one (a waiting one gives it back).
    job_slots: Arc<Semaphore>,
    /// As many as the executor may have attempts alive (running or waiting).
    instance_slots: Arc<Semaphore>,
    /// Attempts started and not yet ended.
    in_flight: usize,
    /// Steps waiting for a retry timer.
    backoffs: usize,
    finished: usize,
    /// Steps whose dependencies all finished, to evaluate.
    freed: Vec<usize>,
    /// Wait replies to deliver once their step has a job slot again.
    wakeups: VecDeque<(usize, waits::Reply, Result<(), SignalError>)>,
    waits: Vec<waits::PendingWait>,
    published: Published,
    /// Lazily computed transitive dependencies, for untrusted artifact reads.
    ancestors: HashMap<usize, HashSet<usize>>,
    halted: Option<String>,
    cancelled: bool,
    facts: RunFacts,
    secrets: crate::text::Secrets,
    inbox: Inbox,
    journal: Journal,
    observer: Observer,
    workspaces: Vec<PathBuf>,
    cache: Option<Arc<crate::cache::session::Session>>,
    /// Per plan plugin: its contract version, if it loaded.
    contracts: Vec<Option<String>>,
    /// What the step cache could not do, for the report's notes.
    cache_notes: Vec<String>,
}

/// What steps raised and published so far.
#[derive(Default)]
struct Published {
    emitted: HashSet<(usize, String)>,
    artifacts: HashMap<String, ArtifactRecord>,
    /// References in publication order.
    order: Vec<String>,
}

/// Where the scheduler's events arrive.
struct Inbox {
    /// Reports of the executor.
    reports_tx: mpsc::UnboundedSender<Report>,
    reports_rx: mpsc::UnboundedReceiver<Report>,
    /// Retry timers that fired (by step).
    retries_tx: mpsc::UnboundedSender<usize>,
    retries_rx: mpsc::UnboundedReceiver<usize>,
}

/// The run itself, for the report.
struct RunFacts {
    dir: RunDir,
    /// When it started (times in the report count from here), also as a
    /// Unix time.
    epoch: Instant,
    started_unix: f64,
    resumed_from: Option<String>,
    plugin_loads: Vec<PluginLoad>,
    host_start: crate::report::host_usage::HostSample,
}

impl Scheduler {
    /// A scheduler for `plan` that starts its attempts on `executor`; the
    /// journal is created, and the run's start and what it carries over
    /// from the run it resumes are recorded.
    pub(crate) fn new(
        plan: Arc<Plan>,
        executor: Arc<dyn Executor>,
        mut observer: Observer,
        setup: Setup,
    ) -> Result<Self, RunError> {
        let Setup {
            run,
            jobs,
            prio,
            selected,
            carried,
            resumed_from,
            secrets,
            workspaces,
            digests,
            plugin_loads,
            epoch,
            cache,
        } = setup;
        let contracts = plan
            .plugins
            .iter()
            .map(|p| plugin_loads.iter().find(|l| l.name == p.name).map(|l| l.contract.clone()))
            .collect();
        let (retries_tx, retries_rx) = mpsc::unbounded_channel();
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        let journal = Journal::create(&run.journal()).map_err(io(format!("create {}", run.journal().display())))?;
        let started_unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        journal.append(Record::Start {
            run: run.id.clone(),
            pipeline: plan.name.clone(),
            file: plan.file.display().to_string(),
            resumed_from: resumed_from.clone(),
            started_unix,
        });
        for load in &plugin_loads {
            observer(&UiEvent::PluginLoaded(load));
        }
        observer(&UiEvent::RunStarted {
            run_id: &run.id,
            steps: selected.iter().filter(|&&s| s).count(),
            jobs,
            log_dir: &run.logs(),
        });
        let pool_caps: Vec<usize> = plan.pools.iter().map(|p| p.capacity).collect();
        let mut sched = Self {
            dependents: plan.dependents(),
            steps: plan.steps.iter().map(|s| step_run::StepRun::new(s.deps.len())).collect(),
            instance_slots: Arc::new(Semaphore::new(executor.capacity().max(1))),
            job_slots: Arc::new(Semaphore::new(jobs.max(1))),
            executor,
            digests,
            prio,
            ready: ready::ReadyQueue::new(&pool_caps),
            jobs: jobs.max(1),
            in_flight: 0,
            backoffs: 0,
            finished: 0,
            freed: Vec::new(),
            wakeups: VecDeque::new(),
            waits: Vec::new(),
            published: Published::default(),
            ancestors: HashMap::new(),
            halted: None,
            cancelled: false,
            facts: RunFacts {
                dir: run,
                epoch,
                started_unix,
                resumed_from,
                plugin_loads,
                host_start: crate::report::host_usage::sample(),
            },
            secrets,
            inbox: Inbox { reports_tx, reports_rx, retries_tx, retries_rx },
            journal,
            observer,
            workspaces,
            cache,
            contracts,
            cache_notes: Vec::new(),
            plan,
        };
        sched.seed(&selected, carried);
        Ok(sched)
    }

    /// Seconds since the run started.
    fn now(&self) -> f64 {
        self.facts.epoch.elapsed().as_secs_f64()
    }

    async fn main_loop(&mut self, cancel: &mut watch::Receiver<bool>) {
        let n = self.steps.len();
        // One timer for the journal's hand-over, moved only when its
        // deadline changes (once per batch, not once per step).
        let flush_timer = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(flush_timer);
        let mut armed_for = None;
        loop {
            self.settle();
            if self.finished == n {
                break;
            }
            if self.in_flight == 0 && self.backoffs == 0 && self.wakeups.is_empty() {
                // Nothing can change any more; never hang.
                self.abandon_rest("could not be scheduled (baton bug: please report)");
                continue;
            }
            // Journal records go to the writer in batches, within 5 ms.
            self.journal.flush_due();
            let flush_at = self.journal.flush_deadline().map(tokio::time::Instant::from_std);
            if let Some(at) = flush_at
                && armed_for != Some(at)
            {
                flush_timer.as_mut().reset(at);
                armed_for = Some(at);
            }
            tokio::select! {
                biased;
                () = &mut flush_timer, if flush_at.is_some() => {
                    armed_for = None;
                    self.journal.flush();
                }
                Some(report) = self.inbox.reports_rx.recv() => {
                    self.on_report(report);
                    // Whatever else arrived meanwhile, before settling once.
                    while let Ok(report) = self.inbox.reports_rx.try_recv() {
                        self.on_report(report);
                    }
                }
                Some(step) = self.inbox.retries_rx.recv() => self.on_retry_due(step),
                changed = cancel.changed(), if !self.cancelled => {
                    if changed.is_err() || *cancel.borrow() {
                        self.on_cancel();
                    }
                }
            }
        }
    }

    /// Evaluates freed steps and starts what can start, until stable.
    fn settle(&mut self) {
        loop {
            self.drain_freed();
            if !self.dispatch() && self.freed.is_empty() {
                break;
            }
        }
    }
}
