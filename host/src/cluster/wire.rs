//! What a worker and the coordinator tell each other about a running
//! attempt, as JSON on core NATS subjects of the run:
//! - `baton.run.<run>.events`: a worker's [`WorkerEvent`]s (started,
//!   progress, ended);
//! - `baton.run.<run>.ask`: a stage's [`Ask`] (signals, artifacts), answered
//!   by the coordinator's scheduler with an [`Answer`]; asked again while no
//!   coordinator answers (it was killed; `--resume` takes the attempt over);
//! - `baton.run.<run>.secrets`: a worker asks for the secrets of an attempt
//!   it claimed (see `secrets`);
//! - `baton.run.<run>.log`: what a running step's log gained (see
//!   [`super::live_log`]);
//! - `baton.cancel.<worker>`: the coordinator cancels an attempt (its key).
//!
//! What a worker sends travels in a [`super::identity::Signed`] envelope,
//! signed by its key; the coordinator believes it only if the key pinned for
//! that worker signed it and the attempt it names runs there.

use serde::{Deserialize, Serialize};

use crate::executor::{ArtifactError, AttemptOutcome, FailureKind, SignalError};
use crate::storage::artifacts::ArtifactRecord;

pub fn events_subject(run: &str) -> String {
    format!("baton.run.{run}.events")
}

pub fn ask_subject(run: &str) -> String {
    format!("baton.run.{run}.ask")
}

pub fn secrets_subject(run: &str) -> String {
    format!("baton.run.{run}.secrets")
}

pub fn log_subject(run: &str) -> String {
    format!("baton.run.{run}.log")
}

pub fn cancel_subject(worker: &str) -> String {
    format!("baton.cancel.{worker}")
}

/// An attempt's outcome on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum WireOutcome {
    Succeeded,
    Failed { kind: FailureKind, message: String },
    Cancelled,
}

impl From<&AttemptOutcome> for WireOutcome {
    fn from(o: &AttemptOutcome) -> Self {
        match o {
            AttemptOutcome::Succeeded => Self::Succeeded,
            AttemptOutcome::Failed { kind, message } => Self::Failed { kind: *kind, message: message.clone() },
            AttemptOutcome::Cancelled => Self::Cancelled,
        }
    }
}

impl From<WireOutcome> for AttemptOutcome {
    fn from(o: WireOutcome) -> Self {
        match o {
            WireOutcome::Succeeded => Self::Succeeded,
            WireOutcome::Failed { kind, message } => Self::Failed { kind, message },
            WireOutcome::Cancelled => Self::Cancelled,
        }
    }
}

/// What a worker reports about the attempt `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum WorkerEvent {
    Started {
        key: String,
        worker: String,
    },
    Progress {
        key: String,
        done: u64,
        total: u64,
        message: String,
    },
    /// Sent only after the worker committed the end (compare-and-set).
    /// `log`: the step log's bytes in the object store.
    Ended {
        key: String,
        worker: String,
        outcome: WireOutcome,
        tail: Vec<String>,
        #[serde(default)]
        log: Option<String>,
    },
}

/// A stage's request, from the attempt `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    pub key: String,
    pub ask: AskKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AskKind {
    Emit {
        name: String,
    },
    Raised {
        name: String,
    },
    Wait {
        names: Vec<String>,
    },
    /// The artifact's blob is in the object store already.
    Publish {
        record: ArtifactRecord,
    },
    Lookup {
        reference: String,
    },
    List,
    /// Who answers for the run now (see [`Answer::Coordinator`]): a worker
    /// whose ask is in flight checks that its coordinator still lives.
    Ping,
}

/// The coordinator's answer to an [`Ask`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "answer", content = "value")]
pub enum Answer {
    Signal(Result<(), SignalError>),
    Raised(Result<bool, SignalError>),
    Published(Result<(), ArtifactError>),
    Record(Result<ArtifactRecord, ArtifactError>),
    Records(Vec<ArtifactRecord>),
    /// The attempt is not (any more) the coordinator's: the run ended or
    /// the attempt was given to another worker.
    Gone,
    /// The coordinator resumed the attempt's run and will take the attempt
    /// over, but has not yet: ask again.
    Later,
    /// The answer to [`AskKind::Ping`]: the id of the coordinator's run
    /// (a resumed run has a new one).
    Coordinator(String),
    /// The ask was not believed (see [`super::identity`]): why.
    Refused(String),
}
