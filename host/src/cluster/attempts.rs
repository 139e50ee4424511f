//! Who owns an attempt, decided by compare-and-set in a key-value bucket.
//!
//! One key per attempt, `<run>.<step>.<attempt>`. A worker *claims* an
//! attempt by creating its key (only one create succeeds) and gets a
//! [`Lease`] holding the revision it wrote. Its result counts only if it
//! can *commit* it with a compare-and-set on that revision. When the
//! coordinator declares the worker lost it *revokes* the attempt (a write
//! with the revision it saw), so a stale worker that wakes up later finds a
//! newer revision and its late result is refused.

use async_nats::jetstream::kv::{CreateErrorKind, Store, UpdateErrorKind};
use serde::{Deserialize, Serialize};

use super::identity::{Identity, context, verify};
use super::{ClusterError, is_key_token};

/// The bucket of attempt states.
#[derive(Clone)]
pub struct Attempts {
    kv: Store,
}

/// Where an attempt stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AttemptState {
    /// Claimed by `worker`, not finished.
    Running { worker: String },
    /// `worker` committed its end (`passed`: whether it succeeded; the
    /// outcome, so that the coordinator can learn it without the event).
    Ended {
        worker: String,
        passed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<super::wire::WireOutcome>,
        /// The step log's bytes in the object store.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
        /// The worker's signature of the record (see [`signed`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<String>,
    },
    /// The coordinator gave up on `worker` (`reason`, e.g. `worker lost`).
    Revoked { worker: String, reason: String },
    /// `worker` gave the attempt up itself (`reason`: no coordinator
    /// answered it for too long, or it was told to stop meanwhile).
    GivenUp {
        worker: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sig: Option<String>,
    },
}

/// A claimed attempt: the right to commit its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub worker: String,
    pub revision: u64,
}

/// Why an attempt could not be claimed, revoked or committed.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    #[error("attempt {key} is already claimed ({state:?})")]
    Taken { key: String, state: AttemptState },
    #[error("the result of attempt {key} by worker {worker} is refused: the attempt is no longer its own ({state:?})")]
    Refused { key: String, worker: String, state: Option<AttemptState> },
    #[error("attempt {key} changed since revision {revision}: look again")]
    Changed { key: String, revision: u64 },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// The key of attempt `attempt` of step `step` (its index in the plan) of
/// run `run`; an error for a run id that cannot be a key.
pub fn attempt_key(run: &str, step: usize, attempt: u32) -> Result<String, ClusterError> {
    if !is_key_token(run) {
        return Err(ClusterError::Invalid(format!(
            "run id `{run}` cannot name cluster state: use letters, digits, `-` and `_`"
        )));
    }
    Ok(format!("{run}.{step}.{attempt}"))
}

/// The bytes a worker signs for `state` of attempt `key` (the state
/// without its signature, after the key: a record cannot be moved to
/// another attempt).
fn signed_body(key: &str, state: &AttemptState) -> Vec<u8> {
    let bare = match state.clone() {
        AttemptState::Ended { worker, passed, outcome, log, .. } => {
            AttemptState::Ended { worker, passed, outcome, log, sig: None }
        }
        AttemptState::GivenUp { worker, reason, .. } => AttemptState::GivenUp { worker, reason, sig: None },
        other => other,
    };
    let mut body = format!("{key}\n").into_bytes();
    body.extend(serde_json::to_vec(&bare).expect("attempt states serialize"));
    body
}

/// `state` of attempt `key`, signed by the worker's `identity`.
pub fn signed(key: &str, state: AttemptState, identity: &Identity) -> AttemptState {
    let sig = Some(identity.sign(context::END, &signed_body(key, &state)));
    match state {
        AttemptState::Ended { worker, passed, outcome, log, .. } => {
            AttemptState::Ended { worker, passed, outcome, log, sig }
        }
        AttemptState::GivenUp { worker, reason, .. } => AttemptState::GivenUp { worker, reason, sig },
        other => other,
    }
}

/// Whether `state` of attempt `key` (an end a worker wrote) was signed by
/// the key `public`; the error says why not.
pub fn verify_signed(key: &str, state: &AttemptState, public: &str) -> Result<(), String> {
    let sig = match state {
        AttemptState::Ended { sig, .. } | AttemptState::GivenUp { sig, .. } => sig.as_deref(),
        AttemptState::Running { .. } | AttemptState::Revoked { .. } => None,
    };
    let sig = sig.ok_or_else(|| "it carries no signature".to_string())?;
    verify(public, context::END, &signed_body(key, state), sig)
}

fn encode(state: &AttemptState) -> bytes::Bytes {
    serde_json::to_vec(state).expect("attempt states serialize").into()
}

impl Attempts {
    pub fn new(kv: Store) -> Self {
        Self { kv }
    }

    /// The state of `key` and its revision, `None` if never claimed.
    pub async fn state(&self, key: &str) -> Result<Option<(AttemptState, u64)>, ClusterError> {
        let entry = self.kv.entry(key).await.map_err(|e| ClusterError::io(format!("read of attempt {key}"), e))?;
        let Some(entry) = entry.filter(|e| !e.value.is_empty()) else { return Ok(None) };
        let state = serde_json::from_slice(&entry.value)
            .map_err(|e| ClusterError::Invalid(format!("attempt {key} holds an unreadable state: {e}")))?;
        Ok(Some((state, entry.revision)))
    }

    /// The steps that passed in `run`, with the worker each passed on
    /// (what workers finished, whether or not the coordinator heard of it).
    pub async fn passed_in(&self, run: &str) -> Result<Vec<(usize, String)>, ClusterError> {
        let mut out: Vec<(usize, String)> = (self.states_in(run).await?.into_iter())
            .filter_map(|(step, _, state)| match state {
                AttemptState::Ended { worker, passed: true, .. } => Some((step, worker)),
                _ => None,
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The attempts of `run` still running on a worker: `(step, key, worker)`
    /// (a coordinator that resumes `run` reattaches them).
    pub async fn running_in(&self, run: &str) -> Result<Vec<(usize, String, String)>, ClusterError> {
        let mut out: Vec<(usize, String, String)> = (self.states_in(run).await?.into_iter())
            .filter_map(|(step, key, state)| match state {
                AttemptState::Running { worker } => Some((step, key, worker)),
                _ => None,
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every attempt of `run` (not its replays) with its step and state.
    async fn states_in(&self, run: &str) -> Result<Vec<(usize, String, AttemptState)>, ClusterError> {
        use futures_util::StreamExt;
        let mut keys = self.kv.keys().await.map_err(|e| ClusterError::io("listing attempts", e))?;
        let prefix = format!("{run}.");
        let mut found = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| ClusterError::io("listing attempts", e))?;
            let Some(rest) = key.strip_prefix(&prefix) else { continue };
            let Some(step) = rest.split('.').next().and_then(|s| s.parse::<usize>().ok()) else { continue };
            // Replays re-run steps that had passed already.
            if rest.contains("replay") {
                continue;
            }
            found.push((step, key));
        }
        let mut out = Vec::new();
        for (step, key) in found {
            if let Some((state, _)) = self.state(&key).await? {
                out.push((step, key, state));
            }
        }
        Ok(out)
    }

    /// Whether `worker` still owns the running attempt `key`.
    pub async fn owned_by(&self, key: &str, worker: &str) -> Result<bool, ClusterError> {
        Ok(matches!(self.state(key).await?, Some((AttemptState::Running { worker: w }, _)) if w == worker))
    }

    /// Writes a note about `run` (`<run>.<name>`, e.g. its plan's digest).
    pub async fn note(&self, run: &str, name: &str, value: &str) -> Result<(), ClusterError> {
        self.kv
            .put(format!("{run}.{name}"), value.to_string().into())
            .await
            .map_err(|e| ClusterError::io("note", e))?;
        Ok(())
    }

    /// A note written by [`Attempts::note`].
    pub async fn read_note(&self, run: &str, name: &str) -> Result<Option<String>, ClusterError> {
        let v = self.kv.get(format!("{run}.{name}")).await.map_err(|e| ClusterError::io("note", e))?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Claims `key` for `worker`; fails if anyone claimed it before.
    pub async fn claim(&self, key: &str, worker: &str) -> Result<Lease, OwnershipError> {
        let state = AttemptState::Running { worker: worker.into() };
        match self.kv.create(key, encode(&state)).await {
            Ok(revision) => Ok(Lease { key: key.into(), worker: worker.into(), revision }),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {
                let state = self.state(key).await?.map(|(s, _)| s);
                let state = state.unwrap_or(AttemptState::Revoked { worker: String::new(), reason: "deleted".into() });
                Err(OwnershipError::Taken { key: key.into(), state })
            }
            Err(e) => Err(ClusterError::io(format!("claim of attempt {key}"), e).into()),
        }
    }

    /// Commits the end of a leased attempt; refused if the attempt was
    /// revoked (or otherwise changed) since the lease was taken.
    pub async fn commit(&self, lease: &Lease, passed: bool) -> Result<u64, OwnershipError> {
        let state = AttemptState::Ended { worker: lease.worker.clone(), passed, outcome: None, log: None, sig: None };
        self.commit_state(lease, state).await
    }

    /// As [`Attempts::commit`], keeping the whole outcome and the step
    /// log's digest, signed by the worker (the coordinator believes no
    /// other end).
    pub async fn commit_outcome(
        &self,
        lease: &Lease,
        outcome: super::wire::WireOutcome,
        log: Option<String>,
        identity: &Identity,
    ) -> Result<u64, OwnershipError> {
        let passed = outcome == super::wire::WireOutcome::Succeeded;
        let state =
            AttemptState::Ended { worker: lease.worker.clone(), passed, outcome: Some(outcome), log, sig: None };
        self.commit_state(lease, signed(&lease.key, state, identity)).await
    }

    async fn commit_state(&self, lease: &Lease, state: AttemptState) -> Result<u64, OwnershipError> {
        match self.kv.update(&lease.key, encode(&state), lease.revision).await {
            Ok(revision) => Ok(revision),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(OwnershipError::Refused {
                key: lease.key.clone(),
                worker: lease.worker.clone(),
                state: self.state(&lease.key).await?.map(|(s, _)| s),
            }),
            Err(e) => Err(ClusterError::io(format!("commit of attempt {}", lease.key), e).into()),
        }
    }

    /// Gives up the attempt `lease` holds: from now on its result cannot be
    /// committed, and a coordinator that finds it runs the step again.
    /// Refused if the attempt changed since the lease was taken.
    pub async fn give_up(&self, lease: &Lease, reason: &str, identity: &Identity) -> Result<u64, OwnershipError> {
        let state = AttemptState::GivenUp { worker: lease.worker.clone(), reason: reason.into(), sig: None };
        self.commit_state(lease, signed(&lease.key, state, identity)).await
    }

    /// Revokes an attempt nobody claimed yet (its worker was lost before it
    /// pulled it): a later claim fails. `false` if someone claimed it first.
    pub async fn revoke_unclaimed(&self, key: &str, worker: &str, reason: &str) -> Result<bool, ClusterError> {
        let state = AttemptState::Revoked { worker: worker.into(), reason: reason.into() };
        match self.kv.create(key, encode(&state)).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(ClusterError::io(format!("revoke of attempt {key}"), e)),
        }
    }

    /// Revokes a running attempt seen at `revision` (its worker is lost):
    /// from now on its worker cannot commit. Fails if it changed meanwhile
    /// (for instance the worker committed just before).
    pub async fn revoke(&self, key: &str, revision: u64, reason: &str) -> Result<u64, OwnershipError> {
        let worker = match self.state(key).await? {
            Some((AttemptState::Running { worker }, r)) if r == revision => worker,
            _ => return Err(OwnershipError::Changed { key: key.into(), revision }),
        };
        let state = AttemptState::Revoked { worker, reason: reason.into() };
        match self.kv.update(key, encode(&state), revision).await {
            Ok(revision) => Ok(revision),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                Err(OwnershipError::Changed { key: key.into(), revision })
            }
            Err(e) => Err(ClusterError::io(format!("revoke of attempt {key}"), e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_run_step_and_attempt() {
        assert_eq!(attempt_key("20261129-172355-a1", 3, 2).unwrap(), "20261129-172355-a1.3.2");
        let err = attempt_key("a.b", 0, 1).unwrap_err().to_string();
        assert_eq!(err, "run id `a.b` cannot name cluster state: use letters, digits, `-` and `_`");
    }

    #[test]
    fn an_end_verifies_only_with_its_workers_key_and_for_its_attempt() {
        let me = Identity::generate();
        let other = Identity::generate();
        let ended = |passed| AttemptState::Ended { worker: "w1".into(), passed, outcome: None, log: None, sig: None };
        let state = signed("r.1.1", ended(false), &me);
        assert_eq!(verify_signed("r.1.1", &state, &me.public_hex()), Ok(()));
        assert!(verify_signed("r.1.1", &state, &other.public_hex()).is_err());
        assert!(verify_signed("r.2.1", &state, &me.public_hex()).is_err());
        // The signature of a failure does not make a pass.
        let AttemptState::Ended { sig, .. } = state else { unreachable!() };
        let forged = AttemptState::Ended { worker: "w1".into(), passed: true, outcome: None, log: None, sig };
        assert_eq!(verify_signed("r.1.1", &forged, &me.public_hex()), Err("the signature does not verify".into()));
        assert_eq!(verify_signed("r.1.1", &ended(true), &me.public_hex()), Err("it carries no signature".into()));
    }

    #[test]
    fn states_are_tagged_json() {
        let s = AttemptState::Revoked { worker: "w1".into(), reason: "worker lost".into() };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"state":"revoked","worker":"w1","reason":"worker lost"}"#);
        assert_eq!(serde_json::from_str::<AttemptState>(&json).unwrap(), s);
    }
}
