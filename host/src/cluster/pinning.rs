//! The coordinator's side of [`super::identity`]: the workers' keys pinned
//! for the run, and the checks every message and recorded end passes before
//! it counts.
//!
//! A worker's key is pinned when the run places a board on it (from the
//! heartbeat it was chosen by), or, for a worker the run never placed on
//! (attempts a resumed run takes over), from its heartbeat the first time
//! it speaks about an attempt this run waits on. From then on a changed
//! heartbeat changes nothing: only the pinned key signs for that worker in
//! this run. A message is believed only if (1) its envelope's signature
//! verifies with the sender's pinned key and (2) the attempt it names runs
//! on that sender. Refusals are said on stderr and in the report's notes
//! (the first [`MAX_SAID`]; a flood of forgeries does not flood the run).

use std::sync::atomic::Ordering;

use super::attempts::{AttemptState, verify_signed};
use super::identity::Signed;
use super::remote::{Inner, lock};

/// Refusals said per run (the rest are counted).
const MAX_SAID: usize = 20;

impl Inner {
    /// Pins `worker`'s `key` for this run unless one is pinned already.
    pub(super) fn pin(&self, worker: &str, key: &str) {
        lock(&self.pinned).entry(worker.to_string()).or_insert_with(|| key.to_string());
    }

    /// The key pinned for `worker`: pinned now from its heartbeat if the
    /// run has not met it yet.
    async fn pinned(&self, worker: &str) -> Result<String, String> {
        if let Some(k) = lock(&self.pinned).get(worker) {
            return Ok(k.clone());
        }
        let beat = self.cluster.workers.get(worker).await.map_err(|e| e.to_string())?;
        match beat.filter(|b| !b.key.is_empty()) {
            Some(b) => {
                self.pin(worker, &b.key);
                Ok(lock(&self.pinned).get(worker).cloned().unwrap_or(b.key))
            }
            None => Err(format!("worker {worker} announced no signing key")),
        }
    }

    /// The worker the attempt (or replay) `key` runs on, for this run.
    pub(super) fn worker_of(&self, key: &str) -> Option<String> {
        if let Some(p) = lock(&self.pending).get(key) {
            return Some(p.worker.clone());
        }
        if let Some((_, worker, _)) = lock(&self.replays).get(key) {
            return Some(worker.clone());
        }
        lock(&self.reattach).values().find(|(k, _)| k == key).map(|(_, w)| w.clone())
    }

    /// Whether `worker` runs something of this run (only those are heard).
    fn knows(&self, worker: &str) -> bool {
        lock(&self.pinned).contains_key(worker)
            || lock(&self.pending).values().any(|p| p.worker == worker)
            || lock(&self.replays).values().any(|(_, w, _)| w == worker)
            || lock(&self.reattach).values().any(|(_, w)| w == worker)
    }

    /// Opens a worker's signed message: `(worker, body)` if its envelope
    /// was signed by the key pinned for the worker it names.
    pub(super) async fn open(&self, payload: &[u8], context: &str) -> Result<(String, String), String> {
        let env: Signed = serde_json::from_slice(&payload[..payload.len().min(16 << 20)])
            .map_err(|_| "not a signed message".to_string())?;
        let worker = crate::text::escape_text(&env.worker).into_owned();
        if !self.knows(&env.worker) {
            return Err(format!("from `{worker}`, which runs nothing of this run"));
        }
        let key = self.pinned(&env.worker).await.map_err(|e| format!("from worker {worker}: {e}"))?;
        env.open(&key, context)
            .map_err(|e| format!("from worker {worker}: {e} with the key pinned for it in this run"))?;
        Ok((env.worker, env.body))
    }

    /// Whether attempt `key` runs on `worker` (who signed a message about
    /// it): `Ok(false)` for an attempt this run does not wait for (any
    /// more: a late message is dropped quietly), an error naming the
    /// culprit when it runs on another worker.
    pub(super) fn sent_by_its_worker(&self, key: &str, worker: &str) -> Result<bool, String> {
        match self.worker_of(key) {
            Some(w) if w == worker => Ok(true),
            Some(w) => Err(format!(
                "worker {worker} spoke for attempt {}, which runs on worker {w}",
                crate::text::escape_text(key)
            )),
            None => Ok(false),
        }
    }

    /// `Ok` if `state`, the end of attempt `key` in the attempts bucket,
    /// was written by the attempt's worker (signed with its pinned key).
    pub(super) async fn check_end(&self, key: &str, state: &AttemptState) -> Result<(), String> {
        let (AttemptState::Ended { worker, .. } | AttemptState::GivenUp { worker, .. }) = state else {
            return Err("it is not an end".into());
        };
        if !self.sent_by_its_worker(key, worker)? {
            return Err(format!("attempt {} is not one this run waits for", crate::text::escape_text(key)));
        }
        let public = self.pinned(worker).await?;
        verify_signed(key, state, &public)
            .map_err(|e| format!("it is not signed by the key pinned for worker {worker} in this run ({e})"))
    }

    /// Says that something from the network was refused (the first few
    /// times in a run; the count is said at the end).
    pub(super) fn refused(&self, what: String) {
        let n = self.refusals.fetch_add(1, Ordering::Relaxed);
        if n < MAX_SAID {
            self.note(format!("refused {what}"));
        } else if n == MAX_SAID {
            self.note(format!("more than {MAX_SAID} messages were refused in this run; no more are said"));
        }
    }
}
