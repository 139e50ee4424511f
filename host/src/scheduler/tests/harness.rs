//! A fluent harness: `Pipeline::new(steps).script("l.a", ..).run().await`
//! runs the scheduler on a scripted executor and returns the report and a
//! trace of `"<ms> <what>"` lines in virtual time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::executor::{Attempt, AttemptOutcome, Executor, FailureKind, Reporter, Request};
use crate::plan::Plan;
use crate::report::{RunReport, StepReport};
use crate::scheduler::{Scheduler, Setup, resume};
use crate::status::StepStatus;
use crate::storage::artifacts::{ArtifactRecord, Kind};
use crate::storage::runs::RunDir;

/// One thing an attempt does.
#[derive(Debug, Clone)]
pub enum Act {
    /// Runs for this many virtual milliseconds.
    Sleep(u64),
    Emit(&'static str),
    Wait(&'static [&'static str]),
    /// Publishes an artifact of this name.
    Put(&'static str),
    /// Fetches an artifact (waiting for a pending producer).
    Get(&'static str),
    /// Ends the attempt failed.
    Fail(FailureKind, &'static str),
}

/// The trace shared by the executor's attempts.
#[derive(Clone)]
struct Trace {
    t0: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Trace {
    fn note(&self, what: impl AsRef<str>) {
        let ms = self.t0.elapsed().as_millis();
        self.lines.lock().expect("trace").push(format!("{ms} {}", what.as_ref()));
    }
}

/// Per step id: the script of each attempt (the last one repeats).
type Scripts = HashMap<String, Vec<Vec<Act>>>;

struct Scripted {
    plan: Arc<Plan>,
    scripts: Scripts,
    capacity: usize,
    trace: Trace,
}

impl Executor for Scripted {
    fn capacity(&self) -> usize {
        self.capacity
    }

    fn start(&self, attempt: Attempt, reporter: Reporter, cancel: oneshot::Receiver<()>) {
        let id = self.plan.steps[attempt.step].id.clone();
        let n = attempt.number;
        let acts = self.scripts.get(&id).and_then(|s| s.get(n as usize - 1).or(s.last())).cloned().unwrap_or_default();
        let trace = self.trace.clone();
        trace.note(format!("{id}#{n} start"));
        tokio::spawn(async move {
            let outcome = tokio::select! {
                o = play(&id, acts, &reporter, &trace) => o,
                _ = cancel => AttemptOutcome::Cancelled,
            };
            let word = match &outcome {
                AttemptOutcome::Succeeded => "ok".to_string(),
                AttemptOutcome::Cancelled => "cancelled".to_string(),
                AttemptOutcome::Failed { message, .. } => format!("failed: {message}"),
            };
            trace.note(format!("{id}#{n} {word}"));
            reporter.ended(outcome, Vec::new());
        });
    }
}

async fn play(id: &str, acts: Vec<Act>, reporter: &Reporter, trace: &Trace) -> AttemptOutcome {
    for act in acts {
        match act {
            Act::Sleep(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
            Act::Emit(name) => {
                let r = reporter.ask(|reply| Request::Emit { name: name.into(), reply }).await;
                if let Some(Err(e)) = r {
                    trace.note(format!("{id} emit failed: {e}"));
                }
            }
            Act::Wait(names) => {
                let names = names.iter().map(|s| s.to_string()).collect();
                match reporter.ask(|reply| Request::Wait { names, reply }).await {
                    Some(Ok(())) => trace.note(format!("{id} wait over")),
                    Some(Err(e)) => trace.note(format!("{id} wait failed: {e}")),
                    None => trace.note(format!("{id} wait unanswered")),
                }
            }
            Act::Put(name) => {
                let record = ArtifactRecord {
                    reference: format!("{id}/{name}"),
                    step: id.into(),
                    name: name.into(),
                    digest: format!("sha256:{name}"),
                    size: 1,
                    kind: Kind::File,
                };
                if let Some(Err(e)) = reporter.ask(|reply| Request::Publish { record, reply }).await {
                    trace.note(format!("{id} put failed: {e}"));
                }
            }
            Act::Get(reference) => {
                match reporter.ask(|reply| Request::Lookup { reference: reference.into(), reply }).await {
                    Some(Ok(r)) => trace.note(format!("{id} got {}", r.reference)),
                    Some(Err(e)) => trace.note(format!("{id} get failed: {e}")),
                    None => trace.note(format!("{id} get unanswered")),
                }
            }
            Act::Fail(kind, message) => return AttemptOutcome::failed(kind, message),
        }
    }
    AttemptOutcome::Succeeded
}

/// A pipeline to run on the scripted executor.
pub struct Pipeline {
    toml: String,
    scripts: Scripts,
    jobs: usize,
    capacity: usize,
    cancel_at: Option<u64>,
    carried: resume::Carried,
}

impl Pipeline {
    /// `steps`: the boards, steps and pools of a pipeline file; every step
    /// written with `plugin = "s"` runs on the scripted executor.
    pub fn new(steps: &str) -> Self {
        Self {
            toml: format!("[plugins]\ns = \"s.wasm\"\n{steps}"),
            scripts: HashMap::new(),
            jobs: 4,
            capacity: 100,
            cancel_at: None,
            carried: resume::Carried::default(),
        }
    }

    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs;
        self
    }

    /// What attempt `attempt` (1, 2, …) of `step` does (replacing what was
    /// scripted for it and later attempts); the last attempt scripted is
    /// what any later attempt does. Unscripted: succeed at once.
    pub fn script(mut self, step: &str, attempt: u32, acts: &[Act]) -> Self {
        let all = self.scripts.entry(step.into()).or_default();
        let at = attempt as usize - 1;
        assert!(at <= all.len(), "script the attempts of {step} in order");
        all.truncate(at);
        all.push(acts.to_vec());
        self
    }

    /// How many attempts the executor may have alive at once.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Cancels the run (as Ctrl-C does) after `ms` virtual milliseconds.
    pub fn cancel_at(mut self, ms: u64) -> Self {
        self.cancel_at = Some(ms);
        self
    }

    /// Resumes a run that did what `carried` says.
    pub fn resuming(mut self, carried: resume::Carried) -> Self {
        self.carried = carried;
        self
    }

    pub fn plan(&self) -> Plan {
        Plan::parse(&self.toml, std::path::Path::new("/nowhere/baton.toml")).expect("valid pipeline")
    }

    pub async fn run(self) -> Ran {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("baton.toml");
        let plan = Arc::new(Plan::parse(&self.toml, &file).expect("valid pipeline"));
        let run = RunDir { id: "test".into(), path: dir.path().join("run") };
        std::fs::create_dir_all(run.logs()).expect("run dir");
        let trace = Trace { t0: Instant::now(), lines: Default::default() };
        let executor = Arc::new(Scripted {
            plan: plan.clone(),
            scripts: self.scripts,
            capacity: self.capacity,
            trace: trace.clone(),
        });
        let n = plan.steps.len();
        let setup = Setup {
            jobs: self.jobs,
            prio: (0..n).map(|i| (n - i) as u64).collect(),
            selected: vec![true; n],
            carried: self.carried,
            resumed_from: None,
            secrets: Default::default(),
            workspaces: plan.boards.iter().map(|b| run.workspace_of(b)).collect(),
            digests: plan.plugins.iter().map(|_| Some("sha256:plugin".to_string())).collect(),
            plugin_loads: Vec::new(),
            epoch: std::time::Instant::now(),
            cache: None,
            run,
        };
        let mut sched = Scheduler::new(plan, executor, Box::new(|_| {}), setup).expect("scheduler");
        let (cancel_tx, mut cancel) = watch::channel(false);
        // Held to the end: a dropped sender cancels the run too.
        let cancel_tx = Arc::new(cancel_tx);
        if let Some(ms) = self.cancel_at {
            let (trace, cancel_tx) = (trace.clone(), cancel_tx.clone());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                trace.note("cancel");
                let _ = cancel_tx.send(true);
            });
        }
        sched.main_loop(&mut cancel).await;
        drop(cancel_tx);
        let report = sched.finish_run();
        let lines = trace.lines.lock().expect("trace").clone();
        Ran { report, trace: lines, _dir: dir }
    }
}

/// What a run did.
pub struct Ran {
    pub report: RunReport,
    pub trace: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Ran {
    #[track_caller]
    pub fn step(&self, id: &str) -> &StepReport {
        self.report.steps.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no step {id}"))
    }

    /// `(outcome, error)` of a step.
    #[track_caller]
    pub fn outcome(&self, id: &str) -> (StepStatus, Option<&str>) {
        let s = self.step(id);
        (s.outcome(), s.error.as_deref())
    }
}
