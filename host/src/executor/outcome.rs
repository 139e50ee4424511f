//! How an attempt ended, as the executor reports it.

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

/// What kind of failure, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
}

impl FailureKind {
    /// Whether another attempt may pass: stage errors, traps, limits and
    /// timeouts may; an invalid config, a denial or a host refusal (missing
    /// plugin, contract mismatch, capabilities) will fail the same way.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Stage | Self::Trap | Self::Limit | Self::Timeout)
    }
}
