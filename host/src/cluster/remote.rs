//! The coordinator's side: [`RemoteExecutor`] implements the scheduler's
//! [`Executor`] by placing each attempt on a live worker through the work
//! queue, and turns the workers' events and asks (see [`super::wire`]) back
//! into the attempt's [`Reporter`] calls.
//!
//! Placement: a board's steps share one workspace, so the first attempt of
//! a board picks the live worker with the fewest boards of this run, and
//! the board's later attempts go to the same worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::queue::AttemptMsg;
use super::wire::{Answer, Ask, AskKind, WorkerEvent, ask_subject, cancel_subject, events_subject};
use super::{Cluster, ClusterError, attempts::AttemptState, attempts::attempt_key};
use crate::executor::{
    ArtifactError, Attempt, AttemptOutcome, Event, Executor, FailureKind, Reporter, Request, SignalError,
};
use crate::plan::Plan;
use crate::storage::artifacts::ArtifactStore;

/// Runs a run's attempts on the cluster's workers.
pub struct RemoteExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Cluster,
    run: String,
    plan_blob: String,
    step_board: Vec<usize>,
    boards: Vec<String>,
    /// Per plan plugin: its bytes in the object store, or why not.
    plugin_blobs: Vec<Result<String, String>>,
    pending: Mutex<HashMap<String, Reporter>>,
    /// Board index → the worker its workspace lives on.
    placed: Mutex<HashMap<usize, String>>,
    /// The coordinator's artifact store (published blobs are fetched into it).
    store: ArtifactStore,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RemoteExecutor {
    /// Puts the pipeline text and the plugins' bytes in the object store
    /// and starts listening to the run's workers.
    pub async fn new(
        cluster: Cluster,
        run: &str,
        plan: &Plan,
        plan_text: &str,
        store: ArtifactStore,
    ) -> Result<Self, ClusterError> {
        attempt_key(run, 0, 1)?;
        let plan_blob = cluster.blobs.put(plan_text.as_bytes()).await?;
        let mut plugin_blobs = Vec::new();
        for def in &plan.plugins {
            plugin_blobs.push(match crate::runtime::plugin::read(def) {
                Ok(bytes) => Ok(cluster.blobs.put(&bytes).await?),
                Err(e) => Err(e.to_string()),
            });
        }
        let events =
            cluster.client.subscribe(events_subject(run)).await.map_err(|e| ClusterError::io("subscribe", e))?;
        let asks = cluster.client.subscribe(ask_subject(run)).await.map_err(|e| ClusterError::io("subscribe", e))?;
        let inner = Arc::new(Inner {
            cluster,
            run: run.into(),
            plan_blob,
            step_board: plan.steps.iter().map(|s| s.board).collect(),
            boards: plan.boards.clone(),
            plugin_blobs,
            pending: Mutex::new(HashMap::new()),
            placed: Mutex::new(HashMap::new()),
            store,
        });
        tokio::spawn(listen_events(inner.clone(), events));
        tokio::spawn(listen_asks(inner.clone(), asks));
        Ok(Self { inner })
    }
}

impl Executor for RemoteExecutor {
    fn capacity(&self) -> usize {
        // The scheduler's job slots bound the attempts; workers queue the rest.
        4096
    }

    fn start(&self, attempt: Attempt, reporter: Reporter, cancel: oneshot::Receiver<()>) {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.dispatch(attempt, reporter, cancel).await });
    }
}

impl Inner {
    async fn dispatch(self: Arc<Self>, attempt: Attempt, reporter: Reporter, cancel: oneshot::Receiver<()>) {
        let fail = |message: String| AttemptOutcome::failed(FailureKind::Host, message);
        let plugin = match self.plugin_blobs.get(attempt.plugin.index) {
            Some(Ok(p)) => p.clone(),
            Some(Err(e)) => return reporter.ended(fail(e.clone()), Vec::new()),
            None => return reporter.ended(fail("plugin not loaded".into()), Vec::new()),
        };
        let key = match attempt_key(&self.run, attempt.step, attempt.number) {
            Ok(k) => k,
            Err(e) => return reporter.ended(fail(e.to_string()), Vec::new()),
        };
        let board = self.step_board[attempt.step];
        let worker = match self.place(board).await {
            Ok(w) => w,
            Err(e) => return reporter.ended(fail(e.to_string()), Vec::new()),
        };
        lock(&self.pending).insert(key.clone(), reporter.clone());
        let msg = AttemptMsg {
            key: key.clone(),
            run: self.run.clone(),
            step: attempt.step,
            attempt: attempt.number,
            board: self.boards[board].clone(),
            plugin,
            plan: self.plan_blob.clone(),
        };
        if let Err(e) = self.cluster.queue.submit(&msg, &worker).await {
            lock(&self.pending).remove(&key);
            return reporter.ended(fail(e.to_string()), Vec::new());
        }
        // Cancellation (or the scheduler dropping the sender after the end).
        let _ = cancel.await;
        if lock(&self.pending).contains_key(&key) {
            let _ = self.cluster.client.publish(cancel_subject(&worker), key.into()).await;
        }
    }

    /// The worker of `board`: the one it is placed on, else the live worker
    /// with the fewest boards (waiting, and saying so, while none is live).
    async fn place(&self, board: usize) -> Result<String, ClusterError> {
        if let Some(w) = lock(&self.placed).get(&board) {
            return Ok(w.clone());
        }
        let mut said = false;
        loop {
            let live = self.cluster.workers.live().await?;
            let chosen = {
                let mut placed = lock(&self.placed);
                if let Some(w) = placed.get(&board) {
                    return Ok(w.clone());
                }
                let load = |name: &str| placed.values().filter(|w| *w == name).count();
                let best = live.iter().min_by_key(|w| (load(&w.name), w.name.clone())).map(|w| w.name.clone());
                if let Some(w) = &best {
                    placed.insert(board, w.clone());
                }
                best
            };
            if let Some(w) = chosen {
                return Ok(w);
            }
            if !said {
                said = true;
                eprintln!("baton: waiting for a live worker (start one with `baton worker --nats URL`)");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn reporter(&self, key: &str) -> Option<Reporter> {
        lock(&self.pending).get(key).cloned()
    }
}

async fn listen_events(inner: Arc<Inner>, mut events: async_nats::Subscriber) {
    while let Some(m) = events.next().await {
        let Ok(event) = serde_json::from_slice::<WorkerEvent>(&m.payload) else { continue };
        match event {
            WorkerEvent::Started { key, .. } => {
                if let Some(r) = inner.reporter(&key) {
                    r.send(Event::Started);
                }
            }
            WorkerEvent::Progress { key, done, total, message } => {
                if let Some(r) = inner.reporter(&key) {
                    r.send(Event::Progress { done, total, message: crate::text::escape_text(&message).into_owned() });
                }
            }
            WorkerEvent::Ended { key, worker, outcome, tail } => {
                // Only the end the owner committed counts.
                let committed = matches!(
                    inner.cluster.attempts.state(&key).await,
                    Ok(Some((AttemptState::Ended { worker: w, .. }, _))) if w == worker
                );
                if !committed {
                    continue;
                }
                if let Some(r) = lock(&inner.pending).remove(&key) {
                    r.ended(outcome.into(), tail);
                }
            }
        }
    }
}

async fn listen_asks(inner: Arc<Inner>, mut asks: async_nats::Subscriber) {
    while let Some(m) = asks.next().await {
        let Some(reply) = m.reply.clone() else { continue };
        let inner = inner.clone();
        tokio::spawn(async move {
            let answer = match serde_json::from_slice::<Ask>(&m.payload) {
                Ok(ask) => match inner.reporter(&ask.key) {
                    Some(r) => answer(&inner, &r, ask.ask).await,
                    None => Answer::Gone,
                },
                Err(_) => Answer::Gone,
            };
            let payload = serde_json::to_vec(&answer).expect("answers serialize");
            let _ = inner.cluster.client.publish(reply, payload.into()).await;
        });
    }
}

async fn answer(inner: &Inner, r: &Reporter, ask: AskKind) -> Answer {
    let ending = || SignalError::Failed("the run is ending".into());
    match ask {
        AskKind::Emit { name } => {
            Answer::Signal(r.ask(|reply| Request::Emit { name, reply }).await.unwrap_or_else(|| Err(ending())))
        }
        AskKind::Raised { name } => {
            Answer::Raised(r.ask(|reply| Request::Raised { name, reply }).await.unwrap_or_else(|| Err(ending())))
        }
        AskKind::Wait { names } => {
            Answer::Signal(r.ask(|reply| Request::Wait { names, reply }).await.unwrap_or_else(|| Err(ending())))
        }
        AskKind::Publish { record } => {
            if let Err(e) = fetch_blob(&inner.cluster, &inner.store, &record.digest).await {
                return Answer::Published(Err(ArtifactError::NotFound(format!("{}: {e}", record.reference))));
            }
            let gone = || Err(ArtifactError::NeverPublished("the run is ending".into()));
            Answer::Published(r.ask(|reply| Request::Publish { record, reply }).await.unwrap_or_else(gone))
        }
        AskKind::Lookup { reference } => {
            let gone = || Err(ArtifactError::NeverPublished("the run is ending".into()));
            Answer::Record(r.ask(|reply| Request::Lookup { reference, reply }).await.unwrap_or_else(gone))
        }
        AskKind::List => Answer::Records(r.ask(|reply| Request::List { reply }).await.unwrap_or_default()),
    }
}

/// Copies blob `digest` from the object store into `store` (verified by
/// digest on the way) unless it is there already.
pub async fn fetch_blob(cluster: &Cluster, store: &ArtifactStore, digest: &str) -> Result<(), super::blobs::BlobError> {
    let path = store.blob_path(digest);
    if path.is_file() {
        return Ok(());
    }
    let bytes = cluster.blobs.get(digest).await?;
    let io = |e: std::io::Error| ClusterError::io(format!("writing blob {digest} into {}", path.display()), e);
    std::fs::create_dir_all(store.tmp_dir()).map_err(io)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(store.tmp_dir()).map_err(io)?;
    std::io::Write::write_all(&mut tmp, &bytes).map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
}
