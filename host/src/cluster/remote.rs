//! The coordinator's side: [`RemoteExecutor`] implements the scheduler's
//! [`Executor`] by placing each attempt on a live worker through the work
//! queue, and turns the workers' events and asks (see [`super::wire`]) back
//! into the attempt's [`Reporter`] calls.
//!
//! Placement (which worker a board goes to) is in `place`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::queue::AttemptMsg;
use super::wire::{ask_subject, cancel_subject, events_subject, log_subject, secrets_subject};
use super::{Cluster, ClusterError, attempts::attempt_key};
use crate::executor::{Attempt, AttemptOutcome, Executor, FailureKind, Reporter};
use crate::plan::Plan;
use crate::storage::artifacts::ArtifactStore;

/// How long a cancelled attempt's worker has to say it stopped.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Runs a run's attempts on the cluster's workers.
pub struct RemoteExecutor {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) cluster: Cluster,
    pub(super) run: String,
    plan_blob: String,
    /// The project's tree in the object store (`/src` on workers), if it packs.
    src_blob: Option<String>,
    /// The run whose workspaces the boards use (see [`AttemptMsg::workspace`]).
    workspace_run: String,
    /// Steps the run it resumes passed on workers.
    adopted: Vec<usize>,
    /// Steps the run it resumes left running on workers: step → (key,
    /// worker); the step's next start here takes that attempt over.
    pub(super) reattach: Mutex<HashMap<usize, (String, String)>>,
    pub(super) step_board: Vec<usize>,
    step_plugin: Vec<Option<usize>>,
    /// Per step: the secrets it reads (sent to the worker that claimed it, see [`super::secrets`]).
    pub(super) step_secrets: Vec<Vec<String>>,
    /// The run's secret values.
    pub(super) secrets: crate::text::Secrets,
    pub(super) step_ids: Vec<String>,
    pub(super) boards: Vec<String>,
    /// Per board: the labels its worker must have.
    pub(super) runs_on: Vec<std::collections::BTreeMap<String, String>>,
    /// Boards being moved off a lost worker: new attempts wait until their
    /// earlier steps are replayed.
    pub(super) moving: Mutex<std::collections::HashSet<usize>>,
    /// Per plan plugin: its bytes in the object store, or why not.
    plugin_blobs: Vec<Result<String, String>>,
    /// Attempts sent to a worker and not ended, by their current key.
    pub(super) pending: Mutex<HashMap<String, Pending>>,
    /// Board index → the worker its workspace lives on.
    pub(super) placed: Mutex<HashMap<usize, Placed>>,
    /// What each step's passing attempt asked and published (replays get the same answers).
    pub(super) asked: Mutex<HashMap<usize, super::recover::Asked>>,
    /// Replays running, by key: their step, their worker and who waits for their end.
    pub(super) replays: Mutex<HashMap<String, Replay>>,
    /// Per worker: its public key, pinned for this run (see [`super::pinning`]).
    pub(super) pinned: Mutex<HashMap<String, String>>,
    /// Messages refused so far (see [`Inner::refused`]).
    pub(super) refusals: std::sync::atomic::AtomicUsize,
    /// Per board: the trust of its steps (which `--accept` takes it).
    pub(super) board_trust: Vec<Vec<crate::plan::Trust>>,
    /// The coordinator's artifact store (published blobs are fetched into it).
    pub(super) store: ArtifactStore,
    /// Where the run keeps a step's log (the worker's copy is fetched there).
    log_of: Box<dyn Fn(&str) -> std::path::PathBuf + Send + Sync>,
    /// Per attempt streaming its log: the offset the next piece must start
    /// at (`u64::MAX` once the whole log came; see [`super::live_log`]).
    pub(super) live_logs: Mutex<HashMap<String, u64>>,
    /// What happened that no attempt shows, for the report (see [`Inner::note`]).
    notes: Mutex<Vec<String>>,
    /// The live workers' slots, when they size the run (see `slots`).
    slots: Option<Arc<tokio::sync::Semaphore>>,
}

/// A replay running: its step, its worker, and who waits for its end.
pub(super) type Replay = (usize, String, oneshot::Sender<bool>);

/// What the coordinator's run keeps on its own machine.
pub struct RunLocal {
    /// The run's artifact store (published blobs are fetched into it).
    pub store: ArtifactStore,
    /// The run's secret values (sent only to the worker of an attempt that reads them).
    pub secrets: crate::text::Secrets,
    /// Where the run keeps a step's log.
    pub log_of: Box<dyn Fn(&str) -> std::path::PathBuf + Send + Sync>,
    /// No `--jobs`: as many attempts out as the live workers have slots (see `slots`).
    pub sized_by_cluster: bool,
}

/// An attempt on a worker.
pub(super) struct Pending {
    pub(super) reporter: Reporter,
    pub(super) worker: String,
    pub(super) msg: AttemptMsg,
}

/// A board's worker and the steps that passed there, in order (replayed
/// first when the board moves).
#[derive(Debug, Clone)]
pub(super) struct Placed {
    pub(super) worker: String,
    pub(super) passed: Vec<usize>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
        local: RunLocal,
        resumes: Option<&str>,
    ) -> Result<Self, ClusterError> {
        let RunLocal { store, secrets, log_of, sized_by_cluster } = local;
        let slots = sized_by_cluster.then(|| Arc::new(tokio::sync::Semaphore::new(0)));
        attempt_key(run, 0, 1)?;
        let has_secrets = plan.steps.iter().any(|s| !s.policy.secrets.is_empty());
        super::connect::check_run(cluster.security, has_secrets, &cluster.url)?;
        let plan_blob = cluster.blobs.put(plan_text.as_bytes()).await?;
        cluster.attempts.note(run, "plan", &plan_blob).await?;
        // A resumed run takes over the boards where the workers left them:
        // same workspaces, same workers, the steps they passed done.
        let mut workspace_run = run.to_string();
        let mut placed = HashMap::new();
        let mut adopted = Vec::new();
        let mut reattach = HashMap::new();
        let mut lineage = Vec::new();
        if let Some(prev) = resumes {
            cluster.attempts.note(run, "resumes", prev).await?;
            workspace_run = cluster.attempts.read_note(prev, "ws").await?.unwrap_or_else(|| prev.to_string());
            // A resumed run's attempts it took over keep the key of the run
            // that started them: look through every run this one continues.
            lineage = super::reattach::lineage(&cluster, prev).await?;
            if cluster.attempts.read_note(prev, "plan").await?.as_deref() == Some(plan_blob.as_str()) {
                for earlier in lineage.iter().rev() {
                    for (step, worker) in cluster.attempts.passed_in(earlier).await? {
                        let Some(def) = plan.steps.get(step) else { continue };
                        let p =
                            placed.entry(def.board).or_insert(Placed { worker: worker.clone(), passed: Vec::new() });
                        if p.worker != worker {
                            *p = Placed { worker, passed: Vec::new() };
                        }
                        p.passed.push(step);
                        adopted.push(step);
                    }
                }
                reattach = super::reattach::running(&cluster, &lineage, plan, &mut placed).await?;
            } else {
                super::reattach::abandon(&cluster, &lineage).await?;
            }
        }
        cluster.attempts.note(run, "ws", &workspace_run).await?;
        let mut plugin_blobs = Vec::new();
        for def in &plan.plugins {
            plugin_blobs.push(match crate::runtime::plugin::read(def) {
                Ok(bytes) => Ok(cluster.blobs.put(&bytes).await?),
                Err(e) => Err(e.to_string()),
            });
        }
        let src_blob = super::source::put(&cluster, &plan.src_dir).await?;
        let events =
            cluster.client.subscribe(events_subject(run)).await.map_err(|e| ClusterError::io("subscribe", e))?;
        let asks = cluster.client.subscribe(ask_subject(run)).await.map_err(|e| ClusterError::io("subscribe", e))?;
        let secret_asks =
            cluster.client.subscribe(secrets_subject(run)).await.map_err(|e| ClusterError::io("subscribe", e))?;
        let log_pieces =
            cluster.client.subscribe(log_subject(run)).await.map_err(|e| ClusterError::io("subscribe", e))?;
        // The attempts taken over still talk on the subjects of their run.
        let mut earlier = Vec::new();
        for prev in lineage.iter().filter(|r| reattach.values().any(|(key, _)| super::reattach::of_run(key, r))) {
            earlier.push((
                cluster.client.subscribe(events_subject(prev)).await.map_err(|e| ClusterError::io("subscribe", e))?,
                cluster.client.subscribe(ask_subject(prev)).await.map_err(|e| ClusterError::io("subscribe", e))?,
                cluster.client.subscribe(secrets_subject(prev)).await.map_err(|e| ClusterError::io("subscribe", e))?,
            ));
        }
        let inner = Arc::new(Inner {
            cluster,
            run: run.into(),
            plan_blob,
            src_blob,
            workspace_run,
            adopted,
            reattach: Mutex::new(reattach),
            step_board: plan.steps.iter().map(|s| s.board).collect(),
            step_plugin: plan.steps.iter().map(|s| s.plugin).collect(),
            step_secrets: plan.steps.iter().map(|s| s.policy.secrets.clone()).collect(),
            secrets,
            step_ids: plan.steps.iter().map(|s| s.id.clone()).collect(),
            boards: plan.boards.clone(),
            runs_on: plan.runs_on.clone(),
            moving: Mutex::new(Default::default()),
            plugin_blobs,
            pending: Mutex::new(HashMap::new()),
            placed: Mutex::new(placed),
            asked: Mutex::new(HashMap::new()),
            replays: Mutex::new(HashMap::new()),
            pinned: Mutex::new(HashMap::new()),
            refusals: Default::default(),
            board_trust: (0..plan.boards.len())
                .map(|b| {
                    use crate::plan::Trust;
                    let has = |t: Trust| plan.steps.iter().any(|s| s.board == b && s.policy.trust == t);
                    [Trust::Trusted, Trust::Untrusted].into_iter().filter(|t| has(*t)).collect()
                })
                .collect(),
            store,
            log_of,
            live_logs: Mutex::new(HashMap::new()),
            notes: Mutex::new(Vec::new()),
            slots: slots.clone(),
        });
        if let Some(slots) = slots {
            tokio::spawn(super::slots::follow_workers(Arc::downgrade(&inner), slots));
        }
        tokio::spawn(super::listen::events(inner.clone(), events));
        tokio::spawn(super::listen::asks(inner.clone(), asks));
        tokio::spawn(super::secrets::serve(inner.clone(), secret_asks));
        tokio::spawn(super::live_log::listen(inner.clone(), log_pieces));
        for (events, asks, secret_asks) in earlier {
            tokio::spawn(super::listen::events(inner.clone(), events));
            tokio::spawn(super::listen::asks(inner.clone(), asks));
            tokio::spawn(super::secrets::serve(inner.clone(), secret_asks));
        }
        tokio::spawn(super::recover::watch_workers(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }
}

impl RemoteExecutor {
    /// Steps of the resumed run that workers passed (after the journal of
    /// that run's coordinator last heard of them, too): not to run again.
    pub fn adopted(&self) -> &[usize] {
        &self.inner.adopted
    }

    pub(super) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Steps the resumed run left running on workers, which this run takes
    /// over when it starts them (see `reattach`).
    pub fn taken_over(&self) -> Vec<usize> {
        lock(&self.inner.reattach).keys().copied().collect()
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

    fn notes(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.inner.notes))
    }
}

impl Inner {
    /// Says `text` on stderr (`baton: ...`) and keeps it for the report's
    /// notes: what happened to the run that no attempt shows.
    pub(super) fn note(&self, text: String) {
        eprintln!("baton: {}", crate::text::escape_text(&text));
        lock(&self.notes).push(text);
    }

    async fn dispatch(self: Arc<Self>, attempt: Attempt, reporter: Reporter, cancel: oneshot::Receiver<()>) {
        let fail = |message: String| AttemptOutcome::failed(FailureKind::Host, message);
        let key = match attempt_key(&self.run, attempt.step, attempt.number) {
            Ok(k) => k,
            Err(e) => return reporter.ended(fail(e.to_string()), Vec::new()),
        };
        let msg = match self.message(attempt.step, attempt.number, key.clone()) {
            Ok(m) => m,
            Err(e) => return reporter.ended(fail(e), Vec::new()),
        };
        let mut cancel = cancel;
        // A free slot on the cluster first (held until the attempt ends).
        let _slot = match &self.slots {
            Some(slots) => tokio::select! {
                slot = slots.clone().acquire_owned() => slot.ok(),
                asked = &mut cancel => {
                    if asked.is_ok() {
                        reporter.ended(AttemptOutcome::Cancelled, Vec::new());
                    }
                    return;
                }
            },
            None => None,
        };
        // A step the coordinator before this one left running: take it over.
        if !self.take_over(msg.clone(), &reporter) {
            let board = self.step_board[attempt.step];
            // Placing waits for a live worker, maybe for ever: a cancel
            // while it waits ends the attempt at once (nothing runs it).
            tokio::select! {
                sent = self.send(board, msg, reporter.clone()) => {
                    if let Err(e) = sent {
                        return reporter.ended(fail(e.to_string()), Vec::new());
                    }
                }
                asked = &mut cancel => {
                    if asked.is_ok() {
                        self.cancel_placed(attempt.step, attempt.number, reporter).await;
                    }
                    return;
                }
            }
        }
        // Cancellation (or the scheduler dropping the sender after the end).
        if cancel.await.is_ok() {
            self.cancel_placed(attempt.step, attempt.number, reporter).await;
        }
    }

    /// The attempt `number` of `step` under its current key and worker (it
    /// may have moved), if it is still out.
    fn current(&self, step: usize, number: u32) -> Option<(String, String)> {
        lock(&self.pending)
            .iter()
            .find(|(_, p)| p.msg.step == step && p.msg.attempt == number)
            .map(|(k, p)| (k.clone(), p.worker.clone()))
    }

    /// Cancels attempt `number` of `step`: one not on any worker ends at
    /// once; one on a worker is cancelled there, and its end awaited for
    /// [`CANCEL_WAIT`] at most, after which the coordinator gives it up
    /// (and says so): a worker that does not answer cannot hold the run.
    async fn cancel_placed(&self, step: usize, number: u32, reporter: Reporter) {
        let Some((key, worker)) = self.current(step, number) else {
            return reporter.ended(AttemptOutcome::Cancelled, Vec::new());
        };
        let _ = self.cluster.client.publish(cancel_subject(&worker), key.into()).await;
        let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
        while tokio::time::Instant::now() < deadline {
            if self.current(step, number).is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Still out: whichever key it has now, it ends here.
        let Some((key, worker)) = self.current(step, number) else { return };
        let Some(p) = lock(&self.pending).remove(&key) else { return };
        self.note(format!(
            "gave up waiting for worker {worker} to stop step {} after {} s; its result, if any, is ignored",
            self.step_ids[step],
            CANCEL_WAIT.as_secs()
        ));
        p.reporter.ended(AttemptOutcome::Cancelled, Vec::new());
    }

    /// The message of attempt `number` of `step` under `key`.
    pub(super) fn message(&self, step: usize, number: u32, key: String) -> Result<AttemptMsg, String> {
        let plugin = match self.step_plugin[step].and_then(|i| self.plugin_blobs.get(i)) {
            Some(Ok(p)) => p.clone(),
            Some(Err(e)) => return Err(e.clone()),
            None => return Err("plugin not loaded".into()),
        };
        Ok(AttemptMsg {
            key,
            run: self.run.clone(),
            step,
            attempt: number,
            board: self.boards[self.step_board[step]].clone(),
            plugin,
            plan: self.plan_blob.clone(),
            workspace: self.workspace_run.clone(),
            src: self.src_blob.clone(),
        })
    }

    /// Places `board` and queues `msg` on its worker.
    pub(super) async fn send(&self, board: usize, msg: AttemptMsg, reporter: Reporter) -> Result<(), ClusterError> {
        while lock(&self.moving).contains(&board) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let worker = self.place(board).await?;
        let key = msg.key.clone();
        lock(&self.pending).insert(key.clone(), Pending { reporter, worker: worker.clone(), msg: msg.clone() });
        // Through a short server outage (a restart): the same message id is
        // queued once however often it is sent.
        let mut tries = 0;
        loop {
            match self.cluster.queue.submit(&msg, &worker).await {
                Ok(_) => return Ok(()),
                Err(_) if tries < 30 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    lock(&self.pending).remove(&key);
                    return Err(e);
                }
            }
        }
    }

    /// Ends attempt (or replay) `key`, committed by `worker`, once: the
    /// event and the reconciliation may both find it.
    pub(super) fn finish(&self, key: &str, worker: &str, outcome: super::wire::WireOutcome, tail: Vec<String>) {
        let passed = outcome == super::wire::WireOutcome::Succeeded;
        if let Some((_, _, waiter)) = lock(&self.replays).remove(key) {
            let _ = waiter.send(passed);
            return;
        }
        let Some(p) = lock(&self.pending).remove(key) else { return };
        if passed {
            let board = self.step_board[p.msg.step];
            if let Some(placed) = lock(&self.placed).get_mut(&board).filter(|pl| pl.worker == worker) {
                placed.passed.push(p.msg.step);
            }
        }
        p.reporter.ended(outcome.into(), tail);
    }

    /// Copies the log of attempt `key` of `step` from the object store into
    /// the run (verified), in place of what was streamed.
    pub(super) async fn keep_log(&self, key: &str, step: usize, digest: &str) {
        lock(&self.live_logs).insert(key.to_string(), u64::MAX);
        let _ = self.cluster.blobs.get_to_file(digest, &self.log_path(step)).await;
    }

    /// The run's log of `step` (the file `baton logs` reads).
    pub(super) fn log_path(&self, step: usize) -> std::path::PathBuf {
        (self.log_of)(&self.step_ids[step])
    }

    pub(super) fn reporter(&self, key: &str) -> Option<(Reporter, usize)> {
        lock(&self.pending).get(key).map(|p| (p.reporter.clone(), p.msg.step))
    }
}

/// Copies blob `digest` from the object store into `store` (verified by
/// digest on the way, streamed) unless it is there already.
pub async fn fetch_blob(cluster: &Cluster, store: &ArtifactStore, digest: &str) -> Result<(), super::blobs::BlobError> {
    let path = store.blob_path(digest);
    if path.is_file() {
        return Ok(());
    }
    cluster.blobs.get_to_file(digest, &path).await
}
