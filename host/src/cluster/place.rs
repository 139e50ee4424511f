//! Placement (see [`super::remote`]): a board's steps share one workspace,
//! so the first attempt of a board picks the live worker with the fewest
//! boards of this run that has the board's `runs_on` labels (waiting, and
//! saying so, while there is none), and the board's later attempts go to
//! the same worker.

use std::time::Duration;

use super::ClusterError;
use super::remote::{Inner, Placed, lock};

impl Inner {
    /// The worker of `board`: the one it is placed on, else the live worker
    /// with the fewest boards (waiting, and saying so, while none is live).
    pub(super) async fn place(&self, board: usize) -> Result<String, ClusterError> {
        if let Some(p) = lock(&self.placed).get(&board) {
            return Ok(p.worker.clone());
        }
        let wants = &self.runs_on[board];
        let mut said = false;
        loop {
            let live = self.cluster.workers.live().await?;
            let trusts = &self.board_trust[board];
            // A worker with no signing key could prove none of its results.
            let fits = |w: &&super::workers::Heartbeat| {
                !w.key.is_empty()
                    && wants.iter().all(|(k, v)| w.labels.get(k) == Some(v))
                    && trusts.iter().all(|t| w.accept.takes(*t))
            };
            let chosen = {
                let mut placed = lock(&self.placed);
                if let Some(p) = placed.get(&board) {
                    return Ok(p.worker.clone());
                }
                let load = |name: &str| placed.values().filter(|p| p.worker == name).count();
                let best = live.iter().filter(fits).min_by_key(|w| (load(&w.name), w.name.clone()));
                if let Some(w) = best {
                    placed.insert(board, Placed { worker: w.name.clone(), passed: Vec::new() });
                }
                best.cloned()
            };
            // The key it was chosen by is the one its results must carry.
            let chosen = chosen.map(|w| {
                self.pin(&w.name, &w.key);
                w.name
            });
            if let Some(w) = chosen {
                if said {
                    eprintln!("baton: board {} placed on worker {w}", self.boards[board]);
                }
                return Ok(w);
            }
            if !said {
                said = true;
                eprintln!("baton: {}", waiting_for(&self.boards[board], wants, trusts, &live));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Why `board` waits: no live worker, or none with its labels.
fn waiting_for(
    board: &str,
    wants: &std::collections::BTreeMap<String, String>,
    trusts: &[crate::plan::Trust],
    live: &[super::workers::Heartbeat],
) -> String {
    let trust_name = |t: &crate::plan::Trust| match t {
        crate::plan::Trust::Trusted => "trusted",
        crate::plan::Trust::Untrusted => "untrusted",
    };
    let refusing: Vec<String> = (live.iter())
        .filter(|w| trusts.iter().any(|t| !w.accept.takes(*t)))
        .map(|w| format!("{} (--accept {})", w.name, w.accept.as_str()))
        .collect();
    if wants.is_empty() && !live.is_empty() && refusing.len() == live.len() {
        let kinds: Vec<&str> = trusts.iter().map(trust_name).collect();
        let text = format!(
            "board {board} has {} steps and waits for a worker that accepts them: the live workers do not ({}); start one with `baton worker --accept any` (or `--accept {}`)",
            kinds.join(" and "),
            refusing.join(", "),
            if kinds.len() == 1 { kinds[0] } else { "any" }
        );
        return crate::text::escape_text(&text).into_owned();
    }
    let labels = |m: &std::collections::BTreeMap<String, String>| {
        m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    };
    let text = if wants.is_empty() {
        format!("board {board} waits for a live worker (start one with `baton worker --nats URL`)")
    } else {
        let seen: Vec<String> = live.iter().map(|w| format!("{} [{}]", w.name, labels(&w.labels))).collect();
        format!(
            "board {board} waits for a worker with labels {} (start one with `baton worker --label ...`); live workers: {}",
            labels(wants),
            if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
        )
    };
    crate::text::escape_text(&text).into_owned()
}
