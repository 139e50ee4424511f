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
//!
//! A worker does not wait for ever: once no coordinator has answered for
//! `--give-up-after` (or at once when the worker is told to stop), it gives
//! the attempt up: it marks its claim given up (compare-and-set on the
//! attempt's state, so its result can never count) and cancels the step,
//! which frees the job slot. A coordinator that resumes the run later, or
//! wakes up (SIGCONT), finds the attempt given up and runs the step again.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::ClusterError;
use super::attempts::OwnershipError;
use super::identity::context;
use super::remote::fetch_blob;
use super::serve::{Worker, lock};
use super::wire::{Answer, Ask, AskKind, ask_subject};
use crate::executor::{ArtifactError, Request, SignalError};
use crate::units::Human;

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
        self.cluster.blobs.put_file(&path, Some(digest)).await.map(|_| ())
    }

    /// Asks the coordinator, again while none answers (see the module
    /// doc); `None` once the attempt is not this worker's or the stage
    /// stopped waiting (`reply` closed).
    async fn send<T>(&self, run: &str, key: &str, ask: AskKind, reply: &oneshot::Sender<T>) -> Option<Answer> {
        let payload = self.signed(context::ASK, &Ask { key: key.into(), ask });
        let mut pause = FIRST_PAUSE;
        let mut said = false;
        let mut silent_since: Option<Instant> = None;
        let mut stopping = self.stopping.subscribe();
        loop {
            // No timeout: a wait lasts as long as the signal takes.
            let request = async_nats::Request::new().payload(payload.clone()).timeout(None);
            // No responders (no coordinator), the connection broke, or the
            // coordinator that took the ask died before it answered: ask again.
            let asked = tokio::select! {
                a = self.cluster.client.send_request(ask_subject(run), request) => a.map_err(|_| Instant::now()),
                since = self.coordinator_gone(run) => Err(since),
            };
            match asked {
                Ok(answer) => {
                    silent_since = None;
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
                Err(since) => {
                    silent_since.get_or_insert(since);
                }
            }
            if reply.is_closed() || !lock(&self.running).contains_key(key) {
                return None;
            }
            // A read that fails (the server restarts) is no proof of loss.
            if let Ok(false) = self.cluster.attempts.owned_by(key, &self.name).await {
                return None;
            }
            // Silent: no coordinator answered since then ("later" is an answer).
            let silent = silent_since.map(|t| t.elapsed());
            let why = match silent {
                Some(_) if *stopping.borrow_and_update() => {
                    Some("the worker was told to stop while no coordinator answered".to_string())
                }
                Some(s) if s >= self.give_up_after => {
                    Some(format!("no coordinator answered for {}", Human(self.give_up_after)))
                }
                _ => None,
            };
            if let Some(why) = why
                && self.give_up(key, &why).await
            {
                return None;
            }
            if !said {
                said = true;
                let text = format!(
                    "waiting for the coordinator, which does not answer (`baton run --nats URL --resume` takes this \
                     step over; this worker gives it up after {})",
                    Human(self.give_up_after)
                );
                self.note(key, &text);
            }
            let rest = self.give_up_after.saturating_sub(silent.unwrap_or_default());
            let nap = if rest.is_zero() { pause } else { pause.min(rest) };
            tokio::select! {
                () = tokio::time::sleep(nap) => {}
                _ = stopping.changed() => {}
            }
            pause = (pause * 2).min(LAST_PAUSE);
        }
    }

    /// Gives the running attempt `key` up (see the module doc): marks this
    /// worker's claim given up, says why in the step log and on stderr, and
    /// cancels the step. `false` (nothing done: asked again later) while
    /// the server cannot be reached to record it.
    async fn give_up(&self, key: &str, why: &str) -> bool {
        let Some((id, lease)) = lock(&self.running).get(key).map(|r| (r.id.clone(), r.lease.clone())) else {
            return true;
        };
        // Refused when the claim changed meanwhile (a coordinator revoked
        // it): not this worker's any more, so stopped all the same.
        if let Err(OwnershipError::Cluster(e)) = self.cluster.attempts.give_up(&lease, why, &self.identity).await {
            eprintln!("worker {}: cannot give up {id} yet: {e}", self.name);
            return false;
        }
        self.note(key, &format!("{why}: the step is given up (a resumed run runs it again)"));
        eprintln!("worker {}: gave up {id} ({key}): {why}", self.name);
        self.cancel(key);
        true
    }

    /// Resolves once the coordinator that answers for `run` is gone: an
    /// ask in flight to it will never be answered. Gone: none answers a
    /// ping, another one does, or none has answered one (it is stopped, or
    /// cut off) for `--give-up-after` or since the worker was told to stop.
    /// Pings every second; returns since when no ping was answered.
    async fn coordinator_gone(&self, run: &str) -> Instant {
        let ping = self.signed(context::ASK, &Ask { key: String::new(), ask: AskKind::Ping });
        let mut first: Option<String> = None;
        let mut heard = Instant::now();
        loop {
            tokio::time::sleep(PING_EVERY).await;
            let request = async_nats::Request::new().payload(ping.clone()).timeout(Some(PING_EVERY * 5));
            match self.cluster.client.send_request(ask_subject(run), request).await {
                Ok(m) => {
                    let Ok(Answer::Coordinator(id)) = serde_json::from_slice(&m.payload) else { continue };
                    if *first.get_or_insert_with(|| id.clone()) != id {
                        return Instant::now();
                    }
                    heard = Instant::now();
                }
                Err(e) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => return heard,
                // A slow or restarting server proves nothing, for a while.
                Err(_) if heard.elapsed() >= self.give_up_after || *self.stopping.borrow() => return heard,
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
