//! Starting attempts and handling their ends: job slots, pools, retries
//! with backoff, and the step context each attempt gets.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::requests::answer;
use super::step_run::{Attempt, Status};
use super::{Event, Scheduler, UiEvent};
use crate::runtime::context::StepContext;
use crate::runtime::host::process::ProcessGroups;
use crate::runtime::invoke::{self, AttemptOutcome, FailureKind};
use crate::sandbox::policy::check_capabilities;
use crate::storage::journal::Record;
use crate::storage::step_log::StepLog;
use crate::text::{MAX_ERROR, clean_message};

impl Scheduler {
    /// Gives job slots to woken waiters first, then to ready steps. Returns
    /// whether anything changed.
    pub(super) fn dispatch(&mut self) -> bool {
        let mut changed = false;
        while self.active < self.jobs {
            let Some((i, reply, result)) = self.wakeups.pop_front() else {
                break;
            };
            let now = self.now();
            let st = &mut self.steps[i];
            if st.status != Status::Running {
                continue;
            }
            st.blocked = false;
            st.has_slot = true;
            self.active += 1;
            if let Some(w) = st.waits.last_mut()
                && w.end.is_none()
            {
                w.end = Some(now);
            }
            (self.observer)(&UiEvent::StepResumed { id: &self.plan.steps[i].id });
            answer(reply, result, &self.artifacts);
            changed = true;
        }
        while self.active < self.jobs && self.live < self.max_live {
            let plan = &self.plan;
            let steps = &self.steps;
            let Some(i) = self.ready.pop(|s| plan.steps[s].pool, |s| steps[s].status == Status::Ready) else {
                break;
            };
            self.steps[i].has_pool = self.plan.steps[i].pool.is_some();
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
        st.has_slot = true;
        self.active += 1;
        let attempt = st.attempts.len() as u32 + 1;
        st.start.get_or_insert(now);
        st.attempts.push(Attempt {
            number: attempt,
            queued: st.queued_at,
            start: now,
            end: None,
            error: None,
            cancelled: false,
            tail: Vec::new(),
        });
        self.journal.append(Record::Attempt { step: def.id.clone(), attempt, at: now });
        (self.observer)(&UiEvent::StepStarted { id: &def.id, attempt });

        let plugin = match def.plugin.and_then(|p| self.plugins[p].clone()) {
            Some(Ok(p)) => p,
            Some(Err(message)) => {
                // A plugin that cannot load fails its steps, at once and for good.
                self.in_flight += 1;
                let outcome = AttemptOutcome::Failed { kind: FailureKind::Host, message };
                let _ = self.events_tx.send(Event::Done { step: i, attempt, outcome, tail: Vec::new() });
                return;
            }
            None => {
                self.in_flight += 1;
                let outcome = AttemptOutcome::Failed { kind: FailureKind::Host, message: "plugin not loaded".into() };
                let _ = self.events_tx.send(Event::Done { step: i, attempt, outcome, tail: Vec::new() });
                return;
            }
        };
        if let Err(message) = check_capabilities(&def.policy, &def.id, &plugin.name, &plugin.capabilities) {
            // Refused before it runs, for good: retrying cannot change it.
            self.in_flight += 1;
            let outcome = AttemptOutcome::Failed { kind: FailureKind::Host, message };
            let _ = self.events_tx.send(Event::Done { step: i, attempt, outcome, tail: Vec::new() });
            return;
        }
        st.plugin_digest = Some(plugin.digest.clone());
        let log = StepLog::new(self.run.log_of(&def.id), def.policy.log_limit, self.epoch)
            .masking(self.services.secrets.clone());
        if attempt > 1 {
            log.line("baton", &format!("--- attempt {attempt} ---"));
        }
        let ctx = Arc::new(StepContext {
            index: i,
            id: def.id.clone(),
            board: self.plan.boards[def.board].clone(),
            name: def.name.clone(),
            attempt,
            config: def.config.clone(),
            workspace: self.workspaces[def.board].clone(),
            src: self.src.clone(),
            policy: def.policy.clone(),
            log,
            run: self.services.clone(),
            processes: ProcessGroups::default(),
            denied: Default::default(),
        });
        let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
        st.cancel = Some(cancel_tx);
        st.has_instance = true;
        self.live += 1;
        self.in_flight += 1;
        let engine = self.engine.clone();
        let tx = self.events_tx.clone();
        tokio::spawn(async move {
            let cancelled = async {
                let _ = cancel_rx.await;
            };
            let log = ctx.log.clone();
            let outcome = invoke::run_attempt(&engine, &plugin, ctx, cancelled).await;
            let tail = if outcome == AttemptOutcome::Succeeded { Vec::new() } else { log.tail() };
            let _ = tx.send(Event::Done { step: i, attempt, outcome, tail });
        });
    }

    pub(super) fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Done { step, attempt, outcome, tail } => self.on_attempt_done(step, attempt, outcome, tail),
            Event::RetryDue { step } => self.on_retry_due(step),
        }
    }

    fn on_attempt_done(&mut self, i: usize, attempt: u32, outcome: AttemptOutcome, tail: Vec<String>) {
        self.in_flight -= 1;
        // The message is the stage's own text: bounded, secrets masked and
        // controls escaped once here, before the journal, the reports and
        // the terminal see it.
        let outcome = match outcome {
            AttemptOutcome::Failed { kind, message } => {
                AttemptOutcome::Failed { kind, message: clean_message(&message, &self.services.secrets, MAX_ERROR) }
            }
            other => other,
        };
        let now = self.now();
        let st = &mut self.steps[i];
        st.cancel = None;
        if st.has_instance {
            st.has_instance = false;
            self.live -= 1;
        }
        if st.has_slot {
            st.has_slot = false;
            self.active -= 1;
        }
        st.blocked = false;
        if let Some(w) = st.waits.last_mut()
            && w.end.is_none()
        {
            w.end = Some(now);
            w.error = Some("the attempt ended while waiting".into());
        }
        if st.has_pool {
            st.has_pool = false;
            if let Some(p) = self.plan.steps[i].pool {
                self.ready.release(p);
            }
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
            AttemptOutcome::Succeeded => self.finish(i, Status::Succeeded, None),
            AttemptOutcome::Cancelled => self.finish(i, Status::Cancelled, Some("cancelled".into())),
            AttemptOutcome::Failed { kind, message } => {
                let def = &self.plan.steps[i];
                let retry = attempt <= def.retries
                    && kind.retryable()
                    && !self.cancelled
                    && (self.halted.is_none() || def.always);
                if retry {
                    let delay = invoke::backoff(def.backoff, attempt + 1);
                    (self.observer)(&UiEvent::StepRetrying {
                        id: &def.id,
                        next_attempt: attempt + 1,
                        delay,
                        error: &message,
                    });
                    self.steps[i].status = Status::Backoff;
                    self.steps[i].error = Some(message);
                    self.backoffs += 1;
                    let tx = self.events_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(Event::RetryDue { step: i });
                    });
                } else {
                    let shown = if def.retries > 0 && kind.retryable() {
                        format!("{message} (attempt {attempt} of {})", def.retries + 1)
                    } else {
                        message
                    };
                    self.finish(i, Status::Failed, Some(shown));
                }
            }
        }
    }

    fn on_retry_due(&mut self, i: usize) {
        self.backoffs -= 1;
        if self.steps[i].status != Status::Backoff {
            return;
        }
        let def = &self.plan.steps[i];
        if self.cancelled || (self.halted.is_some() && !def.always) {
            let last = self.steps[i].error.take();
            return self.finish(i, Status::Failed, last);
        }
        self.steps[i].status = Status::Ready;
        self.steps[i].queued_at = self.now();
        self.ready.push(i, self.prio[i]);
    }
}
