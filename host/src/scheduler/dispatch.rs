//! Starting attempts and handling their ends: job, pool and instance slots
//! (owned permits), handing each attempt to the executor, what it reports,
//! and retries with backoff.

use std::time::Duration;

use tokio::sync::oneshot;

use super::requests::answer;
use super::step_run::{self, Status};
use super::{Scheduler, UiEvent};
use crate::executor::{Attempt, AttemptOutcome, Event, FailureKind, PluginRef, Report, Reporter};
use crate::status::StepStatus;
use crate::storage::journal::Record;
use crate::text::{MAX_ERROR, clean_message};

/// How many times a step's attempt may be lost with its cluster worker
/// before the loss counts as the step's failure.
const MAX_LOST: u32 = 3;

impl Scheduler {
    /// Gives job slots to woken waiters first, then to ready steps. Returns
    /// whether anything changed.
    pub(super) fn dispatch(&mut self) -> bool {
        let mut changed = false;
        while !self.wakeups.is_empty() {
            let Ok(slot) = self.job_slots.clone().try_acquire_owned() else {
                break;
            };
            let Some((i, reply, result)) = self.wakeups.pop_front() else {
                break;
            };
            let now = self.now();
            let st = &mut self.steps[i];
            if st.status != Status::Running {
                continue;
            }
            st.blocked = false;
            st.slot = Some(slot);
            if let Some(w) = st.waits.last_mut()
                && w.end.is_none()
            {
                w.end = Some(now);
            }
            self.journal.append(Record::Resume { step: self.plan.steps[i].id.clone(), at: now });
            (self.observer)(&UiEvent::StepResumed { id: &self.plan.steps[i].id });
            answer(reply, result, &self.published.artifacts);
            changed = true;
        }
        loop {
            // Slots taken here and not used go back when dropped.
            let Ok(slot) = self.job_slots.clone().try_acquire_owned() else {
                break;
            };
            let Ok(instance) = self.instance_slots.clone().try_acquire_owned() else {
                break;
            };
            let plan = &self.plan;
            let steps = &self.steps;
            let Some((i, pool)) = self.ready.pop(|s| plan.steps[s].pool, |s| steps[s].status == Status::Ready) else {
                break;
            };
            let st = &mut self.steps[i];
            st.slot = Some(slot);
            st.instance = Some(instance);
            st.pool = pool;
            self.start_attempt(i);
            changed = true;
        }
        changed
    }

    fn start_attempt(&mut self, i: usize) {
        let now = self.now();
        let def = &self.plan.steps[i];
        let st = &mut self.steps[i];
        st.status = Status::Running;
        let attempt = st.attempts.len() as u32 + 1;
        st.start.get_or_insert(now);
        st.attempts.push(step_run::Attempt {
            number: attempt,
            queued: st.queued_at,
            start: now,
            end: None,
            error: None,
            cancelled: false,
            tail: Vec::new(),
            worker: None,
        });
        self.journal.append(Record::Attempt { step: def.id.clone(), attempt, at: now });
        (self.observer)(&UiEvent::StepStarted { id: &def.id, attempt });

        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        st.cancel = Some(cancel_tx);
        self.in_flight += 1;
        let reporter = Reporter::new(i, attempt, self.inbox.reports_tx.clone());
        let Some(index) = def.plugin else {
            // Sync points finish when ready and never get here.
            return reporter.ended(AttemptOutcome::failed(FailureKind::Host, "plugin not loaded"), Vec::new());
        };
        let plugin = PluginRef { index, digest: self.digests[index].clone() };
        let run = Attempt { step: i, number: attempt, workspace: self.workspaces[def.board].clone(), plugin };
        self.executor.start(run, reporter, cancel_rx);
    }

    /// What the executor says about an attempt.
    pub(super) fn on_report(&mut self, report: Report) {
        let Report { step, attempt, event } = report;
        match event {
            Event::Ended { outcome, tail } => self.on_attempt_done(step, attempt, outcome, tail),
            // The live view shows a step from its dispatch on.
            Event::Started => {}
            Event::RanOn { worker } => {
                if let Some(a) = self.steps[step].attempts.get_mut(attempt as usize - 1) {
                    a.worker = Some(worker);
                }
            }
            Event::Progress { done, total, message } => {
                let id = &self.plan.steps[step].id;
                (self.observer)(&UiEvent::Progress { id, done, total, message: &message });
            }
            Event::Request(request) => {
                // A request of an attempt that is over has no one to answer:
                // dropping it tells the asker the run moved on.
                if self.steps[step].status == Status::Running && self.steps[step].attempts.len() as u32 == attempt {
                    self.on_request(step, request);
                }
            }
        }
    }

    fn on_attempt_done(&mut self, i: usize, attempt: u32, outcome: AttemptOutcome, tail: Vec<String>) {
        self.in_flight -= 1;
        // The message is the stage's own text: bounded, secrets masked and
        // controls escaped once here, before the journal, the reports and
        // the terminal see it.
        let outcome = match outcome {
            AttemptOutcome::Failed { kind, message } => {
                AttemptOutcome::Failed { kind, message: clean_message(&message, &self.secrets, MAX_ERROR) }
            }
            other => other,
        };
        let now = self.now();
        let st = &mut self.steps[i];
        st.cancel = None;
        // Its slots go back: the job slot, its place in the executor, its pool's.
        st.slot = None;
        st.instance = None;
        st.pool = None;
        st.blocked = false;
        if let Some(w) = st.waits.last_mut()
            && w.end.is_none()
        {
            w.end = Some(now);
            w.error = Some("the attempt ended while waiting".into());
        }
        self.waits.retain(|w| w.step != i);
        self.wakeups.retain(|(s, _, _)| *s != i);
        if let Some(a) = st.attempts.iter_mut().find(|a| a.number == attempt) {
            a.end = Some(now);
            a.tail = tail;
            match &outcome {
                AttemptOutcome::Failed { kind, message } => a.error = Some((*kind, message.clone())),
                AttemptOutcome::Cancelled => a.cancelled = true,
                AttemptOutcome::Succeeded => {}
            }
        }
        match outcome {
            AttemptOutcome::Succeeded => {
                self.after_pass(i);
                self.finish(i, StepStatus::Ok, None)
            }
            AttemptOutcome::Cancelled => self.finish(i, StepStatus::Cancelled, Some("cancelled".into())),
            AttemptOutcome::Failed { kind, message } => {
                let def = &self.plan.steps[i];
                // A lost worker's attempt is not the step's failure: it runs
                // again at once (a few times at most), and uses up none of
                // the step's retries.
                let losses = self.steps[i].attempts.iter().filter(|a| matches!(a.error, Some((FailureKind::Lost, _))));
                let losses = losses.count() as u32;
                let lost = kind == FailureKind::Lost && losses <= MAX_LOST;
                let retry = (lost || attempt - losses <= def.retries && kind.retryable())
                    && !self.cancelled
                    && (self.halted.is_none() || def.always);
                if retry {
                    let delay = if lost { Duration::ZERO } else { backoff(def.backoff, attempt + 1) };
                    (self.observer)(&UiEvent::StepRetrying {
                        id: &def.id,
                        next_attempt: attempt + 1,
                        delay,
                        error: &message,
                    });
                    self.steps[i].status = Status::Backoff;
                    self.steps[i].error = Some(message);
                    self.backoffs += 1;
                    let tx = self.inbox.retries_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(i);
                    });
                } else {
                    let shown = if def.retries > 0 && kind.retryable() {
                        format!("{message} (attempt {attempt} of {})", def.retries + 1)
                    } else {
                        message
                    };
                    self.finish(i, StepStatus::Failed, Some(shown));
                }
            }
        }
    }

    pub(super) fn on_retry_due(&mut self, i: usize) {
        self.backoffs -= 1;
        if self.steps[i].status != Status::Backoff {
            return;
        }
        let def = &self.plan.steps[i];
        if self.cancelled || (self.halted.is_some() && !def.always) {
            let last = self.steps[i].error.take();
            return self.finish(i, StepStatus::Failed, last);
        }
        self.steps[i].status = Status::Ready;
        self.steps[i].queued_at = self.now();
        self.ready.push(i, self.prio[i]);
    }
}

/// Retry delay before attempt `next` (2, 3, …): `base`, doubling.
pub fn backoff(base: Duration, next: u32) -> Duration {
    base.saturating_mul(1u32 << next.saturating_sub(2).min(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 2), Duration::from_secs(1));
        assert_eq!(backoff(b, 3), Duration::from_secs(2));
        assert_eq!(backoff(b, 4), Duration::from_secs(4));
    }
}
