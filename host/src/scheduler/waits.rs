//! Waits inside running stages: on signals (`emit`/`wait`), on another
//! step's completion, and on artifacts a pending producer will publish.
//!
//! A waiting step gives its job slot back while it waits and gets one again
//! (before any new step starts) when the wait is over. A wait that can never
//! be satisfied fails instead of hanging: an undeclared name fails at once;
//! a producer that finished without raising/publishing fails the wait; and
//! when no step that could satisfy a wait can make progress (they all wait,
//! directly or not, on each other), the waits in that cycle fail with a
//! message naming it.

use std::collections::HashSet;

use tokio::sync::oneshot;

use crate::executor::{ArtifactError, SignalError};
use crate::plan::Plan;
use crate::scheduler::step_run::{Status, StepRun};
use crate::status::StepStatus;
use crate::storage::artifacts::ArtifactRecord;

/// One thing a wait needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `board.step/name` raised by `step`.
    Signal { step: usize, name: String },
    /// `step` succeeded.
    Completion(usize),
    /// `step` published artifact `name`.
    Artifact { step: usize, name: String },
}

impl Target {
    /// The step that can satisfy it.
    pub fn provider(&self) -> usize {
        match self {
            Target::Signal { step, .. } | Target::Artifact { step, .. } | Target::Completion(step) => *step,
        }
    }

    pub fn describe(&self, plan: &Plan) -> String {
        match self {
            Target::Signal { step, name } => format!("signal {}/{name}", plan.steps[*step].id),
            Target::Completion(step) => format!("step {}", plan.steps[*step].id),
            Target::Artifact { step, name } => format!("artifact {}/{name}", plan.steps[*step].id),
        }
    }
}

/// Where a wait's answer goes.
pub enum Reply {
    Signal(oneshot::Sender<Result<(), SignalError>>),
    Artifact { reply: oneshot::Sender<Result<ArtifactRecord, ArtifactError>>, reference: String },
}

/// A wait not yet over.
pub struct PendingWait {
    pub step: usize,
    /// Targets not yet satisfied.
    pub open: Vec<Target>,
    pub reply: Reply,
}

/// How a target stands.
pub enum TargetState {
    Satisfied,
    Open,
    /// It can never be satisfied; the message says why.
    Never(String),
}

/// Resolves the names of a `wait` call made by `step`.
pub fn resolve_names(plan: &Plan, step: usize, names: &[String]) -> Result<Vec<Target>, SignalError> {
    let me = &plan.steps[step];
    let mut out = Vec::new();
    for name in names {
        let target = if let Some((sid, sig)) = name.split_once('/') {
            let Some(s) = plan.step_index(sid) else {
                return Err(SignalError::Undeclared(format!("`{name}`: there is no step {sid}")));
            };
            if !plan.steps[s].emits.iter().any(|e| e == sig) {
                return Err(SignalError::Undeclared(format!(
                    "`{name}`: step {sid} does not declare signal `{sig}` in `emits`"
                )));
            }
            Target::Signal { step: s, name: sig.to_string() }
        } else if name.contains('.') {
            match plan.step_index(name) {
                Some(s) => Target::Completion(s),
                None => {
                    return Err(SignalError::Undeclared(format!("`{name}`: there is no step {name}")));
                }
            }
        } else {
            let declaring: Vec<usize> =
                (0..plan.steps.len()).filter(|&i| plan.steps[i].emits.iter().any(|e| e == name)).collect();
            let same_board: Vec<usize> =
                declaring.iter().copied().filter(|&i| plan.steps[i].board == me.board).collect();
            let pick = if same_board.len() == 1 { same_board } else { declaring };
            match pick.as_slice() {
                [s] => Target::Signal { step: *s, name: name.clone() },
                [] => {
                    return Err(SignalError::Undeclared(format!("no step declares signal `{name}` in `emits`")));
                }
                many => {
                    let ids: Vec<&str> = many.iter().map(|&i| plan.steps[i].id.as_str()).collect();
                    return Err(SignalError::Undeclared(format!(
                        "signal `{name}` is declared by {}; name one as board.step/{name}",
                        ids.join(", ")
                    )));
                }
            }
        };
        if target.provider() == step {
            return Err(SignalError::Deadlock(format!("step {} would wait on itself ({name})", me.id)));
        }
        out.push(target);
    }
    Ok(out)
}

/// How `t` stands given the steps' states, raised signals and published artifacts.
pub fn target_state(
    plan: &Plan,
    steps: &[StepRun],
    emitted: &HashSet<(usize, String)>,
    published: &dyn Fn(usize, &str) -> bool,
    t: &Target,
) -> TargetState {
    let p = t.provider();
    let id = &plan.steps[p].id;
    let st = &steps[p];
    match t {
        Target::Signal { step, name } => {
            if emitted.contains(&(*step, name.clone())) {
                TargetState::Satisfied
            } else if st.status.finished() {
                TargetState::Never(format!("{id} finished ({}) without emitting `{name}`", word(st)))
            } else {
                TargetState::Open
            }
        }
        Target::Completion(_) => match st.status {
            _ if st.satisfies() => TargetState::Satisfied,
            s if s.finished() => TargetState::Never(format!("{id} {}", word(st))),
            _ => TargetState::Open,
        },
        Target::Artifact { step, name } => {
            if published(*step, name) {
                TargetState::Satisfied
            } else if st.status.finished() {
                TargetState::Never(format!("{id} {} without publishing `{name}`", finished_word(st)))
            } else {
                TargetState::Open
            }
        }
    }
}

fn word(st: &StepRun) -> &'static str {
    match st.status {
        Status::Done(StepStatus::Failed) => "failed",
        Status::Done(StepStatus::Skipped) => "was skipped",
        Status::Done(StepStatus::Cancelled) => "was cancelled",
        Status::Done(StepStatus::Excluded) => "was left out of this run",
        _ => "succeeded",
    }
}

fn finished_word(st: &StepRun) -> &'static str {
    match st.status {
        Status::Done(StepStatus::Failed) => "failed",
        Status::Done(StepStatus::Skipped) => "was skipped",
        Status::Done(StepStatus::Cancelled) => "was cancelled",
        Status::Done(StepStatus::Excluded) => "was left out of this run",
        _ => "finished",
    }
}

/// Finds waits that can never end because nothing that could satisfy them
/// can make progress. Returns `(wait index, message)` for each.
///
/// A step is *live* if it runs unblocked, is ready or backing off (it will
/// run), is pending with every unfinished dependency live, or waits with the
/// provider of every open target live. Pools are counted: a ready step whose
/// pool is full is live only if some holder of that pool is live. Whatever
/// is not live once this settles is deadlocked.
pub fn deadlocked(
    plan: &Plan,
    steps: &[StepRun],
    waits: &[PendingWait],
    pool_free: &dyn Fn(usize) -> usize,
    instances_full: bool,
) -> Vec<(usize, String)> {
    let n = steps.len();
    let mut blocked_on: Vec<Option<usize>> = vec![None; n];
    for (w, pw) in waits.iter().enumerate() {
        blocked_on[pw.step] = Some(w);
    }
    // requirement groups per step: the step is live once every group has a live member.
    let mut groups: Vec<Vec<Vec<usize>>> = vec![Vec::new(); n];
    let mut live = vec![false; n];
    let mut queue = Vec::new();
    for i in 0..n {
        let st = &steps[i];
        match st.status {
            s if s.finished() => continue,
            Status::Running => match blocked_on[i] {
                None => live[i] = true,
                Some(w) => {
                    for t in &waits[w].open {
                        groups[i].push(vec![t.provider()]);
                    }
                }
            },
            Status::Backoff => live[i] = true,
            Status::Ready => {
                if let Some(p) = plan.steps[i].pool
                    && pool_free(p) == 0
                {
                    let holders: Vec<usize> =
                        (0..n).filter(|&h| steps[h].pool.is_some() && plan.steps[h].pool == Some(p)).collect();
                    groups[i].push(holders);
                }
                if instances_full {
                    // Every stage instance is taken: one of them must end first.
                    groups[i].push((0..n).filter(|&h| steps[h].instance.is_some()).collect());
                }
                if groups[i].is_empty() {
                    live[i] = true;
                }
            }
            Status::Pending => {
                for &d in &plan.steps[i].deps {
                    if !steps[d].status.finished() {
                        groups[i].push(vec![d]);
                    }
                }
            }
            _ => live[i] = true,
        }
        if !live[i] && groups[i].is_empty() {
            live[i] = true;
        }
        if live[i] {
            queue.push(i);
        }
    }
    // x -> (step, group) pairs that x's liveness satisfies.
    let mut watchers: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    let mut missing: Vec<usize> = vec![0; n];
    for i in 0..n {
        missing[i] = groups[i].len();
        for (g, members) in groups[i].iter().enumerate() {
            for &m in members {
                watchers[m].push((i, g));
            }
        }
    }
    let mut done_group: Vec<Vec<bool>> = groups.iter().map(|g| vec![false; g.len()]).collect();
    while let Some(x) = queue.pop() {
        for &(i, g) in &watchers[x] {
            if live[i] || done_group[i][g] {
                continue;
            }
            done_group[i][g] = true;
            missing[i] -= 1;
            if missing[i] == 0 {
                live[i] = true;
                queue.push(i);
            }
        }
    }
    let mut out = Vec::new();
    for (w, pw) in waits.iter().enumerate() {
        if !live[pw.step] {
            out.push((w, describe_cycle(plan, steps, waits, &blocked_on, &live, pw.step)));
        }
    }
    out
}

/// "a waits for signal b/x; b waits for signal a/y" starting at `start`,
/// following dead requirements until a step repeats.
fn describe_cycle(
    plan: &Plan,
    steps: &[StepRun],
    waits: &[PendingWait],
    blocked_on: &[Option<usize>],
    live: &[bool],
    start: usize,
) -> String {
    let mut parts = Vec::new();
    let mut seen = HashSet::new();
    let mut cur = start;
    while seen.insert(cur) {
        let id = &plan.steps[cur].id;
        let next = if let Some(w) = blocked_on[cur] {
            let t = waits[w].open.iter().find(|t| !live[t.provider()]).or(waits[w].open.first());
            match t {
                Some(t) => {
                    parts.push(format!("{id} waits for {}", t.describe(plan)));
                    Some(t.provider())
                }
                None => None,
            }
        } else if steps[cur].status == Status::Pending {
            match plan.steps[cur].deps.iter().copied().find(|&d| !steps[d].status.finished() && !live[d]) {
                Some(d) => {
                    parts.push(format!("{id} needs {} to finish", plan.steps[d].id));
                    Some(d)
                }
                None => None,
            }
        } else if steps[cur].status == Status::Ready {
            parts.push(format!(
                "{id} waits for a slot of pool `{}`",
                plan.steps[cur].pool.map(|p| plan.pools[p].name.as_str()).unwrap_or("?")
            ));
            (0..steps.len())
                .find(|&h| steps[h].pool.is_some() && plan.steps[h].pool == plan.steps[cur].pool && !live[h])
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    if cur != start && seen.contains(&cur) {
        parts.push(format!("(and {} is in the cycle)", plan.steps[cur].id));
    }
    parts.join("; ")
}
