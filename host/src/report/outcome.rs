//! How one step ended, finer than its `status` word: what the summary, the
//! JUnit file and the HTML page colour and count. The words are
//! [`StepStatus`](crate::status::StepStatus)'s.

use super::{Outcome, StepReport};
use crate::status::AttemptStatus;

impl StepReport {
    /// The step's outcome; reports written before `outcome` existed are
    /// read from `status` and the flags.
    pub fn outcome(&self) -> Outcome {
        if let Some(o) = self.outcome {
            return o;
        }
        let cancelled = self.attempts.last().is_some_and(|a| a.status == AttemptStatus::Cancelled);
        match self.status {
            Outcome::Ok if self.previously_done => Outcome::PreviouslyDone,
            Outcome::Ok => Outcome::Ok,
            Outcome::Failed if self.forgiven => Outcome::Forgiven,
            Outcome::Failed if cancelled => Outcome::Cancelled,
            Outcome::Failed => Outcome::Failed,
            _ => Outcome::Skipped,
        }
    }

    /// The step's name within its board.
    pub fn name(&self) -> &str {
        self.id.strip_prefix(self.board.as_str()).and_then(|rest| rest.strip_prefix('.')).unwrap_or(&self.id)
    }

    /// Seconds from the first start to the end, if it ran.
    pub fn seconds(&self) -> Option<f64> {
        self.start.zip(self.end).map(|(a, b)| (b - a).max(0.0))
    }
}
