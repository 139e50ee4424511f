//! What a running stage asks of the run (signals, artifact lookups and
//! publications), with answers and errors owned by the scheduler side of
//! the boundary. The runtime converts these errors to the WIT variants of
//! the same names; their text is what the stage sees.

use tokio::sync::oneshot;

use crate::storage::artifacts::ArtifactRecord;

/// A request from a running attempt.
#[derive(Debug)]
pub enum Request {
    /// Raise `name` (declared in the step's `emits`).
    Emit { name: String, reply: oneshot::Sender<Result<(), SignalError>> },
    /// Whether a signal is raised now.
    Raised { name: String, reply: oneshot::Sender<Result<bool, SignalError>> },
    /// Resume when every name is raised (or fail when one never can be).
    Wait { names: Vec<String>, reply: oneshot::Sender<Result<(), SignalError>> },
    /// The step published an artifact.
    Publish { record: ArtifactRecord, reply: oneshot::Sender<Result<(), ArtifactError>> },
    /// Find an artifact, waiting for its producer if it has not published it yet.
    Lookup { reference: String, reply: oneshot::Sender<Result<ArtifactRecord, ArtifactError>> },
    /// The artifacts the step may see (an untrusted step: only its dependencies').
    List { reply: oneshot::Sender<Vec<ArtifactRecord>> },
}

/// Why a signal call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum SignalError {
    /// The name is not declared (or not valid).
    #[error("undeclared signal: {0}")]
    Undeclared(String),
    /// The signal can never be raised any more.
    #[error("signal never raised: {0}")]
    Never(String),
    /// The wait would never end: its providers wait on it.
    #[error("deadlock: {0}")]
    Deadlock(String),
    /// The step waited on failed or was skipped, or the run is ending.
    #[error("{0}")]
    Failed(String),
}

/// Why an artifact call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ArtifactError {
    #[error("not found: {0}")]
    NotFound(String),
    /// Its producer finished (or cannot progress) without publishing it.
    #[error("never published: {0}")]
    NeverPublished(String),
    /// An untrusted step asked for an artifact of a step it does not depend on.
    #[error("denied: {0}")]
    Denied(String),
    /// The step published too many artifacts.
    #[error("limit: {0}")]
    Limit(String),
}
