//! `scheduler`: runs a plan's step graph.
//!
//! One task owns the state of every step (`Scheduler`) and reacts to events:
//! attempts ending, retry timers, requests from running stages (signals,
//! artifacts, progress) and cancellation. Ready steps start as soon as their
//! dependencies are done, up to `jobs` and their pool's capacity, highest
//! critical-path priority first. Failures follow each step's `on_failure`;
//! every status change is appended to the run journal, so `--resume` after a
//! crash redoes only what did not finish.
//!
//! Files: `dispatch` (starting attempts, their outcomes, retries),
//! `graph` (readiness, skips, halting), `requests` (what stages ask for),
//! `waits` (signal and artifact waits, deadlock detection), `ready`
//! (priority queue with pools), `priority` (critical path), `select`
//! (`--only`/`--skip`/`--from`), `resume`, `step_run` (per-step state).

mod dispatch;
mod graph;
mod outcome;
pub mod priority;
pub mod ready;
mod requests;
pub mod resume;
pub mod select;
pub mod step_run;
pub mod waits;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use crate::plan::Plan;
use crate::report::{PluginLoad, RunReport};
use crate::runtime::Runtime;
use crate::runtime::bindings::baton::stage::signals::SignalError;
use crate::runtime::context::RunServices;
use crate::runtime::invoke::AttemptOutcome;
use crate::runtime::plugin::LoadedPlugin;
use crate::runtime::preflight::{self, Preflight};
use crate::runtime::services::{ServiceHandle, ServiceRequest};
use crate::sandbox::confine::Confinement;
use crate::storage::artifacts::{ArtifactRecord, ArtifactStore};
use crate::storage::durations;
use crate::storage::journal::{Journal, Record};
use crate::storage::runs::{self, RunDir};

pub use select::Selection;
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
    RunStarted { run_id: &'a str, steps: usize, jobs: usize, log_dir: &'a std::path::Path },
    StepStarted { id: &'a str, attempt: u32 },
    StepFinished { id: &'a str, status: Status, seconds: Option<f64>, error: Option<&'a str>, forgiven: bool },
    StepRetrying { id: &'a str, next_attempt: u32, delay: std::time::Duration, error: &'a str },
    StepWaiting { id: &'a str, on: &'a [String] },
    StepResumed { id: &'a str },
    Progress { id: &'a str, done: u64, total: u64, message: &'a str },
    PluginCompiling { name: &'a str, size: u64, cached: bool },
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

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |error| RunError::Io { what, error }
}

/// Sleeps until `at` (forever if `None`; the branch is disabled then).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Events from attempt tasks and timers.
enum Event {
    Done { step: usize, attempt: u32, outcome: AttemptOutcome, tail: Vec<String> },
    RetryDue { step: usize },
}

/// Runs `plan`; `cancel` turning true cancels the run.
pub async fn run(
    plan: Arc<Plan>,
    runtime: Arc<Runtime>,
    opts: RunOptions,
    mut observer: Observer,
    mut cancel: watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    let selected = opts.selection.apply(&plan).map_err(RunError::Usage)?;
    let state_dir = plan.state_dir();
    let previous = if opts.resume {
        Some(runs::find(&state_dir, None).ok_or_else(|| {
            RunError::Usage(format!("--resume: no earlier run of this pipeline under {}", state_dir.display()))
        })?)
    } else {
        None
    };
    if let Some(prev) = &previous
        && crate::storage::journal::in_use(&prev.journal())
    {
        return Err(RunError::Usage(format!(
            "--resume: run {} is still going (its workspaces are in use); wait for it to end or cancel it",
            prev.id
        )));
    }
    // Before anything is created: a missing secret is the user's to fix.
    let secrets = crate::sandbox::secrets::resolve(&plan, &selected).map_err(|errors| {
        RunError::Usage(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nerror: "))
    })?;
    let t0 = std::time::Instant::now();
    // Pre-flight: every plugin loaded and every step checked, or nothing starts.
    // A plugin that compiles says so: that takes seconds for big ones.
    let mut notice = |name: &str, c: crate::runtime::plugin::Compiling| {
        observer(&UiEvent::PluginCompiling { name, size: c.size, cached: c.cached });
    };
    let checked = preflight::check(&runtime, &plan, Some(&selected), &mut notice).await;
    if !checked.errors.is_empty() {
        return Err(RunError::Preflight(checked.errors));
    }
    let run = runs::create(&state_dir).map_err(io(format!("create a run directory under {}", state_dir.display())))?;
    let setup = Setup { run, selected: &selected, previous: previous.as_ref(), checked, secrets };
    let mut sched = Scheduler::new(plan, &runtime, opts, observer, setup).await?;
    let t1 = std::time::Instant::now();
    sched.main_loop(&mut cancel).await;
    let t2 = std::time::Instant::now();
    if std::env::var_os(crate::env_vars::TIMING).is_some() {
        eprintln!("baton timing: set-up (plugins, workspaces, journal): {:.1}ms", (t1 - t0).as_secs_f64() * 1e3);
        eprintln!("baton timing: steps: {:.1}ms", (t2 - t1).as_secs_f64() * 1e3);
    }
    // Processes were killed with their steps; let their supervisors read the
    // last output and close the pipes before the report samples the host.
    crate::runtime::host::process::supervisors_done(std::time::Duration::from_secs(3)).await;
    Ok(sched.finish_run())
}

/// What a run starts from: its directory, the steps taking part, the run it
/// resumes, and what pre-flight loaded.
struct Setup<'a> {
    run: RunDir,
    selected: &'a [bool],
    previous: Option<&'a RunDir>,
    checked: Preflight,
    secrets: crate::text::Secrets,
}

pub(crate) struct Scheduler {
    plan: Arc<Plan>,
    engine: wasmtime::Engine,
    /// Per plan plugin: loaded, or why not (steps using it fail).
    plugins: Vec<Option<Result<Arc<LoadedPlugin>, String>>>,
    steps: Vec<step_run::StepRun>,
    dependents: Vec<Vec<usize>>,
    prio: Vec<u64>,
    ready: ready::ReadyQueue,
    jobs: usize,
    /// Steps holding a job slot.
    active: usize,
    /// Attempt tasks in flight.
    in_flight: usize,
    /// Stages instantiated (running or waiting), and the most there may be.
    live: usize,
    max_live: usize,
    /// Steps waiting for a retry timer.
    backoffs: usize,
    finished: usize,
    /// Steps whose dependencies all finished, to evaluate.
    freed: Vec<usize>,
    /// Wait replies to deliver once their step has a job slot again.
    wakeups: VecDeque<(usize, waits::Reply, Result<(), SignalError>)>,
    waits: Vec<waits::PendingWait>,
    emitted: HashSet<(usize, String)>,
    artifacts: HashMap<String, ArtifactRecord>,
    artifact_order: Vec<String>,
    /// Lazily computed transitive dependencies, for untrusted artifact reads.
    ancestors: HashMap<usize, HashSet<usize>>,
    halted: Option<String>,
    cancelled: bool,
    epoch: Instant,
    started_unix: f64,
    run: RunDir,
    resumed_from: Option<String>,
    services: Arc<RunServices>,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    requests_rx: mpsc::UnboundedReceiver<ServiceRequest>,
    journal: Journal,
    observer: Observer,
    workspaces: Vec<PathBuf>,
    /// The pipeline's directory, offered read-only at `/src`.
    src: Option<crate::runtime::host::src_view::SourceDir>,
    plugin_loads: Vec<PluginLoad>,
    host_start: crate::report::host_usage::HostSample,
}

impl Scheduler {
    // One caller, `run`, which prepares each of these before the run starts.
    #[allow(clippy::too_many_arguments)]
    async fn new(
        plan: Arc<Plan>,
        runtime: &Arc<Runtime>,
        opts: RunOptions,
        observer: Observer,
        setup: Setup<'_>,
    ) -> Result<Self, RunError> {
        let Setup { run, selected, previous, checked, secrets } = setup;
        let n = plan.steps.len();
        let state_dir = plan.state_dir();
        let jobs = opts.jobs.unwrap_or(plan.jobs).max(1);

        // Workspaces of the boards that take part: empty for a new run, the
        // resumed run's for `--resume`.
        if let Some(prev) = previous {
            run.adopt_workspaces(prev).map_err(io(format!(
                "take over the workspaces of run {} ({})",
                prev.id,
                prev.workspaces().display()
            )))?;
        }
        let workspaces: Vec<PathBuf> = plan.boards.iter().map(|b| run.workspace_of(b)).collect();
        for (b, ws) in workspaces.iter().enumerate() {
            if (0..n).any(|i| selected[i] && plan.steps[i].board == b) {
                std::fs::create_dir_all(ws).map_err(io(format!("create workspace {}", ws.display())))?;
            }
        }

        // Pre-flight loaded the plugins that selected steps use.
        let plugins: Vec<Option<Result<Arc<LoadedPlugin>, String>>> =
            checked.plugins.into_iter().map(|p| p.map(Ok)).collect();
        let loads = checked.loads;

        let history = durations::load(&state_dir);
        let prio = match opts.priority {
            Priority::CriticalPath => priority::priorities(&plan, &priority::estimates(&plan, &history)),
            Priority::List => (0..n).map(|i| (n - i) as u64).collect(),
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (requests_tx, requests_rx) = mpsc::unbounded_channel();
        let services = Arc::new(RunServices {
            run_id: run.id.clone(),
            requests: ServiceHandle::new(requests_tx),
            store: ArtifactStore::new(state_dir.join("store")),
            confinement: Confinement::detect(),
            secrets,
        });
        let journal = Journal::create(&run.journal()).map_err(io(format!("create {}", run.journal().display())))?;
        let started_unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        journal.append(Record::Start {
            run: run.id.clone(),
            pipeline: plan.name.clone(),
            file: plan.file.display().to_string(),
            resumed_from: previous.map(|p| p.id.clone()),
            started_unix,
        });
        let pool_caps: Vec<usize> = plan.pools.iter().map(|p| p.capacity).collect();
        let steps = plan.steps.iter().map(|s| step_run::StepRun::new(s.deps.len())).collect();
        let mut sched = Self {
            dependents: plan.dependents(),
            engine: runtime.engine.clone(),
            plugins,
            steps,
            prio,
            ready: ready::ReadyQueue::new(&pool_caps),
            jobs,
            active: 0,
            in_flight: 0,
            live: 0,
            max_live: runtime.max_stages,
            backoffs: 0,
            finished: 0,
            freed: Vec::new(),
            wakeups: VecDeque::new(),
            waits: Vec::new(),
            emitted: HashSet::new(),
            artifacts: HashMap::new(),
            artifact_order: Vec::new(),
            ancestors: HashMap::new(),
            halted: None,
            cancelled: false,
            epoch: Instant::now(),
            started_unix,
            resumed_from: previous.map(|p| p.id.clone()),
            run,
            services,
            events_tx,
            events_rx,
            requests_rx,
            journal,
            observer,
            workspaces,
            src: crate::runtime::host::src_view::SourceDir::new(&plan.dir),
            plugin_loads: loads,
            host_start: crate::report::host_usage::sample(),
            plan,
        };
        for load in &sched.plugin_loads {
            (sched.observer)(&UiEvent::PluginLoaded(load));
        }
        (sched.observer)(&UiEvent::RunStarted {
            run_id: &sched.run.id,
            steps: selected.iter().filter(|&&s| s).count(),
            jobs,
            log_dir: &sched.run.logs(),
        });
        let done_before = match previous {
            Some(prev) => resume::previously_done(&sched.plan, prev, &sched.plugin_digests())
                .map_err(io(format!("read the journal of run {}", prev.id)))?,
            None => resume::Carried::default(),
        };
        sched.seed(selected, done_before);
        Ok(sched)
    }

    /// Plugin digest per step (`None` for sync points or unloadable plugins).
    fn plugin_digests(&self) -> Vec<Option<String>> {
        self.plan
            .steps
            .iter()
            .map(|s| {
                s.plugin.and_then(|p| match &self.plugins[p] {
                    Some(Ok(l)) => Some(l.digest.clone()),
                    _ => None,
                })
            })
            .collect()
    }

    /// Seconds since the run started.
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    async fn main_loop(&mut self, cancel: &mut watch::Receiver<bool>) {
        let n = self.steps.len();
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
            tokio::select! {
                biased;
                () = sleep_until(flush_at), if flush_at.is_some() => self.journal.flush(),
                Some(ev) = self.events_rx.recv() => self.on_event(ev),
                Some(req) = self.requests_rx.recv() => self.on_request(req),
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
