//! A worker's relay of a stage's requests to the coordinator (see
//! [`super::wire`]): signals and artifact lookups are asked over NATS
//! request-reply; a published artifact's blob is uploaded first, a looked-up
//! one is fetched into the worker's store (verified by digest).
//!
//! While no coordinator answers (it was killed, or a resumed one has not
//! taken the attempt over yet), an ask is sent again, every 100 ms doubling
//! to 2 s, for as long as the worker still owns the attempt and the stage
//! still waits for the answer (its timeout or a cancellation ends that);
//! the step log says once that it waits. Asking again is harmless: an
//! identical publish, emit, lookup or wait changes nothing the second time.

use std::time::Duration;

use tokio::sync::oneshot;

use super::ClusterError;
use super::remote::fetch_blob;
use super::serve::{Worker, lock};
use super::wire::{Answer, Ask, AskKind, ask_subject};
use crate::executor::{ArtifactError, Request, SignalError};

impl Worker {
    /// Sends a stage's request to the coordinator and passes the answer on.
    pub(super) async fn ask(&self, run: &str, key: &str, req: Request) {
        let gone = "the coordinator does not answer for this attempt any more";
        match req {
            Request::Emit { name, reply } => {
                let r = match self.send(run, key, AskKind::Emit { name }, &reply).await {
                    Some(Answer::Signal(r)) => r,
                    _ => Err(SignalError::Failed(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::Raised { name, reply } => {
                let r = match self.send(run, key, AskKind::Raised { name }, &reply).await {
                    Some(Answer::Raised(r)) => r,
                    _ => Err(SignalError::Failed(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::Wait { names, reply } => {
                let r = match self.send(run, key, AskKind::Wait { names }, &reply).await {
                    Some(Answer::Signal(r)) => r,
                    _ => Err(SignalError::Failed(gone.into())),
                };
                let _ = reply.send(r);
            }
            Request::Publish { record, reply } => {
                let r = match self.upload(&record.digest).await {
                    Err(e) => Err(ArtifactError::NotFound(format!("{}: {e}", record.reference))),
                    Ok(()) => match self.send(run, key, AskKind::Publish { record }, &reply).await {
                        Some(Answer::Published(r)) => r,
                        _ => Err(ArtifactError::NeverPublished(gone.into())),
                    },
                };
                let _ = reply.send(r);
            }
            Request::Lookup { reference, reply } => {
                let r = match self.send(run, key, AskKind::Lookup { reference }, &reply).await {
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
                let records = match self.send(run, key, AskKind::List, &reply).await {
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

    /// Asks the coordinator, again while none answers (see the module
    /// doc); `None` once the attempt is not this worker's or the stage
    /// stopped waiting (`reply` closed).
    async fn send<T>(&self, run: &str, key: &str, ask: AskKind, reply: &oneshot::Sender<T>) -> Option<Answer> {
        let payload: bytes::Bytes = serde_json::to_vec(&Ask { key: key.into(), ask }).expect("asks serialize").into();
        let mut pause = FIRST_PAUSE;
        let mut said = false;
        loop {
            // No timeout: a wait lasts as long as the signal takes.
            let request = async_nats::Request::new().payload(payload.clone()).timeout(None);
            // No responders (no coordinator), the connection broke, or the
            // coordinator that took the ask died before it answered: ask again.
            let asked = tokio::select! {
                a = self.cluster.client.send_request(ask_subject(run), request) => a.ok(),
                () = self.coordinator_gone(run) => None,
            };
            if let Some(answer) = asked {
                match serde_json::from_slice(&answer.payload).ok()? {
                    Answer::Later => {}
                    answer => {
                        if said {
                            self.note(key, "the coordinator answers again");
                        }
                        return Some(answer);
                    }
                }
            }
            if reply.is_closed() || !lock(&self.running).contains_key(key) {
                return None;
            }
            // A read that fails (the server restarts) is no proof of loss.
            if let Ok(false) = self.cluster.attempts.owned_by(key, &self.name).await {
                return None;
            }
            if !said {
                said = true;
                self.note(
                    key,
                    "waiting for the coordinator, which does not answer (`baton run --nats URL --resume` takes this step over)",
                );
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LAST_PAUSE);
        }
    }

    /// Resolves once the coordinator that answers for `run` is gone (none
    /// answers a ping, or another one does): an ask in flight to it will
    /// never be answered. Pings every second.
    async fn coordinator_gone(&self, run: &str) {
        let ping: bytes::Bytes =
            serde_json::to_vec(&Ask { key: String::new(), ask: AskKind::Ping }).expect("asks").into();
        let mut first: Option<String> = None;
        loop {
            tokio::time::sleep(PING_EVERY).await;
            let request = async_nats::Request::new().payload(ping.clone()).timeout(Some(PING_EVERY * 5));
            match self.cluster.client.send_request(ask_subject(run), request).await {
                Ok(m) => {
                    let Ok(Answer::Coordinator(id)) = serde_json::from_slice(&m.payload) else { continue };
                    if *first.get_or_insert_with(|| id.clone()) != id {
                        return;
                    }
                }
                Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => return,
                // A slow or restarting server proves nothing.
                Err(_) => {}
            }
        }
    }

    /// Writes a host line into the step log of the running attempt `key`
    /// (appended, in the step log's format).
    fn note(&self, key: &str, text: &str) {
        let Some((path, at)) = lock(&self.running).get(key).map(|r| (r.log.clone(), r.epoch.elapsed())) else {
            return;
        };
        let line = format!("{:9.3}  baton | {text}\n", at.as_secs_f64());
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path);
        if let Ok(mut f) = file {
            let _ = std::io::Write::write_all(&mut f, line.as_bytes());
        }
    }
}

/// The first pause before asking again, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LAST_PAUSE: Duration = Duration::from_secs(2);

/// How often a worker checks that the coordinator an ask waits on lives.
const PING_EVERY: Duration = Duration::from_secs(1);
