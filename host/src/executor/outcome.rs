//! How an attempt ended, as the executor reports it.

pub use crate::status::FailureKind;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    Failed { kind: FailureKind, message: String },
    Cancelled,
}

impl AttemptOutcome {
    pub fn failed(kind: FailureKind, message: impl Into<String>) -> Self {
        Self::Failed { kind, message: message.into() }
    }
}
