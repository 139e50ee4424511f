//! The one Server-Sent Events stream of a page: step changes (`step`), the
//! run's header (`run`), new lines of the page's log (`log`, coalesced:
//! at most one event per tick), and `end` once the run is over. Fed by
//! polling the run's journal and the log every [`TICK`]; each event's id is
//! `<journal records>.<log offset>`, so a client that reconnects with
//! `Last-Event-ID` gets exactly what it missed: the view is rebuilt as it
//! stood at that record, and what changed since is sent first.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::mpsc;

use super::files;
use super::model::{RunView, State};
use super::pages;
use crate::storage::runs::RunDir;

/// How often the journal and the log are looked at.
pub const TICK: Duration = Duration::from_millis(25);

/// Where a client is: journal records seen, log bytes seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub seq: u64,
    pub offset: u64,
}

impl Position {
    /// `12.3456` (as sent in event ids); anything else is refused.
    pub fn parse(s: &str) -> Option<Position> {
        let (seq, offset) = s.trim().split_once('.')?;
        Some(Position { seq: seq.parse().ok()?, offset: offset.parse().ok()? })
    }

    fn id(self) -> String {
        format!("{}.{}", self.seq, self.offset)
    }
}

/// The stream for `run` (and the log of `step` if given) from `from`
/// (`None`: from now).
pub fn sse(
    run: RunDir,
    step: Option<(String, Option<PathBuf>)>,
    from: Option<Position>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = mpsc::channel::<Event>(16);
    tokio::spawn(follow(run, step, from, tx));
    let events = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn step_event(v: &RunView, i: usize) -> Event {
    let s = &v.steps[i];
    let since = match &s.state {
        State::Running { since } | State::Waiting { since, .. } => Some(*since),
        _ => None,
    };
    let data =
        json!({ "id": s.id, "c": s.state.class(), "n": pages::cell_note(&s.state), "l": s.state.label(), "s": since });
    Event::default().event("step").data(data.to_string())
}

fn run_event(v: &RunView) -> Event {
    let data = json!({
        "status": v.status.as_str(),
        "slots": pages::slots(v),
        "counts": pages::counts(v),
        "elapsed": v.duration.unwrap_or(v.last_at),
    });
    Event::default().event("run").data(data.to_string())
}

async fn follow(run: RunDir, step: Option<(String, Option<PathBuf>)>, from: Option<Position>, tx: mpsc::Sender<Event>) {
    let seq = from.map_or(u64::MAX, |p| p.seq);
    let Ok(mut view) = RunView::load_until(&run, seq) else {
        return;
    };
    let (step_id, mut log) = match step {
        Some((id, path)) => (Some(id), path),
        None => (None, None),
    };
    let mut pos = Position { seq: view.seq, offset: from.map_or(0, |p| p.offset) };
    if from.is_none()
        && let Some(p) = &log
    {
        pos.offset = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    }
    let mut first = true;
    loop {
        let mut changed = view.poll(&run).unwrap_or_default();
        let live = view.recheck_live(&run, &mut changed);
        changed.sort_unstable();
        changed.dedup();
        pos.seq = view.seq;
        let mut batch: Vec<Event> = changed.iter().map(|&i| step_event(&view, i)).collect();
        if log.is_none()
            && let Some(id) = &step_id
        {
            log = files::log_path(&run, id);
        }
        if let Some(p) = &log {
            let (lines, next) = files::log_since(p, pos.offset);
            pos.offset = next;
            if !lines.is_empty() {
                batch.push(Event::default().event("log").data(json!({ "lines": lines }).to_string()));
            }
        }
        if first || !changed.is_empty() || !live {
            batch.push(run_event(&view));
        }
        first = false;
        let n = batch.len();
        for (k, e) in batch.into_iter().enumerate() {
            // The id goes on the last event of a tick: a client that has it has them all.
            let e = if k + 1 == n { e.id(pos.id()) } else { e };
            if tx.send(e).await.is_err() {
                return; // the page went away
            }
        }
        if !live {
            let _ = tx.send(Event::default().event("end").data(view.status.as_str())).await;
            return;
        }
        tokio::time::sleep(TICK).await;
    }
}
