//! How steps, attempts and runs end: the one set of words the scheduler,
//! the journal, the reports, `baton runs` and the exit code use, as serde
//! enums (the words are their serialised names). A leaf: it imports nothing
//! of the crate.

use serde::{Deserialize, Serialize};

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    /// Succeeded in an earlier run and was not run again (`--resume`).
    PreviouslyDone,
    /// Not run: its cache key matched an entry, whose outputs were restored.
    Cached,
    Failed,
    /// Failed under `on_failure = "ignore"`: does not fail the run. (The
    /// journal records such a step as `failed`: forgiving is the plan's.)
    Forgiven,
    /// Interrupted by cancellation.
    Cancelled,
    /// Not run: a dependency failed, the run halted or was cancelled.
    Skipped,
    /// Left out by `--only`, `--skip` or `--from`.
    Excluded,
}

impl StepStatus {
    pub const ALL: [StepStatus; 8] = [
        StepStatus::Ok,
        StepStatus::PreviouslyDone,
        StepStatus::Cached,
        StepStatus::Failed,
        StepStatus::Forgiven,
        StepStatus::Cancelled,
        StepStatus::Skipped,
        StepStatus::Excluded,
    ];

    /// The serialised word (also a CSS class in the HTML page).
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::PreviouslyDone => "previously_done",
            StepStatus::Cached => "cached",
            StepStatus::Failed => "failed",
            StepStatus::Forgiven => "forgiven",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Skipped => "skipped",
            StepStatus::Excluded => "excluded",
        }
    }

    /// The word for people (tables, legends).
    pub fn label(self) -> &'static str {
        match self {
            StepStatus::PreviouslyDone => "previously done",
            other => other.as_str(),
        }
    }

    pub fn parse(word: &str) -> Option<StepStatus> {
        StepStatus::ALL.into_iter().find(|o| o.as_str() == word)
    }

    /// Whether the step failed the run.
    pub fn fails_run(self) -> bool {
        matches!(self, StepStatus::Failed | StepStatus::Cancelled)
    }

    /// Whether it succeeded, now, from the step cache, or in the run this
    /// one resumed.
    pub fn passed(self) -> bool {
        matches!(self, StepStatus::Ok | StepStatus::PreviouslyDone | StepStatus::Cached)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Ok,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The process exit code: 0 success, 1 a step failed, 130 cancelled.
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Ok => 0,
            RunStatus::Failed => 1,
            RunStatus::Cancelled => 130,
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    Ok,
    Failed,
    Cancelled,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Ok => "ok",
            AttemptStatus::Failed => "failed",
            AttemptStatus::Cancelled => "cancelled",
        }
    }
}

/// What kind of failure ended an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// The stage returned an error.
    Stage,
    /// The stage said its configuration is invalid.
    Config,
    /// The stage trapped (panic, unreachable, out-of-bounds…).
    Trap,
    /// A limit was hit (memory, cpu, stack, table).
    Limit,
    /// The attempt ran out of its wall-clock time.
    Timeout,
    /// The host could not set the attempt up.
    Host,
    /// The stage failed after the host denied it something its policy does
    /// not allow (a program not on its spawn list, an artifact an untrusted
    /// step may not read).
    Denied,
    /// The cluster worker running it was lost (`baton run --nats`): the
    /// step runs again elsewhere, whatever its `retries`.
    Lost,
}

impl FailureKind {
    /// The serialised word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stage => "stage",
            Self::Config => "config",
            Self::Trap => "trap",
            Self::Limit => "limit",
            Self::Timeout => "timeout",
            Self::Host => "host",
            Self::Denied => "denied",
            Self::Lost => "lost",
        }
    }

    /// Whether another attempt may pass: stage errors, traps, limits and
    /// timeouts may; an invalid config, a denial or a host refusal (missing
    /// plugin, contract mismatch, capabilities) will fail the same way.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Stage | Self::Trap | Self::Limit | Self::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_serialised_names() {
        for s in StepStatus::ALL {
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
            assert_eq!(StepStatus::parse(s.as_str()), Some(s));
        }
        for r in [RunStatus::Ok, RunStatus::Failed, RunStatus::Cancelled] {
            assert_eq!(serde_json::to_value(r).expect("json"), r.as_str());
        }
        for a in [AttemptStatus::Ok, AttemptStatus::Failed, AttemptStatus::Cancelled] {
            assert_eq!(serde_json::to_value(a).expect("json"), a.as_str());
        }
        assert_eq!(serde_json::to_value(FailureKind::Denied).expect("json"), "denied");
        assert_eq!(StepStatus::parse("nope"), None);
    }
}
