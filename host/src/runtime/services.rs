//! What a running stage asks of the rest of the run (signals, artifact
//! lookups, progress): requests sent to the scheduler, which owns the state
//! of every step and answers when it can.

use tokio::sync::{mpsc, oneshot};

use crate::runtime::bindings::baton::stage::artifacts::ArtifactError;
use crate::runtime::bindings::baton::stage::signals::SignalError;
use crate::storage::artifacts::ArtifactRecord;

/// A request from a step's host call to the scheduler.
#[derive(Debug)]
pub enum ServiceRequest {
    /// Raise `name` (declared in the step's `emits`).
    Emit { step: usize, name: String, reply: oneshot::Sender<Result<(), SignalError>> },
    /// Whether a signal is raised now.
    Raised { step: usize, name: String, reply: oneshot::Sender<Result<bool, SignalError>> },
    /// Resume when every name is raised (or fail when one never can be).
    Wait { step: usize, names: Vec<String>, reply: oneshot::Sender<Result<(), SignalError>> },
    /// The step published an artifact.
    Publish { step: usize, record: ArtifactRecord, reply: oneshot::Sender<Result<(), ArtifactError>> },
    /// Find an artifact, waiting for its producer if it has not published it yet.
    Lookup { step: usize, reference: String, reply: oneshot::Sender<Result<ArtifactRecord, ArtifactError>> },
    /// Every artifact published so far.
    /// The artifacts `step` may see (an untrusted step: only its dependencies').
    List { step: usize, reply: oneshot::Sender<Vec<ArtifactRecord>> },
    /// A progress report from the stage.
    Progress { step: usize, done: u64, total: u64, message: String },
}

/// The sending side, held by every step of a run.
#[derive(Debug, Clone)]
pub struct ServiceHandle {
    tx: mpsc::UnboundedSender<ServiceRequest>,
}

impl ServiceHandle {
    pub fn new(tx: mpsc::UnboundedSender<ServiceRequest>) -> Self {
        Self { tx }
    }

    /// Sends a request; `false` if the scheduler is gone (the run is ending).
    pub fn send(&self, request: ServiceRequest) -> bool {
        self.tx.send(request).is_ok()
    }

    /// Sends a request made with a reply channel and waits for the answer.
    pub async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> ServiceRequest) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        if !self.send(make(reply)) {
            return None;
        }
        answer.await.ok()
    }
}
