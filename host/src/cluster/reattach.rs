//! Losing the coordinator (see [`super::remote`]): the attempts a killed
//! `baton run --nats` left running on workers go on there. Their stages'
//! asks find no one and are asked again ([`super::relay`]) while the worker
//! still owns the attempt; `baton run --nats URL --resume` takes them over:
//! it listens on the subjects of the run it resumes, answers their asks
//! once the scheduler has started their step again (until then it says
//! "later"), and takes their ends as usual. No step that was running is
//! started a second time.

use std::collections::HashMap;

use super::remote::{Inner, Pending, Placed, lock};
use super::{Cluster, ClusterError};
use crate::executor::{Event, Reporter};
use crate::plan::Plan;

/// Most runs a chain of resumes is followed back through.
const MAX_LINEAGE: usize = 64;

/// Run `prev` and the runs it resumed, newest first (each resuming run
/// notes the run it resumes as `resumes`).
pub(super) async fn lineage(cluster: &Cluster, prev: &str) -> Result<Vec<String>, ClusterError> {
    let mut out = vec![prev.to_string()];
    while out.len() < MAX_LINEAGE {
        let last = out.last().expect("not empty");
        match cluster.attempts.read_note(last, "resumes").await? {
            Some(earlier) if !out.contains(&earlier) => out.push(earlier),
            _ => break,
        }
    }
    Ok(out)
}

/// Whether attempt `key` was started by run `run` (keys begin `<run>.`).
pub(super) fn of_run(key: &str, run: &str) -> bool {
    key.strip_prefix(run).is_some_and(|rest| rest.starts_with('.'))
}

/// The attempts the runs of `lineage` (newest first) left running on a
/// worker, by step; their boards stay on those workers (`placed`).
pub(super) async fn running(
    cluster: &Cluster,
    lineage: &[String],
    plan: &Plan,
    placed: &mut HashMap<usize, Placed>,
) -> Result<HashMap<usize, (String, String)>, ClusterError> {
    let mut out = HashMap::new();
    let mut left = Vec::new();
    for run in lineage {
        left.extend(cluster.attempts.running_in(run).await?);
    }
    for (step, key, worker) in left {
        if out.contains_key(&step) {
            continue;
        }
        let Some(def) = plan.steps.get(step) else { continue };
        let p = placed.entry(def.board).or_insert(Placed { worker: worker.clone(), passed: Vec::new() });
        if p.worker != worker {
            // The board moved since (its worker was lost): that attempt is not the board's.
            continue;
        }
        out.insert(step, (key, worker));
    }
    Ok(out)
}

impl Inner {
    /// Takes over the running attempt the resumed run left for `msg`'s
    /// step, if there is one: the attempt's reports come from it. `false`
    /// when there is none (the attempt is to be sent to a worker).
    pub(super) fn take_over(&self, mut msg: super::queue::AttemptMsg, reporter: &Reporter) -> bool {
        let Some((key, worker)) = lock(&self.reattach).remove(&msg.step) else { return false };
        self.note(format!(
            "{} is still running on worker {worker} (attempt {key} of the resumed run): taken over",
            self.step_ids[msg.step]
        ));
        reporter.send(Event::RanOn { worker: worker.clone() });
        reporter.send(Event::Started);
        msg.key = key.clone();
        // Ended meanwhile: the reconciliation finds its committed end.
        lock(&self.pending).insert(key, Pending { reporter: reporter.clone(), worker, msg });
        true
    }

    /// Whether `key` is an attempt to take over whose step has not started
    /// again yet (its asks are answered "later").
    pub(super) fn awaits_take_over(&self, key: &str) -> bool {
        lock(&self.reattach).values().any(|(k, _)| k == key)
    }
}

/// Revokes the attempts the runs of `lineage` left running (they cannot be
/// taken over: the pipeline changed) and cancels them on their workers:
/// their late results are refused and their workspaces are free for this run.
pub(super) async fn abandon(cluster: &Cluster, lineage: &[String]) -> Result<(), ClusterError> {
    for run in lineage {
        for (_, key, worker) in cluster.attempts.running_in(run).await? {
            let_go(cluster, &key, &worker, "the run was resumed with another pipeline").await;
        }
    }
    Ok(())
}

/// Revokes the running attempt `key` on `worker` and cancels it there.
async fn let_go(cluster: &Cluster, key: &str, worker: &str, reason: &str) {
    if let Ok(Some((super::attempts::AttemptState::Running { .. }, revision))) = cluster.attempts.state(key).await {
        let _ = cluster.attempts.revoke(key, revision, reason).await;
    }
    let _ = cluster.client.publish(super::wire::cancel_subject(worker), key.to_string().into()).await;
    let _ = cluster.client.flush().await;
}

impl super::remote::RemoteExecutor {
    /// At the run's end: the attempts left running by the run it resumed
    /// that it never took over (their steps did not run again: `--only`,
    /// a failed dependency, a cancelled run) are revoked and cancelled,
    /// instead of waiting on their workers for a coordinator.
    pub async fn let_go(&self) {
        let inner = self.inner();
        let left: Vec<(String, String)> = lock(&inner.reattach).drain().map(|(_, v)| v).collect();
        for (key, worker) in left {
            let_go(&inner.cluster, &key, &worker, "the run that resumed it did not run the step again").await;
        }
    }
}
