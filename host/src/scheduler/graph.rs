//! Readiness and outcomes: which steps may run, which are skipped, and what
//! a step's end means for its dependents (`halt`, `continue`, `ignore`,
//! `always`).

use super::step_run::Status;
use super::{Scheduler, UiEvent, resume};
use crate::plan::OnFailure;
use crate::status::StepStatus;
use crate::storage::journal::Record;

impl Scheduler {
    /// Initial states: excluded and previously done steps count as finished;
    /// steps without unfinished dependencies are evaluated.
    pub(super) fn seed(&mut self, selected: &[bool], carried: resume::Carried) {
        // What earlier runs did is part of this run too: journal it, so that
        // `baton artifacts` and a later `--resume` see it.
        for (reference, record) in carried.artifacts {
            self.journal.append(Record::Artifact { record: record.clone() });
            if let Some(i) = self.plan.step_index(&record.step) {
                self.steps[i].artifacts.push(reference.clone());
            }
            self.published.order.push(reference.clone());
            self.published.artifacts.insert(reference, record);
        }
        for (step, name) in carried.signals {
            self.journal.append(Record::Signal { step: self.plan.steps[step].id.clone(), name: name.clone() });
            self.published.emitted.insert((step, name));
        }
        for i in 0..self.steps.len() {
            if !selected[i] {
                self.finish(i, StepStatus::Excluded, None);
            } else if carried.done.contains(&i) {
                self.finish(i, StepStatus::PreviouslyDone, None);
            }
        }
        for i in 0..self.steps.len() {
            if self.steps[i].status == Status::Pending && self.steps[i].waiting_deps == 0 {
                self.freed.push(i);
            }
        }
    }

    /// Evaluates every step whose dependencies have all finished.
    pub(super) fn drain_freed(&mut self) {
        while let Some(i) = self.freed.pop() {
            if self.steps[i].status == Status::Pending {
                self.evaluate(i);
            }
        }
    }

    fn evaluate(&mut self, i: usize) {
        let def = &self.plan.steps[i];
        if self.cancelled && !def.always {
            return self.finish(i, StepStatus::Skipped, Some("run cancelled".into()));
        }
        if let Some(why) = &def.withheld {
            let why = why.clone();
            return self.finish(i, StepStatus::Skipped, Some(why));
        }
        if !def.always {
            if let Some(&d) = def.deps.iter().find(|&&d| !self.steps[d].satisfies()) {
                let why = match self.steps[d].status {
                    Status::Done(StepStatus::Failed) => "failed",
                    Status::Done(StepStatus::Cancelled) => "was cancelled",
                    _ => "was skipped",
                };
                let reason = format!("dependency {} {why}", self.plan.steps[d].id);
                return self.finish(i, StepStatus::Skipped, Some(reason));
            }
            if let Some(h) = &self.halted {
                let reason = format!("run halted after {h} failed");
                return self.finish(i, StepStatus::Skipped, Some(reason));
            }
        }
        if def.plugin.is_none() {
            // A sync point: done as soon as it is ready.
            let now = self.now();
            self.steps[i].start = Some(now);
            return self.finish(i, StepStatus::Ok, None);
        }
        if self.try_cache_hit(i) {
            return;
        }
        self.steps[i].status = Status::Ready;
        self.steps[i].queued_at = self.now();
        self.ready.push(i, self.prio[i]);
    }

    /// Records a final status and frees dependents.
    pub(super) fn finish(&mut self, i: usize, status: StepStatus, error: Option<String>) {
        if self.steps[i].status.finished() {
            return;
        }
        let now = self.now();
        let digest = self.plugin_digest_of(i);
        let st = &mut self.steps[i];
        st.status = Status::Done(status);
        if st.start.is_some() {
            st.end = Some(now);
        }
        if error.is_some() {
            st.error = error;
        }
        if status == StepStatus::Failed && self.plan.steps[i].on_failure == OnFailure::Ignore {
            st.forgiven = true;
        }
        let def = &self.plan.steps[i];
        let ok = status.passed();
        self.journal.append(Record::Finish {
            step: def.id.clone(),
            status,
            at: now,
            fingerprint: ok.then(|| def.fingerprint.clone()),
            plugin: if ok { digest } else { None },
            error: st.error.clone(),
        });
        if status != StepStatus::Excluded {
            let seconds = st.start.zip(st.end).map(|(s, e)| e - s);
            (self.observer)(&UiEvent::StepFinished {
                id: &def.id,
                status,
                seconds,
                error: st.error.as_deref(),
                forgiven: st.forgiven,
            });
        }
        self.finished += 1;
        if status == StepStatus::Failed && def.on_failure == OnFailure::Halt && self.halted.is_none() {
            self.halt(i);
        }
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            self.steps[d].waiting_deps -= 1;
            if self.steps[d].waiting_deps == 0 && self.steps[d].status == Status::Pending {
                self.freed.push(d);
            }
        }
        if !self.waits.is_empty() {
            self.settle_waits();
            self.check_deadlocks();
        }
    }

    fn plugin_digest_of(&self, i: usize) -> Option<String> {
        let p = self.plan.steps[i].plugin?;
        self.digests[p].clone()
    }

    /// A halting step failed: start nothing new except `always` steps.
    fn halt(&mut self, i: usize) {
        let id = self.plan.steps[i].id.clone();
        self.halted = Some(id.clone());
        let queued: Vec<usize> = (0..self.steps.len())
            .filter(|&s| self.steps[s].status == Status::Ready && !self.plan.steps[s].always)
            .collect();
        for s in queued {
            self.finish(s, StepStatus::Skipped, Some(format!("run halted after {id} failed")));
        }
    }

    /// Cancellation: interrupt what runs and start nothing more, except the
    /// `always` steps (cleanup, archive): they run once their dependencies
    /// have finished, as after a failure. A second Ctrl-C exits at once.
    pub(super) fn on_cancel(&mut self) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        (self.observer)(&UiEvent::Cancelling);
        for i in 0..self.steps.len() {
            let always = self.plan.steps[i].always;
            match self.steps[i].status {
                Status::Running => {
                    if let Some(tx) = self.steps[i].cancel.take() {
                        let _ = tx.send(());
                    }
                }
                Status::Pending | Status::Ready if !always => {
                    self.finish(i, StepStatus::Skipped, Some("run cancelled".into()))
                }
                _ => {}
            }
        }
    }

    /// Marks every unfinished step skipped with `why`.
    pub(super) fn abandon_rest(&mut self, why: &str) {
        for i in 0..self.steps.len() {
            if !self.steps[i].status.finished() {
                self.finish(i, StepStatus::Skipped, Some(why.to_string()));
            }
        }
    }
}
