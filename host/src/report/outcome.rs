//! How one step ended, finer than its `status` word: what the summary, the
//! JUnit file and the HTML page colour and count.

use super::StepReport;

/// The outcome of one step in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    /// Succeeded in an earlier run and was not run again (`--resume`).
    PreviouslyDone,
    Failed,
    /// Failed under `on_failure = "ignore"`: does not fail the run.
    Forgiven,
    /// Interrupted by cancellation.
    Cancelled,
    /// Not run: a dependency failed, the run halted or was cancelled.
    Skipped,
    /// Left out by `--only`, `--skip` or `--from`.
    Excluded,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::PreviouslyDone,
        Outcome::Failed,
        Outcome::Forgiven,
        Outcome::Cancelled,
        Outcome::Skipped,
        Outcome::Excluded,
    ];

    /// The word in `report.json` (also a CSS class in the HTML page).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::PreviouslyDone => "previously_done",
            Outcome::Failed => "failed",
            Outcome::Forgiven => "forgiven",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
            Outcome::Excluded => "excluded",
        }
    }

    /// The word for people (tables, legends).
    pub fn label(self) -> &'static str {
        match self {
            Outcome::PreviouslyDone => "previously done",
            other => other.as_str(),
        }
    }

    pub fn parse(word: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == word)
    }

    /// Whether the step failed the run.
    pub fn fails_run(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Cancelled)
    }
}

impl StepReport {
    /// The step's outcome; reports written before `outcome` existed are
    /// read from `status` and the flags.
    pub fn outcome(&self) -> Outcome {
        if let Some(o) = Outcome::parse(&self.outcome) {
            return o;
        }
        let cancelled = self.attempts.last().is_some_and(|a| a.status == "cancelled");
        match self.status.as_str() {
            "ok" if self.previously_done => Outcome::PreviouslyDone,
            "ok" => Outcome::Ok,
            "failed" if self.forgiven => Outcome::Forgiven,
            "failed" if cancelled => Outcome::Cancelled,
            "failed" => Outcome::Failed,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("nope"), None);
    }
}
