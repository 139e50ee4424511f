//! The run journal, `runs/<id>/journal.jsonl`: one JSON record per line,
//! appended after every step status change by a writer thread that writes
//! each batch at once and `fdatasync`s at most every 50 ms and at the end.
//!
//! Appending one line per change costs O(1) however big the graph is, and a
//! crash (`kill -9`, power loss) can only tear the last line, which readers
//! skip: the journal read back is always a prefix of what happened. That is
//! what `--resume` trusts.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::status::{RunStatus, StepStatus};
use crate::storage::artifacts::ArtifactRecord;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Record {
    Start {
        run: String,
        pipeline: String,
        file: String,
        resumed_from: Option<String>,
        started_unix: f64,
    },
    /// A step attempt started.
    Attempt {
        step: String,
        attempt: u32,
        at: f64,
    },
    /// A step reached a final status.
    Finish {
        step: String,
        /// `failed` for a forgiven step too.
        status: StepStatus,
        at: f64,
        /// The step's definition fingerprint and plugin digest (success only).
        fingerprint: Option<String>,
        plugin: Option<String>,
        error: Option<String>,
    },
    Artifact {
        record: ArtifactRecord,
    },
    Signal {
        step: String,
        name: String,
    },
    /// A step came from the step cache (its `Finish` follows).
    Cached {
        step: String,
        /// The key's first 12 hex digits.
        key: String,
        /// Seconds it took when it ran.
        saved: f64,
        /// The run that made the entry.
        from_run: String,
    },
    /// A running step began to wait inside its stage (on signals, steps or
    /// artifacts, as it named them); read by live views (`baton serve`).
    Wait {
        step: String,
        on: Vec<String>,
        at: f64,
    },
    /// A waiting step's wait ended and it got a job slot again.
    Resume {
        step: String,
        at: f64,
    },
    End {
        status: RunStatus,
        duration: f64,
    },
}

/// Appends records from the scheduler without blocking it. Records are
/// encoded at once and handed to the writer thread in batches ([`flush`],
/// called once per scheduler iteration), so a burst of status changes costs
/// one wakeup of the writer, not one per record.
///
/// [`flush`]: Journal::flush
pub struct Journal {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    pending: std::sync::Mutex<Vec<u8>>,
    /// When the oldest queued record was appended.
    queued_since: std::sync::Mutex<Option<Instant>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    path: PathBuf,
}

impl Journal {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        // Held until the journal is closed or the process dies: how other
        // processes tell a running run from one that crashed (`in_use`).
        let _ = file.try_lock();
        if let Some(dir) = path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let writer = std::thread::Builder::new().name("baton-journal".into()).spawn(move || write_loop(file, rx))?;
        Ok(Self {
            tx: Some(tx),
            pending: Default::default(),
            queued_since: Default::default(),
            writer: Some(writer),
            path: path.to_path_buf(),
        })
    }

    /// Queues a record; it reaches the file at the next [`Journal::flush`].
    pub fn append(&self, record: Record) {
        encode(&record, &mut self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        self.queued_since.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(Instant::now);
    }

    /// When the queued records must be handed over ([`Journal::flush_due`]), if any are queued.
    pub fn flush_deadline(&self) -> Option<Instant> {
        let since = *self.queued_since.lock().unwrap_or_else(|p| p.into_inner());
        since.map(|t| t + HAND_OVER_EVERY)
    }

    /// Hands the queued records over if they waited long enough or are
    /// many: a burst of status changes wakes the writer once, and no record
    /// waits more than [`HAND_OVER_EVERY`] to be written.
    pub fn flush_due(&self) {
        let due = self.flush_deadline().is_some_and(|d| Instant::now() >= d)
            || self.pending.lock().unwrap_or_else(|p| p.into_inner()).len() >= HAND_OVER_BYTES;
        if due {
            self.flush();
        }
    }

    /// Hands the queued records to the writer thread.
    pub fn flush(&self) {
        *self.queued_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if let (false, Some(tx)) = (batch.is_empty(), &self.tx) {
            let _ = tx.send(batch);
        }
    }

    /// Writes what is queued, syncs, and stops the writer.
    pub fn close(&mut self) -> std::io::Result<()> {
        self.flush();
        self.tx = None;
        match self.writer.take() {
            Some(w) => w.join().unwrap_or_else(|_| Err(std::io::Error::other("journal writer panicked"))),
            None => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Longest time a record waits to be handed to the writer thread.
const HAND_OVER_EVERY: Duration = Duration::from_millis(5);

/// Queued bytes that are handed over at once.
const HAND_OVER_BYTES: usize = 64 << 10;

/// Longest time a written record waits for its `fdatasync`.
const SYNC_EVERY: Duration = Duration::from_millis(50);

/// Writes each batch at once (a `kill -9` of baton loses nothing written);
/// syncs at most every [`SYNC_EVERY`] (what a machine crash can lose), and
/// always at the end.
fn write_loop(mut file: File, rx: mpsc::Receiver<Vec<u8>>) -> std::io::Result<()> {
    let mut unsynced = false;
    let mut last_sync = Instant::now();
    loop {
        let first = if unsynced {
            match rx.recv_timeout(SYNC_EVERY.saturating_sub(last_sync.elapsed())) {
                Ok(r) => Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(r) => Some(r),
                Err(_) => break,
            }
        };
        if let Some(mut buf) = first {
            while let Ok(more) = rx.try_recv() {
                buf.extend_from_slice(&more);
            }
            file.write_all(&buf)?;
            unsynced = true;
        }
        if unsynced && last_sync.elapsed() >= SYNC_EVERY {
            file.sync_data()?;
            unsynced = false;
            last_sync = Instant::now();
        }
    }
    file.sync_data()
}

fn encode(r: &Record, buf: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *buf, r).is_ok() {
        buf.push(b'\n');
    }
}

/// Whether a live process is writing the journal at `path` (its run is
/// still going); false once the run ended or its process died.
pub fn in_use(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

/// Reads a journal; a torn or unreadable line ends it (what follows a torn
/// line cannot be trusted).
pub fn read(path: &Path) -> std::io::Result<Vec<Record>> {
    let f = File::open(path)?;
    let mut out = Vec::new();
    for line in BufReader::new(f).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) => out.push(r),
            Err(_) => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::create(&path).expect("create");
        j.append(Record::Attempt { step: "a.b".into(), attempt: 1, at: 0.5 });
        j.append(Record::Signal { step: "a.b".into(), name: "x".into() });
        j.close().expect("close");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(br#"{"event":"finish","step":"a.b","sta"#);
        std::fs::write(&path, bytes).expect("write");
        let records = read(&path).expect("read");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1], Record::Signal { step: "a.b".into(), name: "x".into() });
    }

    #[test]
    fn a_journal_is_in_use_until_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::create(&path).expect("create");
        assert!(in_use(&path));
        j.close().expect("close");
        assert!(!in_use(&path));
        assert!(!in_use(&dir.path().join("missing.jsonl")));
    }
}
