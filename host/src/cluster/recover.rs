//! Losing a worker (see [`super::remote`]): the coordinator watches the
//! heartbeats; when the worker of a board falls silent past
//! [`super::workers::LIVE_WINDOW`], it revokes the board's attempts there
//! (compare-and-set: a late result of the stale worker is refused), places
//! the board on another live worker, replays there the board's steps that
//! had passed (their workspace is gone), and sends the interrupted attempts
//! again: the interrupted attempts end as lost (kind `lost`, naming the
//! worker), the scheduler starts their next attempts at once, and those
//! wait until the board has moved.
//!
//! A replay gets the answers its step's passing attempt got: its signals
//! are raised already, its lookups return the same records, and what it
//! publishes is compared with what the step published (different bytes are
//! reported; the run keeps the first).

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

use super::attempts::AttemptState;
use super::remote::{Inner, Placed, lock};
use super::wire::{Answer, AskKind};
use crate::executor::{ArtifactError, AttemptOutcome, FailureKind};
use crate::storage::artifacts::ArtifactRecord;

/// What a step's passing attempt asked and published.
#[derive(Debug, Default)]
pub struct Asked {
    pub lookups: Vec<(String, ArtifactRecord)>,
    pub list: Vec<ArtifactRecord>,
    pub published: Vec<ArtifactRecord>,
}

/// Checks the heartbeats every second while the run lives.
pub(super) async fn watch_workers(inner: Weak<Inner>) {
    let mut moves = 0u32;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(inner) = inner.upgrade() else { return };
        reconcile(&inner).await;
        let Ok(live) = inner.cluster.workers.live().await else { continue };
        let live: HashSet<String> = live.into_iter().map(|w| w.name).collect();
        let lost: Vec<(usize, Placed)> = {
            let mut placed = lock(&inner.placed);
            let gone: Vec<usize> = placed.iter().filter(|(_, p)| !live.contains(&p.worker)).map(|(b, _)| *b).collect();
            gone.into_iter().filter_map(|b| placed.remove(&b).map(|p| (b, p))).collect()
        };
        for (board, was) in lost {
            moves += 1;
            lock(&inner.moving).insert(board);
            tokio::spawn(move_board(inner.clone(), board, was, moves));
        }
    }
}

/// Ends the attempts whose end is committed but whose event was lost (the
/// server restarted, or the coordinator missed it): the key-value bucket
/// is the truth, the events only the fast path. An attempt its worker gave
/// up (it found no coordinator for too long) ends as lost, and runs again.
async fn reconcile(inner: &Arc<Inner>) {
    let keys: Vec<String> = lock(&inner.pending).keys().chain(lock(&inner.replays).keys()).cloned().collect();
    for key in keys {
        let state = inner.cluster.attempts.state(&key).await;
        // An end nobody can prove the attempt's worker wrote fails the attempt.
        if let Ok(Some((end @ (AttemptState::GivenUp { .. } | AttemptState::Ended { .. }), _))) = &state
            && let Err(why) = inner.check_end(&key, end).await
        {
            let worker = inner.worker_of(&key).unwrap_or_default();
            let message = format!(
                "the end of attempt {key} in the attempts bucket was refused: {why}; someone other than its worker wrote it"
            );
            inner.refused(format!("the end of attempt {key}: {why}"));
            let outcome = super::wire::WireOutcome::Failed { kind: FailureKind::Host, message };
            inner.finish(&key, &worker, outcome, Vec::new());
            continue;
        }
        if let Ok(Some((AttemptState::GivenUp { worker, reason, .. }, _))) = state {
            let message = format!("worker lost: {worker} gave this attempt up ({reason})");
            let outcome = super::wire::WireOutcome::Failed { kind: FailureKind::Lost, message };
            inner.finish(&key, &worker, outcome, Vec::new());
        } else if let Ok(Some((AttemptState::Ended { worker, passed, outcome, log, .. }, _))) = state {
            // The log first: once the attempt is finished the run may end.
            if let (Some(digest), Some((_, step))) = (log, inner.reporter(&key)) {
                inner.keep_log(&key, step, &digest).await;
            }
            let outcome = outcome.unwrap_or(if passed {
                super::wire::WireOutcome::Succeeded
            } else {
                super::wire::WireOutcome::Failed {
                    kind: FailureKind::Host,
                    message: format!("failed on worker {worker}"),
                }
            });
            inner.finish(&key, &worker, outcome, Vec::new());
        }
    }
}

/// Moves `board` off its lost worker.
async fn move_board(inner: Arc<Inner>, board: usize, was: Placed, n: u32) {
    let lost = was.worker.clone();
    let interrupted: Vec<String> = lock(&inner.pending)
        .iter()
        .filter(|(_, p)| p.worker == lost && inner.step_board[p.msg.step] == board)
        .map(|(k, _)| k.clone())
        .collect();
    let mut again = 0;
    for key in interrupted {
        match take_back(&inner, &key, &lost).await {
            // Revoked: it ends as lost; the scheduler's next attempt waits
            // for the move (`moving`) and runs on the new worker.
            Ok(None) => {
                if let Some(p) = lock(&inner.pending).remove(&key) {
                    let message = format!("worker lost: {lost} stopped beating while it ran this attempt");
                    p.reporter.ended(AttemptOutcome::failed(FailureKind::Lost, message), Vec::new());
                }
                again += 1;
            }
            // It ended (and committed) just before: its end counts.
            Ok(Some(passed)) => {
                if let Some(p) = lock(&inner.pending).remove(&key) {
                    let outcome = if passed {
                        AttemptOutcome::Succeeded
                    } else {
                        AttemptOutcome::failed(FailureKind::Host, format!("failed on worker {lost}, which was lost"))
                    };
                    p.reporter.ended(outcome, Vec::new());
                }
            }
            Err(e) => inner.note(format!("cannot take attempt {key} back from lost worker {lost}: {e}")),
        }
    }
    let ids: Vec<&str> = was.passed.iter().map(|s| inner.step_ids[*s].as_str()).collect();
    inner.note(format!(
        "worker {lost} lost; board {} moves to another worker ({} step(s) to run again, {} replayed first: {})",
        inner.boards[board],
        again,
        ids.len(),
        if ids.is_empty() { "none".to_string() } else { ids.join(", ") }
    ));
    // Replays, in the order the steps passed, each after the one before.
    for (i, step) in was.passed.iter().enumerate() {
        let key = format!("{}.{step}.replay{n}-{i}", inner.run);
        let result = replay(&inner, board, *step, key).await;
        if let Err(message) = result {
            // The board's next attempts run in a workspace without what
            // this step made; they will say what is missing.
            inner.note(message);
            break;
        }
        if let Some(p) = lock(&inner.placed).get_mut(&board) {
            p.passed.push(*step);
        }
    }
    lock(&inner.moving).remove(&board);
}

/// Revokes `key` from `lost`: `None` once revoked, `Some(passed)` if it had
/// ended there already.
async fn take_back(inner: &Inner, key: &str, lost: &str) -> Result<Option<bool>, super::ClusterError> {
    for _ in 0..5 {
        match inner.cluster.attempts.state(key).await? {
            None => {
                if inner.cluster.attempts.revoke_unclaimed(key, lost, "worker lost").await? {
                    return Ok(None);
                }
            }
            Some((AttemptState::Running { .. }, revision)) => {
                if inner.cluster.attempts.revoke(key, revision, "worker lost").await.is_ok() {
                    return Ok(None);
                }
            }
            Some((AttemptState::Ended { passed, .. }, _)) => return Ok(Some(passed)),
            Some((AttemptState::Revoked { .. } | AttemptState::GivenUp { .. }, _)) => return Ok(None),
        }
    }
    Err(super::ClusterError::Invalid(format!("attempt {key} keeps changing")))
}

/// Runs a passed step again on the board's new worker and waits for it.
async fn replay(inner: &Arc<Inner>, board: usize, step: usize, key: String) -> Result<(), String> {
    let id = inner.step_ids[step].clone();
    let msg = inner.message(step, 1, key.clone())?;
    let worker = inner.place(board).await.map_err(|e| e.to_string())?;
    let (tx, rx) = oneshot::channel();
    lock(&inner.replays).insert(key.clone(), (step, worker.clone(), tx));
    if let Err(e) = inner.cluster.queue.submit(&msg, &worker).await {
        lock(&inner.replays).remove(&key);
        return Err(format!("cannot replay {id}: {e}"));
    }
    match rx.await {
        Ok(true) => Ok(()),
        _ => Err(format!(
            "its board moved to worker {worker} after a worker was lost, and the replay of {id} failed there"
        )),
    }
}

/// The answer a replay of `step` gets.
pub(super) fn answer_replay(inner: &Inner, step: usize, ask: AskKind) -> Answer {
    let asked = lock(&inner.asked);
    let asked = asked.get(&step);
    match ask {
        AskKind::Emit { .. } | AskKind::Wait { .. } => Answer::Signal(Ok(())),
        AskKind::Raised { .. } => Answer::Raised(Ok(true)),
        AskKind::Publish { record } => {
            let before = asked.and_then(|a| a.published.iter().find(|r| r.reference == record.reference));
            if let Some(before) = before.filter(|b| b.digest != record.digest) {
                inner.note(format!(
                    "the replay of {} published different bytes for {}: {} the first time, {} now; the run keeps the first",
                    inner.step_ids[step], record.reference, before.digest, record.digest
                ));
            }
            Answer::Published(Ok(()))
        }
        AskKind::Lookup { reference } => {
            let found = asked.and_then(|a| a.lookups.iter().find(|(r, _)| *r == reference)).map(|(_, rec)| rec.clone());
            Answer::Record(found.ok_or(ArtifactError::NotFound(reference)))
        }
        AskKind::List => Answer::Records(asked.map(|a| a.list.clone()).unwrap_or_default()),
        AskKind::Ping => Answer::Coordinator(inner.run.clone()),
    }
}
