//! What one past (or running) run was, read back from its journal: for
//! `baton runs` and `baton logs`.

use serde::Serialize;

use super::journal::{self, Record};
use super::runs::RunDir;
use crate::status::{RunStatus, StepStatus};

/// One run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub id: String,
    pub pipeline: String,
    pub status: RunState,
    pub started_unix: Option<f64>,
    /// Seconds; for a run without an end record, until its latest record.
    pub duration: Option<f64>,
    pub resumed_from: Option<String>,
    /// Final status of each step that reached one, in order of finishing.
    pub steps: Vec<(String, StepStatus)>,
    /// Bytes in the run's board workspaces (0 once a resuming run took them over).
    pub workspace_bytes: u64,
    /// Seconds the step cache saved (what its hits took when they ran).
    pub cache_saved: f64,
}

impl RunInfo {
    /// `3 ok, 1 failed, 2 skipped`.
    pub fn step_counts(&self) -> String {
        let mut n = [0usize; StepStatus::ALL.len()];
        for (_, status) in &self.steps {
            if let Some(i) = StepStatus::ALL.iter().position(|s| s == status) {
                n[i] += 1;
            }
        }
        StepStatus::ALL
            .iter()
            .zip(n)
            .filter(|(s, count)| **s != StepStatus::Excluded && *count > 0)
            .map(|(s, count)| match s {
                StepStatus::Cached => format!("{count} cached (saved {:.1}s)", self.cache_saved),
                _ => format!("{count} {}", s.label()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The final status of `step`, if it reached one.
    pub fn status_of(&self, step: &str) -> Option<StepStatus> {
        self.steps.iter().find(|(id, _)| id == step).map(|(_, s)| *s)
    }

    /// Whether the run is over (ended, or its process is gone).
    pub fn is_over(&self) -> bool {
        self.status != RunState::Running
    }
}

/// Where a run is, as `baton runs` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Its process is still writing the journal.
    Running,
    /// It has no end record and nobody writes it: the process crashed or was killed.
    Interrupted,
    /// From its end record.
    Ended(RunStatus),
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Interrupted => "interrupted",
            RunState::Ended(s) => s.as_str(),
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RunState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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
        status: if live { RunState::Running } else { RunState::Interrupted },
        started_unix: None,
        duration: None,
        resumed_from: None,
        steps: Vec::new(),
        workspace_bytes: super::runs::disk_usage(&run.workspaces()),
        cache_saved: 0.0,
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
                info.status = RunState::Ended(status);
                info.duration = Some(duration);
            }
            Record::Cached { saved, .. } => info.cache_saved += saved,
            Record::Artifact { .. } | Record::Signal { .. } | Record::Wait { .. } | Record::Resume { .. } => {}
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

    fn finish(step: &str, status: StepStatus, at: f64) -> Record {
        Record::Finish { step: step.into(), status, at, fingerprint: None, plugin: None, error: None }
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
        j.append(finish("b.a", StepStatus::Ok, 1.0));
        j.append(finish("b.c", StepStatus::Skipped, 2.0));
        j.append(finish("b.b", StepStatus::Failed, 1.5));
        j.flush();
        // Wait for the writer: records are written in the background.
        while read(&run).expect("read").steps.len() < 3 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let info = read(&run).expect("read");
        assert_eq!((info.status, info.duration), (RunState::Running, Some(2.0)));
        assert_eq!(info.step_counts(), "1 ok, 1 failed, 1 skipped");
        j.close().expect("close");
        assert_eq!(read(&run).expect("read").status, RunState::Interrupted);

        let ended = runs::create(dir.path()).expect("run");
        let mut j = Journal::create(&ended.journal()).expect("journal");
        j.append(Record::End { status: RunStatus::Failed, duration: 3.5 });
        j.close().expect("close");
        let info = read(&ended).expect("read");
        assert_eq!((info.status, info.duration), (RunState::Ended(RunStatus::Failed), Some(3.5)));
        assert!(info.is_over());
    }
}
