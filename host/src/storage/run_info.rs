//! What one past (or running) run was, read back from its journal: for
//! `baton runs` and `baton logs`.

use std::collections::HashMap;

use serde::Serialize;

use super::journal::{self, Record};
use super::runs::RunDir;

/// One run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub pipeline: String,
    /// `ok`, `failed`, `cancelled` (from its end record), `running` (its
    /// process is still writing the journal) or `interrupted` (it has no end
    /// record and nobody writes it: the process crashed or was killed).
    pub status: String,
    pub started_unix: Option<f64>,
    /// Seconds; for a run without an end record, until its latest record.
    pub duration: Option<f64>,
    pub resumed_from: Option<String>,
    /// Final status of each step that reached one, in order of finishing.
    pub steps: Vec<(String, String)>,
    /// Bytes in the run's board workspaces (0 once a resuming run took them over).
    pub workspace_bytes: u64,
}

impl RunInfo {
    /// `3 ok, 1 failed, 2 skipped`.
    pub fn step_counts(&self) -> String {
        let mut order: Vec<&str> = Vec::new();
        let mut n: HashMap<&str, usize> = HashMap::new();
        for (_, status) in &self.steps {
            let word = match status.as_str() {
                "previously_done" => "previously done",
                other => other,
            };
            if !n.contains_key(word) {
                order.push(word);
            }
            *n.entry(word).or_default() += 1;
        }
        let rank = |w: &str| ["ok", "previously done", "failed", "cancelled", "skipped"].iter().position(|x| *x == w);
        order.sort_by_key(|w| rank(w).unwrap_or(usize::MAX));
        order.iter().filter(|w| **w != "excluded").map(|w| format!("{} {w}", n[w])).collect::<Vec<_>>().join(", ")
    }

    /// The final status of `step`, if it reached one.
    pub fn status_of(&self, step: &str) -> Option<&str> {
        self.steps.iter().find(|(id, _)| id == step).map(|(_, s)| s.as_str())
    }

    /// Whether the run is over (ended, or its process is gone).
    pub fn is_over(&self) -> bool {
        self.status != "running"
    }
}

/// Reads `run`'s journal.
pub fn read(run: &RunDir) -> std::io::Result<RunInfo> {
    let path = run.journal();
    // Ask before reading: a run that ends in between reads as ended.
    let live = journal::in_use(&path);
    let records = journal::read(&path)?;
    let mut info = RunInfo {
        id: run.id.clone(),
        pipeline: String::new(),
        status: if live { "running" } else { "interrupted" }.into(),
        started_unix: None,
        duration: None,
        resumed_from: None,
        steps: Vec::new(),
        workspace_bytes: super::runs::disk_usage(&run.workspaces()),
    };
    let mut last_at: Option<f64> = None;
    for r in records {
        match r {
            Record::Start { pipeline, started_unix, resumed_from, .. } => {
                info.pipeline = pipeline;
                info.started_unix = Some(started_unix);
                info.resumed_from = resumed_from;
            }
            Record::Attempt { at, .. } => last_at = Some(last_at.map_or(at, |l| l.max(at))),
            Record::Finish { step, status, at, .. } => {
                last_at = Some(last_at.map_or(at, |l| l.max(at)));
                info.steps.push((step, status));
            }
            Record::End { status, duration } => {
                info.status = status;
                info.duration = Some(duration);
            }
            Record::Artifact { .. } | Record::Signal { .. } => {}
        }
    }
    if info.duration.is_none() {
        info.duration = last_at;
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::journal::Journal;
    use crate::storage::runs;

    fn finish(step: &str, status: &str, at: f64) -> Record {
        Record::Finish { step: step.into(), status: status.into(), at, fingerprint: None, plugin: None, error: None }
    }

    #[test]
    fn a_run_is_running_then_ended_or_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = runs::create(dir.path()).expect("run");
        let mut j = Journal::create(&run.journal()).expect("journal");
        j.append(Record::Start {
            run: run.id.clone(),
            pipeline: "demo".into(),
            file: "baton.toml".into(),
            resumed_from: None,
            started_unix: 100.0,
        });
        j.append(finish("b.a", "ok", 1.0));
        j.append(finish("b.c", "skipped", 2.0));
        j.append(finish("b.b", "failed", 1.5));
        j.flush();
        // Wait for the writer: records are written in the background.
        while read(&run).expect("read").steps.len() < 3 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let info = read(&run).expect("read");
        assert_eq!((info.status.as_str(), info.duration), ("running", Some(2.0)));
        assert_eq!(info.step_counts(), "1 ok, 1 failed, 1 skipped");
        j.close().expect("close");
        assert_eq!(read(&run).expect("read").status, "interrupted");

        let ended = runs::create(dir.path()).expect("run");
        let mut j = Journal::create(&ended.journal()).expect("journal");
        j.append(Record::End { status: "failed".into(), duration: 3.5 });
        j.close().expect("close");
        let info = read(&ended).expect("read");
        assert_eq!((info.status.as_str(), info.duration), ("failed", Some(3.5)));
        assert!(info.is_over());
    }
}
