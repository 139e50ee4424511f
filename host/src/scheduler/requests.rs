//! What running stages ask of the scheduler: raising and waiting on
//! signals, publishing and looking up artifacts, reporting progress.

use std::collections::{HashMap, HashSet};

use super::step_run::{Status, WaitRecord};
use super::waits::{self, PendingWait, Reply, Target, TargetState};
use super::{Scheduler, UiEvent};
use crate::executor::{ArtifactError, Request, SignalError};
use crate::plan::Trust;
use crate::storage::artifacts::ArtifactRecord;
use crate::storage::journal::Record;

/// Distinct artifacts one step may publish (each is a journal record).
const MAX_ARTIFACTS_PER_STEP: usize = 10_000;

impl Scheduler {
    pub(super) fn on_request(&mut self, step: usize, req: Request) {
        match req {
            Request::Emit { name, reply } => {
                let def = &self.plan.steps[step];
                if !def.emits.contains(&name) {
                    let declared = if def.emits.is_empty() { "none".to_string() } else { def.emits.join(", ") };
                    let _ = reply.send(Err(SignalError::Undeclared(format!(
                        "step {} does not declare signal `{name}` in `emits` (it declares: {declared})",
                        def.id
                    ))));
                    return;
                }
                if self.published.emitted.insert((step, name.clone())) {
                    self.journal.append(Record::Signal { step: def.id.clone(), name });
                }
                let _ = reply.send(Ok(()));
                self.settle_waits();
            }
            Request::Raised { name, reply } => {
                let answer = waits::resolve_names(&self.plan, step, std::slice::from_ref(&name))
                    .map(|targets| targets.iter().all(|t| matches!(self.target_state(t), TargetState::Satisfied)));
                let _ = reply.send(answer);
            }
            Request::Wait { names, reply } => {
                let targets = match waits::resolve_names(&self.plan, step, &names) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return;
                    }
                };
                self.begin_wait(step, names, targets, Reply::Signal(reply));
            }
            Request::Publish { record, reply } => {
                let st = &mut self.steps[step];
                if !st.artifacts.contains(&record.reference) {
                    if st.artifacts.len() >= MAX_ARTIFACTS_PER_STEP {
                        let _ = reply.send(Err(ArtifactError::Limit(format!(
                            "step {} already published {MAX_ARTIFACTS_PER_STEP} artifacts: publish a directory \
                             instead of its files",
                            self.plan.steps[step].id
                        ))));
                        return;
                    }
                    st.artifacts.push(record.reference.clone());
                }
                match self.published.artifacts.get(&record.reference) {
                    // The same content again: nothing changed, nothing to record.
                    Some(known) if *known == record => {}
                    known => {
                        if known.is_none() {
                            self.published.order.push(record.reference.clone());
                        }
                        self.journal.append(Record::Artifact { record: record.clone() });
                        self.published.artifacts.insert(record.reference.clone(), record);
                    }
                }
                let _ = reply.send(Ok(()));
                self.settle_waits();
            }
            Request::Lookup { reference, reply } => match self.resolve_artifact_keyed(step, &reference) {
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
                Ok(Ok(record)) => {
                    let _ = reply.send(Ok(record));
                }
                Ok(Err(target)) => {
                    self.begin_wait(step, vec![reference.clone()], vec![target], Reply::Artifact { reply, reference });
                }
            },
            Request::List { reply } => {
                // An untrusted step sees only what its dependencies published:
                // a digest alone can give a small secret away.
                let visible: Option<HashSet<usize>> =
                    (self.plan.steps[step].policy.trust == Trust::Untrusted).then(|| self.ancestors_of(step).clone());
                let all: Vec<ArtifactRecord> = self
                    .published
                    .order
                    .iter()
                    .filter_map(|r| self.published.artifacts.get(r))
                    .filter(|r| match &visible {
                        None => true,
                        Some(deps) => self.plan.step_index(&r.step).is_some_and(|p| deps.contains(&p)),
                    })
                    .cloned()
                    .collect();
                if self.steps[step].cache.is_some() {
                    let producers: Vec<Option<usize>> =
                        all.iter().map(|r: &ArtifactRecord| self.plan.step_index(&r.step)).collect();
                    for p in producers {
                        self.cache_saw(step, p);
                    }
                }
                let _ = reply.send(all);
            }
        }
    }

    /// [`Self::resolve_artifact`], telling the step cache what a cached
    /// step reads.
    fn resolve_artifact_keyed(
        &mut self,
        step: usize,
        reference: &str,
    ) -> Result<Result<ArtifactRecord, Target>, ArtifactError> {
        let result = self.resolve_artifact(step, reference);
        if self.steps[step].cache.is_some() {
            match &result {
                Ok(Ok(r)) => {
                    let p = self.plan.step_index(&r.step);
                    self.cache_saw(step, p);
                }
                Ok(Err(Target::Artifact { step: p, .. })) => {
                    let p = *p;
                    self.cache_saw(step, Some(p));
                }
                _ => {}
            }
        }
        result
    }

    /// An artifact for `step`: found, to wait for (`Ok(Err(target))`), or an error.
    fn resolve_artifact(
        &mut self,
        step: usize,
        reference: &str,
    ) -> Result<Result<ArtifactRecord, Target>, ArtifactError> {
        let untrusted = self.plan.steps[step].policy.trust == Trust::Untrusted;
        if let Some((sid, name)) = reference.split_once('/') {
            let Some(producer) = self.plan.step_index(sid) else {
                return Err(ArtifactError::NotFound(format!("`{reference}`: there is no step {sid}")));
            };
            if untrusted && !self.ancestors_of(step).contains(&producer) {
                return Err(ArtifactError::Denied(format!(
                    "untrusted step {} may only read artifacts of steps it depends on, not {sid}",
                    self.plan.steps[step].id
                )));
            }
            if let Some(r) = self.published.artifacts.get(reference) {
                return Ok(Ok(r.clone()));
            }
            return Ok(Err(Target::Artifact { step: producer, name: name.to_string() }));
        }
        let ancestors = self.ancestors_of(step).clone();
        let found: Vec<&ArtifactRecord> = self
            .published
            .artifacts
            .values()
            .filter(|r| r.name == reference && self.plan.step_index(&r.step).is_some_and(|p| ancestors.contains(&p)))
            .collect();
        match found.as_slice() {
            [one] => Ok(Ok((*one).clone())),
            [] => Err(ArtifactError::NotFound(format!(
                "no step that {} depends on published `{reference}` (use board.step/{reference} for other steps)",
                self.plan.steps[step].id
            ))),
            many => {
                let mut refs: Vec<&str> = many.iter().map(|r| r.reference.as_str()).collect();
                refs.sort();
                Err(ArtifactError::NotFound(format!("`{reference}` is ambiguous: {}", refs.join(", "))))
            }
        }
    }

    /// Transitive dependencies of `step`.
    fn ancestors_of(&mut self, step: usize) -> &HashSet<usize> {
        let plan = &self.plan;
        self.ancestors.entry(step).or_insert_with(|| {
            let mut seen = HashSet::new();
            let mut stack = plan.steps[step].deps.clone();
            while let Some(d) = stack.pop() {
                if seen.insert(d) {
                    stack.extend(plan.steps[d].deps.iter().copied());
                }
            }
            seen
        })
    }

    /// Starts a wait: answered now if it can be, else the step blocks and
    /// gives its job slot back.
    fn begin_wait(&mut self, step: usize, names: Vec<String>, targets: Vec<Target>, reply: Reply) {
        let mut open = Vec::new();
        for t in targets {
            match self.target_state(&t) {
                TargetState::Satisfied => {}
                TargetState::Open => open.push(t),
                TargetState::Never(why) => {
                    return answer(reply, Err(never_error(&t, why)), &self.published.artifacts);
                }
            }
        }
        if open.is_empty() {
            return answer(reply, Ok(()), &self.published.artifacts);
        }
        let now = self.now();
        let st = &mut self.steps[step];
        st.blocked = true;
        // The job slot goes back while it waits (its pool slot stays).
        st.slot = None;
        st.waits.push(WaitRecord { on: names.clone(), start: now, end: None, error: None });
        self.journal.append(Record::Wait { step: self.plan.steps[step].id.clone(), on: names.clone(), at: now });
        (self.observer)(&UiEvent::StepWaiting { id: &self.plan.steps[step].id, on: &names });
        self.waits.push(PendingWait { step, open, reply });
        self.check_deadlocks();
    }

    fn target_state(&self, t: &Target) -> TargetState {
        let published =
            |s: usize, name: &str| self.published.artifacts.contains_key(&format!("{}/{name}", self.plan.steps[s].id));
        waits::target_state(&self.plan, &self.steps, &self.published.emitted, &published, t)
    }

    /// Ends the waits that are now satisfied or can never be.
    pub(super) fn settle_waits(&mut self) {
        let mut k = 0;
        while k < self.waits.len() {
            let mut result: Option<Result<(), (Target, String)>> = None;
            let open = std::mem::take(&mut self.waits[k].open);
            let mut still = Vec::new();
            for t in open {
                match self.target_state(&t) {
                    TargetState::Satisfied => {}
                    TargetState::Open => still.push(t),
                    TargetState::Never(why) => {
                        result = Some(Err((t, why)));
                        break;
                    }
                }
            }
            if result.is_none() && still.is_empty() {
                result = Some(Ok(()));
            }
            match result {
                None => {
                    self.waits[k].open = still;
                    k += 1;
                }
                Some(r) => {
                    let w = self.waits.swap_remove(k);
                    let r = r.map_err(|(t, why)| never_error(&t, why));
                    self.wake(w, r);
                }
            }
        }
    }

    /// Fails the waits nothing can ever satisfy.
    pub(super) fn check_deadlocks(&mut self) {
        let ready = &self.ready;
        let full = self.instance_slots.available_permits() == 0;
        let dead = waits::deadlocked(&self.plan, &self.steps, &self.waits, &|p| ready.free(p), full);
        for (w, message) in dead.into_iter().rev() {
            let pw = self.waits.swap_remove(w);
            self.wake(pw, Err(SignalError::Deadlock(message)));
        }
    }

    /// Queues a wait's answer for delivery once its step has a slot again.
    fn wake(&mut self, w: PendingWait, result: Result<(), SignalError>) {
        if let Some(rec) = self.steps[w.step].waits.last_mut()
            && let Err(e) = &result
        {
            rec.error = Some(e.to_string());
        }
        if self.steps[w.step].status != Status::Running {
            return;
        }
        self.wakeups.push_back((w.step, w.reply, result));
    }
}

fn never_error(t: &Target, why: String) -> SignalError {
    match t {
        Target::Completion(_) => SignalError::Failed(why),
        _ => SignalError::Never(why),
    }
}

/// Answers a wait: a signal wait with its result, an artifact wait with the
/// record it waited for (or why it will never come).
pub(super) fn answer(reply: Reply, result: Result<(), SignalError>, artifacts: &HashMap<String, ArtifactRecord>) {
    match reply {
        Reply::Signal(tx) => {
            let _ = tx.send(result);
        }
        Reply::Artifact { reply, reference } => {
            let r = match result {
                Ok(()) => artifacts.get(&reference).cloned().ok_or_else(|| ArtifactError::NotFound(reference.clone())),
                Err(e) => Err(artifact_error(e)),
            };
            let _ = reply.send(r);
        }
    }
}

/// A failed artifact wait as an artifact error.
fn artifact_error(e: SignalError) -> ArtifactError {
    match e {
        SignalError::Never(m) | SignalError::Failed(m) => ArtifactError::NeverPublished(m),
        SignalError::Deadlock(m) => ArtifactError::NeverPublished(format!("deadlock: {m}")),
        SignalError::Undeclared(m) => ArtifactError::NotFound(m),
    }
}
