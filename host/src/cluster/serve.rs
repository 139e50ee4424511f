//! The worker's side: pulls the attempts placed on it from the work queue,
//! claims each one (compare-and-set), runs it with the local executor in a
//! workspace of its own, relays the stage's events and requests to the
//! coordinator (see [`super::wire`]), and commits the end before it reports
//! it: a result whose commit is refused (the attempt was revoked) is
//! dropped. Plugins and the pipeline text come from the object store by
//! digest, verified; compiled plugins are kept per digest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::attempts::{AttemptState, Lease, OwnershipError};
use super::identity::{Identity, context};
use super::queue::{AttemptMsg, Delivery};
use super::wire::{WireOutcome, WorkerEvent, cancel_subject, events_subject};
use super::workers::{Accept, BEAT_EVERY, Heartbeat};
use super::{Cluster, ClusterError};
use crate::executor::{Attempt, AttemptOutcome, Event, Executor, FailureKind, PluginRef, Reporter};
use crate::plan::Plan;
use crate::plan::policy::DEFAULT_WASM_STACK;
use crate::runtime::Runtime;
use crate::runtime::context::RunServices;
use crate::runtime::executor::LocalExecutor;
use crate::runtime::plugin::LoadedPlugin;
use crate::sandbox::confine::Confinement;
use crate::storage::artifacts::ArtifactStore;
use crate::text::escape_text;

/// How long a delivery is leased; renewed every third of it while the attempt runs.
const LEASE: Duration = Duration::from_secs(15);

/// A running attempt.
pub(super) struct Running {
    /// The step's id.
    pub(super) id: String,
    cancel: Option<oneshot::Sender<()>>,
    /// The claim: the right to commit the end, or to give the attempt up.
    pub(super) lease: Lease,
    /// The step log and the instant its times count from.
    pub(super) log: PathBuf,
    pub(super) epoch: Instant,
}

pub(super) struct Worker {
    pub(super) cluster: Cluster,
    pub(super) name: String,
    pub(super) dir: PathBuf,
    /// Engines by wasm stack size (a pipeline's `[policy] stack`): the
    /// default one made at start, others when a run asks for them.
    runtimes: Mutex<HashMap<usize, Arc<Runtime>>>,
    jobs: usize,
    pub(super) store: ArtifactStore,
    /// Running attempts: key → (step id, cancel).
    pub(super) running: Mutex<HashMap<String, Running>>,
    plans: Mutex<HashMap<String, Arc<Plan>>>,
    /// Loaded plugins by (digest, name, wasm stack): fetched, verified and
    /// compiled once per engine.
    plugins: Mutex<HashMap<(String, String, usize), Arc<LoadedPlugin>>>,
    /// Held while a copy of the project is unpacked (see [`super::source`]).
    pub(super) unpacking: tokio::sync::Mutex<()>,
    /// Per copy of the project (by sha256 hex): the runs it was checked for.
    pub(super) src_checked: Mutex<HashMap<String, std::collections::HashSet<String>>>,
    /// How long a step waits for a coordinator that does not answer before
    /// the worker gives it up (see [`super::relay`]).
    pub(super) give_up_after: Duration,
    /// Becomes `true` when the worker is told to stop: steps waiting for an
    /// absent coordinator are then given up at once.
    pub(super) stopping: tokio::sync::watch::Sender<bool>,
    /// Its signing key (announced in its heartbeats, see [`super::identity`]).
    pub(super) identity: Arc<Identity>,
    /// Which steps it takes (`--accept`).
    accept: Accept,
}

/// Where a worker keeps compiled plugins: under its `dir`, unless
/// `BATON_CACHE_DIR` is set (workers of one machine then share baton's
/// compile cache; `off` turns it off).
fn compiled_dir(dir: &std::path::Path) -> Option<PathBuf> {
    match std::env::var_os(crate::env_vars::CACHE_DIR) {
        Some(_) => crate::runtime::cache::CompileCache::default_dir(),
        None => Some(dir.join("compiled")),
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves attempts until `stop` resolves, then lets the running ones end
/// (giving up those that wait for an absent coordinator) and leaves.
/// `give_up_after`: how long a step may wait for a coordinator that does
/// not answer.
pub async fn serve(
    cluster: Cluster,
    beat: Heartbeat,
    identity: Arc<Identity>,
    dir: PathBuf,
    give_up_after: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    let compiled = compiled_dir(&dir);
    let runtime = Runtime::with_cache(beat.jobs, DEFAULT_WASM_STACK, compiled.clone())
        .map_err(|e| ClusterError::Invalid(format!("cannot start the wasm engine: {e:#}")))?;
    let consumer = cluster.queue.consumer(&beat.name, LEASE).await?;
    let mut cancels =
        cluster.client.subscribe(cancel_subject(&beat.name)).await.map_err(|e| ClusterError::io("subscribe", e))?;
    let w = Arc::new(Worker {
        cluster: cluster.clone(),
        name: beat.name.clone(),
        store: ArtifactStore::new(dir.join("store")),
        dir,
        runtimes: Mutex::new(HashMap::from([(DEFAULT_WASM_STACK, Arc::new(runtime))])),
        jobs: beat.jobs,
        running: Mutex::new(HashMap::new()),
        plans: Mutex::new(HashMap::new()),
        plugins: Mutex::new(HashMap::new()),
        unpacking: Default::default(),
        src_checked: Default::default(),
        give_up_after,
        stopping: tokio::sync::watch::Sender::new(false),
        identity: identity.clone(),
        accept: beat.accept,
    });
    let beat = Heartbeat { key: identity.public_hex(), ..beat };
    let canceller = {
        let w = w.clone();
        tokio::spawn(async move {
            while let Some(m) = cancels.next().await {
                let key = String::from_utf8_lossy(&m.payload).to_string();
                w.cancel(&key);
            }
        })
    };
    let jobs = beat.jobs;
    let name = beat.name.clone();
    let beating = {
        let w = w.clone();
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                let running = lock(&w.running).values().map(|r| r.id.clone()).collect();
                // A beat that hangs (the server is restarting) is given up, not waited for.
                let now = Heartbeat { running, ..beat.clone() };
                let beating = w.cluster.workers.beat(&now);
                let beat_result = tokio::time::timeout(BEAT_EVERY * 2, beating)
                    .await
                    .unwrap_or_else(|_| Err(ClusterError::io("heartbeat", "no answer from the server")));
                match beat_result {
                    Ok(()) if failing => {
                        failing = false;
                        eprintln!("worker {}: heartbeats reach the server again", w.name);
                    }
                    Err(e) if !failing => {
                        failing = true;
                        eprintln!("worker {}: heartbeat failed, retrying: {e}", w.name);
                    }
                    _ => {}
                }
                tokio::time::sleep(BEAT_EVERY).await;
            }
        })
    };
    let slots = Arc::new(Semaphore::new(jobs));
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        match consumer.next(Duration::from_secs(1)).await {
            Ok(Some(d)) => {
                let w = w.clone();
                tokio::spawn(async move {
                    w.run_one(d).await;
                    drop(permit);
                });
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("worker {}: {e}", w.name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    // Let what runs end (and commit) before leaving; a step that waits for
    // a coordinator that is not there is handed back instead.
    w.stopping.send_replace(true);
    let _ = slots.acquire_many(jobs as u32).await;
    canceller.abort();
    // The beating task may be inside a poll on another thread: wait until it
    // has stopped, so that no beat it sends can land after the leave and list
    // the worker again.
    beating.abort();
    let _ = beating.await;
    if let Err(e) = cluster.workers.leave(&name).await {
        eprintln!("worker {name}: could not remove its heartbeat: {e}");
    }
    Ok(())
}

impl Worker {
    /// Cancels the running attempt `key` (if it runs here): its stage is
    /// interrupted and its processes are killed.
    pub(super) fn cancel(&self, key: &str) {
        if let Some(r) = lock(&self.running).get_mut(key) {
            r.cancel.take();
        }
    }

    async fn run_one(self: Arc<Self>, d: Delivery) {
        let msg = d.msg.clone();
        // The names become paths under --dir: nothing but plain tokens.
        if !super::is_key_token(&msg.run) || !super::is_key_token(&msg.workspace) {
            eprintln!("worker {}: refusing attempt {}: invalid run id", self.name, escape_text(&msg.key));
            let _ = d.done().await;
            return;
        }
        let lease = match self.cluster.attempts.claim(&msg.key, &self.name).await {
            Ok(l) => l,
            Err(e) => {
                // Someone else's (or revoked): not to run here.
                eprintln!("worker {}: {}", self.name, escape_text(&format!("skipping {}: {e}", msg.key)));
                let _ = d.done().await;
                return;
            }
        };
        let mut secrets = crate::text::Secrets::default();
        let prepared = match self.refuses(&msg).await {
            Some(why) => Err(why),
            None => self.prepare(&msg).await,
        };
        let (outcome, tail, id) = match prepared {
            Ok((executor, id)) => {
                secrets = executor.services.secrets.clone();
                let (o, t) = self.clone().run_attempt(&msg, &lease, &d, executor, &id).await;
                (o, t, id)
            }
            Err(message) => (AttemptOutcome::failed(FailureKind::Host, message), Vec::new(), msg.key.clone()),
        };
        // The step's secrets appear in nothing this worker commits, sends or prints.
        let outcome = match outcome {
            AttemptOutcome::Failed { kind, message } => {
                AttemptOutcome::Failed { kind, message: secrets.mask(&message).into_owned() }
            }
            o => o,
        };
        let tail: Vec<String> = tail.iter().map(|l| secrets.mask(l).into_owned()).collect();
        lock(&self.running).remove(&msg.key);
        // The step log goes with the end (in the event and the commit), so
        // that the coordinator's run has it (`baton logs`, the report).
        let log_file = self.dir.join("runs").join(&msg.run).join("logs").join(format!("{id}.log"));
        let log = self.cluster.blobs.put_file(&log_file, None).await.ok();
        // Through a short server outage (a restart), the commit is tried again.
        let commit =
            || self.cluster.attempts.commit_outcome(&lease, WireOutcome::from(&outcome), log.clone(), &self.identity);
        let mut committed = commit().await;
        for _ in 0..30 {
            if !matches!(committed, Err(OwnershipError::Cluster(_))) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            committed = commit().await;
        }
        match committed {
            Ok(_) => {
                let ended = WorkerEvent::Ended {
                    key: msg.key.clone(),
                    worker: self.name.clone(),
                    outcome: WireOutcome::from(&outcome),
                    tail,
                    log,
                };
                self.publish_event(&msg.run, &ended).await;
                let how = match &outcome {
                    AttemptOutcome::Succeeded => "passed".to_string(),
                    AttemptOutcome::Failed { message, .. } => format!("failed: {message}"),
                    AttemptOutcome::Cancelled => "cancelled".to_string(),
                };
                // The stage's error is its own text: shown inert.
                let line = format!("end {id} (attempt {}, run {}): {how}", msg.attempt, msg.run);
                eprintln!("worker {}: {}", self.name, escape_text(&line));
            }
            Err(OwnershipError::Refused { state: Some(AttemptState::GivenUp { .. }), .. }) => {
                eprintln!(
                    "worker {}: {id} (attempt {}) was given up: its end is not committed",
                    self.name, msg.attempt
                );
            }
            Err(OwnershipError::Refused { .. }) => {
                eprintln!(
                    "worker {}: result of {id} (attempt {}) refused: the attempt was taken from this worker",
                    self.name, msg.attempt
                );
            }
            Err(e) => eprintln!("worker {}: cannot commit {id}: {e}", self.name),
        }
        let _ = d.done().await;
    }

    /// The plan of the run (loaded once) and the attempt's plugin, both
    /// from the object store, verified; an error fails the attempt.
    async fn prepare(&self, msg: &AttemptMsg) -> Result<(LocalExecutor, String), String> {
        let plan = self.plan(msg).await?;
        let def = plan.steps.get(msg.step).ok_or_else(|| format!("step {} is not in the run's plan", msg.step))?;
        let index = def.plugin.ok_or_else(|| format!("step {} has no plugin", def.id))?;
        let plugin_def = &plan.plugins[index];
        let stack = plan.wasm_stack as usize;
        let runtime = self.runtime(stack)?;
        let cached = (msg.plugin.clone(), plugin_def.name.clone(), stack);
        let known = lock(&self.plugins).get(&cached).cloned();
        let loaded = match known {
            Some(p) => p,
            None => {
                let bytes = self.cluster.blobs.get(&msg.plugin).await.map_err(|e| format!("plugin refused: {e}"))?;
                // Compiling takes seconds of CPU: off the runtime's threads,
                // which keep the heartbeats going meanwhile.
                let (rt, def) = (runtime.clone(), plugin_def.clone());
                let p = tokio::task::spawn_blocking(move || rt.load_bytes_noting(&def, &bytes, |_| {}))
                    .await
                    .map_err(|e| format!("compiling the plugin: {e}"))?
                    .map_err(|e| e.to_string())?;
                lock(&self.plugins).insert(cached, p.clone());
                p
            }
        };
        let mut plugins: crate::runtime::executor::Plugins = vec![None; plan.plugins.len()];
        plugins[index] = Some(Ok(loaded));
        let logs = self.dir.join("runs").join(&msg.run).join("logs");
        // Asked for only now that the attempt is this worker's; kept in memory.
        let secrets =
            if def.policy.secrets.is_empty() { Default::default() } else { self.secrets(&msg.run, &msg.key).await? };
        let src = match &msg.src {
            Some(digest) => crate::runtime::host::src_view::SourceDir::new(&self.source(digest, &msg.run).await?),
            None => None,
        };
        let services = Arc::new(RunServices {
            run_id: msg.run.clone(),
            store: self.store.clone(),
            confinement: Confinement::detect(),
            secrets,
        });
        let id = def.id.clone();
        let executor = LocalExecutor {
            engine: runtime.engine.clone(),
            max_stages: runtime.max_stages,
            plan,
            plugins,
            services,
            src,
            log_of: Box::new(move |id| logs.join(format!("{id}.log"))),
            epoch: Instant::now(),
            handles: Default::default(),
        };
        Ok((executor, id))
    }

    /// The engine for stages with a `stack`-byte wasm stack, as a local run
    /// of the same pipeline builds it (made on first use).
    fn runtime(&self, stack: usize) -> Result<Arc<Runtime>, String> {
        if let Some(r) = lock(&self.runtimes).get(&stack) {
            return Ok(r.clone());
        }
        let r = Runtime::with_cache(self.jobs, stack, compiled_dir(&self.dir))
            .map_err(|e| format!("cannot start the wasm engine: {e:#}"))?;
        let r = Arc::new(r);
        lock(&self.runtimes).insert(stack, r.clone());
        Ok(r)
    }

    async fn plan(&self, msg: &AttemptMsg) -> Result<Arc<Plan>, String> {
        if let Some(p) = lock(&self.plans).get(&msg.plan) {
            return Ok(p.clone());
        }
        let text = self.cluster.blobs.get(&msg.plan).await.map_err(|e| format!("pipeline refused: {e}"))?;
        let text = String::from_utf8(text).map_err(|_| "the pipeline text is not UTF-8".to_string())?;
        let file = self.dir.join("runs").join(&msg.run).join("baton.toml");
        let plan = Plan::parse_wire(&text, &file).map_err(|e| format!("the run's pipeline does not load here: {e}"))?;
        let plan = Arc::new(plan);
        lock(&self.plans).insert(msg.plan.clone(), plan.clone());
        Ok(plan)
    }

    async fn run_attempt(
        self: Arc<Self>,
        msg: &AttemptMsg,
        lease: &Lease,
        d: &Delivery,
        executor: LocalExecutor,
        id: &str,
    ) -> (AttemptOutcome, Vec<String>) {
        // The board as the plan names it (checked names), not as the message does.
        let board = &executor.plan.boards[executor.plan.steps[msg.step].board];
        let workspace = self.dir.join("ws").join(&msg.workspace).join(board);
        if let Err(e) = std::fs::create_dir_all(&workspace) {
            return (AttemptOutcome::failed(FailureKind::Host, format!("cannot create the workspace: {e}")), vec![]);
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let log = self.dir.join("runs").join(&msg.run).join("logs").join(format!("{id}.log"));
        // From the log's end before the attempt writes to it.
        let mut tail = super::live_log::Tail::new(log.clone());
        let running =
            Running { id: id.to_string(), cancel: Some(cancel_tx), lease: lease.clone(), log, epoch: executor.epoch };
        lock(&self.running).insert(msg.key.clone(), running);
        eprintln!("worker {}: start {id} (attempt {}, run {})", self.name, msg.attempt, msg.run);
        let index = executor.plan.steps[msg.step].plugin.unwrap_or(0);
        let attempt = Attempt {
            step: msg.step,
            number: msg.attempt,
            workspace,
            plugin: PluginRef { index, digest: Some(msg.plugin.trim_start_matches("sha256:").to_string()) },
        };
        let started = WorkerEvent::Started { key: msg.key.clone(), worker: self.name.clone() };
        self.publish_event(&msg.run, &started).await;
        executor.start(attempt, Reporter::new(msg.step, msg.attempt, tx), cancel_rx);
        let mut renew = tokio::time::interval(LEASE / 3);
        let mut stream = tokio::time::interval(super::live_log::EVERY);
        loop {
            tokio::select! {
                report = rx.recv() => match report.map(|r| r.event) {
                    // Said before the attempt started (the local executor starts at once).
                    Some(Event::Started) => {}
                    Some(Event::Progress { done, total, message }) => {
                        let message = executor.services.secrets.mask(&message).into_owned();
                        let e = WorkerEvent::Progress { key: msg.key.clone(), done, total, message };
                        self.publish_event(&msg.run, &e).await;
                    }
                    Some(Event::Request(req)) => {
                        let w = self.clone();
                        let (run, key) = (msg.run.clone(), msg.key.clone());
                        tokio::spawn(async move { w.ask(&run, &key, req).await });
                    }
                    Some(Event::Ended { outcome, tail }) => return (outcome, tail),
                    // The local executor runs here; it never says where.
                    Some(Event::RanOn { .. }) => {}
                    None => return (AttemptOutcome::failed(FailureKind::Host, "the attempt ended without a report"), vec![]),
                },
                _ = renew.tick() => { let _ = d.progress().await; }
                _ = stream.tick() => tail.send(&self, &msg.run, &msg.key).await,
            }
        }
    }

    /// `value` as JSON in an envelope signed by this worker for `context`.
    pub(super) fn signed(&self, context: &str, value: &impl serde::Serialize) -> bytes::Bytes {
        let body = serde_json::to_vec(value).expect("worker messages serialize");
        let env = self.identity.envelope(&self.name, context, body);
        serde_json::to_vec(&env).expect("envelopes serialize").into()
    }

    /// Why this worker does not run `msg`'s step (`--accept`), if it does not.
    async fn refuses(&self, msg: &AttemptMsg) -> Option<String> {
        if self.accept == Accept::Any {
            return None;
        }
        let plan = match self.plan(msg).await {
            Ok(p) => p,
            Err(e) => return Some(e),
        };
        let step = plan.steps.get(msg.step)?;
        let trust = step.policy.trust;
        (!self.accept.takes(trust)).then(|| {
            format!(
                "worker {} accepts only {} steps (--accept), and {} runs {}; not run here",
                self.name,
                self.accept.as_str(),
                step.id,
                if trust == crate::plan::Trust::Trusted { "trusted" } else { "untrusted" }
            )
        })
    }

    async fn publish_event(&self, run: &str, event: &WorkerEvent) {
        let payload = self.signed(context::EVENT, event);
        let _ = self.cluster.client.publish(events_subject(run), payload).await;
        let _ = self.cluster.client.flush().await;
    }
}
