//! A run as the live view shows it, rebuilt from what the run leaves on
//! disk: the step list from `report.json` once the run ended (complete and
//! final), otherwise from the pipeline file the journal names; each step's
//! state from the journal, replayed record by record. The same replay feeds
//! the page and its event stream, so that both always agree.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::plan::Plan;
use crate::report::RunReport;
use crate::status::StepStatus;
use crate::storage::artifacts::ArtifactRecord;
use crate::storage::journal::{self, Record};
use crate::storage::run_info::RunState;
use crate::storage::runs::RunDir;

/// Where a step is.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Some dependency has not succeeded yet.
    WaitingDeps,
    /// Its dependencies are done: it waits for a job slot or its pool.
    Queued,
    /// An attempt runs since `since` (seconds after the run started).
    Running {
        since: f64,
    },
    /// Blocked inside its stage on signals, steps or artifacts.
    Waiting {
        on: Vec<String>,
        since: f64,
    },
    Done {
        status: StepStatus,
        at: f64,
    },
}

impl State {
    /// The CSS class and the word the grid shows.
    pub fn class(&self) -> &'static str {
        match self {
            State::WaitingDeps => "deps",
            State::Queued => "queued",
            State::Running { .. } => "running",
            State::Waiting { .. } => "waiting",
            State::Done { status, .. } => status.as_str(),
        }
    }

    pub fn label(&self) -> String {
        match self {
            State::WaitingDeps => "waiting on deps".into(),
            State::Queued => "queued".into(),
            State::Running { .. } => "running".into(),
            State::Waiting { on, .. } => format!("waiting on {}", on.join(", ")),
            State::Done { status, .. } => status.label().into(),
        }
    }
}

/// One step of the grid.
#[derive(Debug, Clone)]
pub struct StepView {
    pub id: String,
    pub board: String,
    pub name: String,
    pub deps: Vec<String>,
    pub state: State,
    pub attempt: u32,
    pub error: Option<String>,
}

/// One run, at the journal record `seq`.
#[derive(Debug, Clone)]
pub struct RunView {
    pub id: String,
    pub pipeline: String,
    pub started_unix: Option<f64>,
    pub status: RunState,
    pub duration: Option<f64>,
    /// The run's job slots, when known (from the report or the pipeline file).
    pub jobs: Option<usize>,
    /// The latest time a record carries, in seconds since the start.
    pub last_at: f64,
    pub steps: Vec<StepView>,
    pub artifacts: Vec<ArtifactRecord>,
    /// Workers that ran attempts (a cluster run), from the report.
    pub workers: Vec<String>,
    /// Whether the step list is complete (false: some steps are only known
    /// once the journal names them).
    pub complete: bool,
    /// Records applied so far: the event id of the stream.
    pub seq: u64,
    /// Journal bytes read so far (complete lines only).
    pub offset: u64,
    /// Stop replaying after this many records (a stream resuming from an
    /// earlier event id first rebuilds the view its client had).
    stop_at: u64,
    /// The pipeline file the journal names, until its plan is adopted.
    file: Option<String>,
    index: HashMap<String, usize>,
}

impl RunView {
    /// The run as it stands now.
    pub fn load(run: &RunDir) -> std::io::Result<RunView> {
        Self::load_until(run, u64::MAX)
    }

    /// The run as it stood after `seq` journal records.
    pub fn load_until(run: &RunDir, seq: u64) -> std::io::Result<RunView> {
        let live = journal::in_use(&run.journal());
        let report: Option<RunReport> = std::fs::read(run.report()).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let mut view = RunView {
            id: run.id.clone(),
            pipeline: String::new(),
            started_unix: None,
            status: if live { RunState::Running } else { RunState::Interrupted },
            duration: None,
            jobs: None,
            last_at: 0.0,
            steps: Vec::new(),
            artifacts: Vec::new(),
            workers: Vec::new(),
            complete: false,
            seq: 0,
            offset: 0,
            stop_at: seq,
            file: None,
            index: HashMap::new(),
        };
        if let Some(r) = &report {
            view.jobs = Some(r.jobs);
            view.complete = true;
            for s in &r.steps {
                let name = s.id.strip_prefix(&format!("{}.", s.board)).unwrap_or(&s.id).to_string();
                view.push(StepView {
                    id: s.id.clone(),
                    board: s.board.clone(),
                    name,
                    deps: s.deps.clone(),
                    state: State::WaitingDeps,
                    attempt: 0,
                    error: None,
                });
                for a in &s.attempts {
                    if let Some(w) = &a.worker
                        && !view.workers.contains(w)
                    {
                        view.workers.push(w.clone());
                    }
                }
            }
        }
        view.poll(run)?;
        if report.is_none()
            && let Some(file) = view.file.take()
            && let Ok(plan) = Plan::load(Path::new(&file))
        {
            view.adopt_plan(&plan);
        }
        view.refresh_queued();
        view.stop_at = u64::MAX;
        Ok(view)
    }

    /// Reads the journal records written since the last call and applies
    /// them; returns the indices of the steps whose state changed.
    pub fn poll(&mut self, run: &RunDir) -> std::io::Result<Vec<usize>> {
        let mut f = std::fs::File::open(run.journal())?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let mut changed = Vec::new();
        for line in buf[..end].split(|&b| b == b'\n') {
            if self.seq >= self.stop_at {
                break;
            }
            // A torn line ends what can be trusted (as `journal::read`).
            let Ok(record) = serde_json::from_slice::<Record>(line) else {
                self.offset = u64::MAX;
                break;
            };
            self.offset += line.len() as u64 + 1;
            self.seq += 1;
            changed.extend(self.apply(record));
        }
        if !changed.is_empty() {
            changed.extend(self.refresh_queued());
            changed.sort_unstable();
            changed.dedup();
        }
        Ok(changed)
    }

    /// Whether the run is still going, asked again (its process may be
    /// gone); steps that changed meanwhile are added to `changed`.
    pub fn recheck_live(&mut self, run: &RunDir, changed: &mut Vec<usize>) -> bool {
        if self.status == RunState::Running && !journal::in_use(&run.journal()) {
            // Read what it wrote last before deciding it was interrupted.
            changed.extend(self.poll(run).unwrap_or_default());
            if self.status == RunState::Running {
                self.status = RunState::Interrupted;
            }
        }
        self.status == RunState::Running
    }

    fn push(&mut self, s: StepView) -> usize {
        let i = self.steps.len();
        self.index.insert(s.id.clone(), i);
        self.steps.push(s);
        i
    }

    /// The step `id`, added (with unknown dependencies) if the list did not have it.
    fn step_index(&mut self, id: &str) -> usize {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let (board, name) = id.split_once('.').unwrap_or(("", id));
        self.push(StepView {
            id: id.to_string(),
            board: board.to_string(),
            name: name.to_string(),
            deps: Vec::new(),
            state: State::WaitingDeps,
            attempt: 0,
            error: None,
        })
    }

    pub fn step(&self, id: &str) -> Option<&StepView> {
        self.index.get(id).map(|&i| &self.steps[i])
    }

    fn adopt_plan(&mut self, plan: &Plan) {
        self.jobs = Some(plan.jobs);
        self.complete = true;
        let mut known: Vec<StepView> = std::mem::take(&mut self.steps);
        self.index.clear();
        for s in &plan.steps {
            let state = known.iter().position(|k| k.id == s.id).map(|i| known.remove(i));
            let deps = s.deps.iter().map(|&d| plan.steps[d].id.clone()).collect();
            let board = plan.boards.get(s.board).cloned().unwrap_or_default();
            let mut v = state.unwrap_or(StepView {
                id: s.id.clone(),
                board: board.clone(),
                name: s.name.clone(),
                deps: Vec::new(),
                state: State::WaitingDeps,
                attempt: 0,
                error: None,
            });
            v.deps = deps;
            v.board = board;
            v.name = s.name.clone();
            self.push(v);
        }
        for k in known {
            self.push(k);
        }
    }

    fn apply(&mut self, record: Record) -> Vec<usize> {
        match record {
            Record::Start { pipeline, started_unix, file, .. } => {
                self.pipeline = pipeline;
                self.started_unix = Some(started_unix);
                self.file = Some(file);
                Vec::new()
            }
            Record::Attempt { step, attempt, at } => {
                self.seen(at);
                let i = self.step_index(&step);
                let s = &mut self.steps[i];
                s.attempt = attempt;
                s.state = State::Running { since: at };
                vec![i]
            }
            Record::Wait { step, on, at } => {
                self.seen(at);
                let i = self.step_index(&step);
                self.steps[i].state = State::Waiting { on, since: at };
                vec![i]
            }
            Record::Resume { step, at } => {
                self.seen(at);
                let i = self.step_index(&step);
                let since = match &self.steps[i].state {
                    State::Waiting { .. } => at,
                    _ => return Vec::new(),
                };
                self.steps[i].state = State::Running { since };
                vec![i]
            }
            Record::Finish { step, status, at, error, .. } => {
                self.seen(at);
                let i = self.step_index(&step);
                let s = &mut self.steps[i];
                s.state = State::Done { status, at };
                s.error = error;
                vec![i]
            }
            Record::Artifact { record } => {
                self.artifacts.retain(|a| a.reference != record.reference);
                self.artifacts.push(record);
                Vec::new()
            }
            // Its `Finish` follows, with the cached status.
            Record::Signal { .. } | Record::Cached { .. } => Vec::new(),
            Record::End { status, duration } => {
                self.status = RunState::Ended(status);
                self.duration = Some(duration);
                self.seen(duration);
                Vec::new()
            }
        }
    }

    fn seen(&mut self, at: f64) {
        if at.is_finite() && at > self.last_at {
            self.last_at = at;
        }
    }

    /// Steps not started move between "waiting on deps" and "queued" as
    /// their dependencies succeed; returns those that moved.
    fn refresh_queued(&mut self) -> Vec<usize> {
        let mut changed = Vec::new();
        let over = self.status != RunState::Running;
        for i in 0..self.steps.len() {
            if !matches!(self.steps[i].state, State::WaitingDeps | State::Queued) || over {
                continue;
            }
            let ready = self.steps[i].deps.iter().all(|d| {
                self.index
                    .get(d)
                    .is_some_and(|&j| matches!(self.steps[j].state, State::Done { status, .. } if status.passed()))
            });
            let state = if ready { State::Queued } else { State::WaitingDeps };
            if state != self.steps[i].state {
                self.steps[i].state = state;
                changed.push(i);
            }
        }
        changed
    }

    /// Steps that run now (holding or waiting for a job slot).
    pub fn running(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s.state, State::Running { .. })).count()
    }

    /// Count of steps per state class, in the grid's order.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut out: Vec<(&'static str, usize)> = Vec::new();
        for s in &self.steps {
            let c = s.state.class();
            match out.iter_mut().find(|(k, _)| *k == c) {
                Some((_, n)) => *n += 1,
                None => out.push((c, 1)),
            }
        }
        out
    }

    /// Boards in the order their first step appears.
    pub fn boards(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in &self.steps {
            if !out.contains(&s.board.as_str()) {
                out.push(&s.board);
            }
        }
        out
    }
}
