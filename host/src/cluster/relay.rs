//! A worker's relay of a stage's requests to the coordinator (see
//! [`super::wire`]): signals and artifact lookups are asked over NATS
//! request-reply; a published artifact's blob is uploaded first, a looked-up
//! one is fetched into the worker's store (verified by digest).

use super::ClusterError;
use super::remote::fetch_blob;
use super::serve::Worker;
use super::wire::{Answer, Ask, AskKind, ask_subject};
use crate::executor::{ArtifactError, Request, SignalError};

impl Worker {
    /// Sends a stage's request to the coordinator and passes the answer on.
    pub(super) async fn ask(&self, run: &str, key: &str, req: Request) {
        let gone = "the coordinator does not answer for this attempt any more";
        match req {
            Request::Emit { name, reply } => {
                let r = match self.send(run, key, AskKind::Emit { name }).await {
                    Some(Answer::Signal(r)) => r,
                    _ => Err(SignalError::Failed(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::Raised { name, reply } => {
                let r = match self.send(run, key, AskKind::Raised { name }).await {
                    Some(Answer::Raised(r)) => r,
                    _ => Err(SignalError::Failed(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::Wait { names, reply } => {
                let r = match self.send(run, key, AskKind::Wait { names }).await {
                    Some(Answer::Signal(r)) => r,
                    _ => Err(SignalError::Failed(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::Publish { record, reply } => {
                let r = match self.upload(&record.digest).await {
                    Err(e) => Err(ArtifactError::NotFound(format!("{}: {e}", record.reference))),
                    Ok(()) => match self.send(run, key, AskKind::Publish { record }).await {
                        Some(Answer::Published(r)) => r,
                        _ => Err(ArtifactError::NeverPublished(gone.into())),
                    },
                };
                let _ = reply.send(r);
            }
            Request::Lookup { reference, reply } => {
                let r = match self.send(run, key, AskKind::Lookup { reference }).await {
                    Some(Answer::Record(Ok(record))) => {
                        match fetch_blob(&self.cluster, &self.store, &record.digest).await {
                            Ok(()) => Ok(record),
                            Err(e) => Err(ArtifactError::NotFound(format!("{}: {e}", record.reference))),
                        }
                    }
                    Some(Answer::Record(Err(e))) => Err(e),
                    _ => Err(ArtifactError::NeverPublished(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::List { reply } => {
                let records = match self.send(run, key, AskKind::List).await {
                    Some(Answer::Records(r)) => r,
                    _ => Vec::new(),
                };
                for r in &records {
                    let _ = fetch_blob(&self.cluster, &self.store, &r.digest).await;
                }
                let _ = reply.send(records);
            }
        }
    }

    /// Puts a published blob of the local store into the object store.
    async fn upload(&self, digest: &str) -> Result<(), ClusterError> {
        let path = self.store.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(|e| ClusterError::io(format!("reading {}", path.display()), e))?;
        let stored = self.cluster.blobs.put(&bytes).await?;
        if stored != digest {
            return Err(ClusterError::Invalid(format!("blob {} in the local store is corrupt", path.display())));
        }
        Ok(())
    }

    async fn send(&self, run: &str, key: &str, ask: AskKind) -> Option<Answer> {
        let payload = serde_json::to_vec(&Ask { key: key.into(), ask }).expect("asks serialize");
        // No timeout: a wait lasts as long as the signal takes.
        let request = async_nats::Request::new().payload(payload.into()).timeout(None);
        let answer = self.cluster.client.send_request(ask_subject(run), request).await.ok()?;
        serde_json::from_slice(&answer.payload).ok()
    }
}
