//! The counts the live view shows under its bars: steps done, running
//! (and of those, waiting), failed, cached, pending.

use std::collections::{HashMap, HashSet};

use crate::scheduler::UiEvent;
use crate::status::StepStatus;

#[derive(Debug, Default)]
pub struct Tally {
    /// Steps that take part in the run.
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    /// Steps the step cache served.
    pub cached: usize,
    /// Running steps; `true` while blocked in a wait.
    running: HashMap<String, bool>,
    /// Steps between a failed attempt and their next one.
    backoff: HashSet<String>,
}

impl Tally {
    pub fn on(&mut self, ev: &UiEvent<'_>) {
        match ev {
            UiEvent::RunStarted { steps, .. } => self.total = *steps,
            UiEvent::StepStarted { id, .. } => {
                self.backoff.remove(*id);
                self.running.insert(id.to_string(), false);
            }
            UiEvent::StepRetrying { id, .. } => {
                self.running.remove(*id);
                self.backoff.insert(id.to_string());
            }
            UiEvent::StepWaiting { id, .. } => self.set_waiting(id, true),
            UiEvent::StepResumed { id } => self.set_waiting(id, false),
            UiEvent::StepFinished { id, status, forgiven, .. } => {
                self.running.remove(*id);
                self.backoff.remove(*id);
                self.done += 1;
                if *status == StepStatus::Cached {
                    self.cached += 1;
                }
                if matches!(status, StepStatus::Failed | StepStatus::Cancelled) && !forgiven {
                    self.failed += 1;
                }
            }
            _ => {}
        }
    }

    fn set_waiting(&mut self, id: &str, waiting: bool) {
        if let Some(w) = self.running.get_mut(id) {
            *w = waiting;
        }
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    pub fn waiting(&self) -> usize {
        self.running.values().filter(|w| **w).count()
    }

    pub fn pending(&self) -> usize {
        self.total.saturating_sub(self.done + self.running.len() + self.backoff.len())
    }

    /// `2 running (1 waiting) · 1 failed · 6 pending`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        let waiting = self.waiting();
        parts.push(if waiting > 0 {
            format!("{} running ({waiting} waiting)", self.running())
        } else {
            format!("{} running", self.running())
        });
        if !self.backoff.is_empty() {
            parts.push(format!("{} to retry", self.backoff.len()));
        }
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.cached > 0 {
            parts.push(format!("{} cached", self.cached));
        }
        parts.push(format!("{} pending", self.pending()));
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(id: &str, status: StepStatus) -> UiEvent<'_> {
        UiEvent::StepFinished { id, status, seconds: None, error: None, forgiven: false }
    }

    #[test]
    fn counts_follow_the_events() {
        let mut t = Tally::default();
        let dir = std::path::Path::new("/x");
        t.on(&UiEvent::RunStarted { run_id: "r", steps: 4, jobs: 2, log_dir: dir });
        t.on(&UiEvent::StepStarted { id: "b.a", attempt: 1 });
        t.on(&UiEvent::StepStarted { id: "b.b", attempt: 1 });
        let on = ["x.y/sig".to_string()];
        t.on(&UiEvent::StepWaiting { id: "b.b", on: &on });
        assert_eq!(t.line(), "2 running (1 waiting) · 2 pending");
        t.on(&UiEvent::StepRetrying {
            id: "b.a",
            next_attempt: 2,
            delay: std::time::Duration::from_secs(1),
            error: "boom",
        });
        assert_eq!(t.line(), "1 running (1 waiting) · 1 to retry · 2 pending");
        t.on(&UiEvent::StepStarted { id: "b.a", attempt: 2 });
        t.on(&finished("b.a", StepStatus::Failed));
        t.on(&UiEvent::StepResumed { id: "b.b" });
        t.on(&finished("b.b", StepStatus::Ok));
        t.on(&finished("b.c", StepStatus::Skipped));
        assert_eq!((t.total, t.done, t.failed), (4, 3, 1));
        assert_eq!(t.line(), "0 running · 1 failed · 1 pending");
    }
}
