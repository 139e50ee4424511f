//! What the server reads besides the journal: step logs and artifacts.
//! Both are found by looking a name up in the run's own lists (its steps,
//! its log files, its artifact records), never by joining a requested name
//! onto a path, so no request reaches a file the run did not make.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use crate::storage::artifacts::{ArtifactRecord, ArtifactStore, Kind};
use crate::storage::runs::RunDir;
use crate::text::escape_line;

/// Lines a log page shows on open.
pub const LOG_LINES: usize = 1000;

/// Bytes read from the end of a log for its page (a log holds at most its
/// step's `log_limit`; the page needs only its last lines).
const TAIL_BYTES: u64 = 4 << 20;

/// Most bytes one stream event carries; more new bytes in one tick are
/// skipped with a note pointing at the raw log.
pub const MAX_CHUNK: u64 = 1 << 20;

/// The log file of `step` in `run`, if the run wrote one: looked up in the
/// run's log files by step id.
pub fn log_path(run: &RunDir, step: &str) -> Option<PathBuf> {
    run.log_files().into_iter().find(|(id, _)| id == step).map(|(_, p)| p)
}

/// The last `max` complete lines of a log, shown as `baton logs` shows
/// them (control characters escaped), whether earlier lines were left out,
/// and the byte offset after the last complete line (where a stream goes on).
pub fn log_tail(path: Option<&PathBuf>, max: usize) -> (Vec<String>, bool, u64) {
    let Some(path) = path else {
        return (Vec::new(), false, 0);
    };
    let Ok(mut f) = std::fs::File::open(path) else {
        return (Vec::new(), false, 0);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.take(len - start).read_to_end(&mut buf).is_err() {
        return (Vec::new(), false, 0);
    }
    let end = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut text = &buf[..end];
    if start > 0 {
        // The first line read is likely cut: drop it.
        let cut = text.iter().position(|&b| b == b'\n').map_or(text.len(), |i| i + 1);
        text = &text[cut..];
    }
    let all: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let all = &all[..all.len().saturating_sub(1)]; // after the last newline
    let skip = all.len().saturating_sub(max);
    let lines = all[skip..].iter().map(|l| escape_line(&String::from_utf8_lossy(l)).into_owned()).collect();
    (lines, skip > 0 || start > 0, start + end as u64)
}

/// New complete lines of a log since `offset`, shown as on the page, and
/// the offset after them. A burst over [`MAX_CHUNK`] is skipped with a note.
pub fn log_since(path: &PathBuf, offset: u64) -> (Vec<String>, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (Vec::new(), offset);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len <= offset {
        return (Vec::new(), offset);
    }
    let mut lines = Vec::new();
    let mut from = offset;
    if len - offset > MAX_CHUNK {
        from = len - MAX_CHUNK;
        lines.push(format!("[… {} bytes not shown live: open the raw log]", from - offset));
    }
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.take(len - from).read_to_end(&mut buf).is_err() {
        return (Vec::new(), offset);
    }
    let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
        return (lines, if from > offset { from } else { offset });
    };
    let mut text = &buf[..end];
    if from > offset {
        let cut = text.iter().position(|&b| b == b'\n').map_or(text.len(), |i| i + 1);
        text = &text[cut.min(text.len())..];
    }
    if !text.is_empty() {
        lines.extend(text.split(|&b| b == b'\n').map(|l| escape_line(&String::from_utf8_lossy(l)).into_owned()));
    }
    (lines, from + end as u64 + 1)
}

/// The artifact `reference` of the run (looked up in its records), its
/// bytes read from the store with their digest checked, and the file name
/// to offer: the artifact's name, `.tar` added for a directory.
pub fn artifact(
    store: &ArtifactStore,
    records: &[ArtifactRecord],
    reference: &str,
) -> Result<(Vec<u8>, String), ArtifactRefusal> {
    let Some(record) = records.iter().find(|r| r.reference == reference) else {
        return Err(ArtifactRefusal::Unknown);
    };
    let mut bytes = Vec::with_capacity(record.size.min(64 << 20) as usize);
    store.copy_verified(&record.digest, &mut bytes).map_err(|e| ArtifactRefusal::Store(e.to_string()))?;
    let name = match record.kind {
        Kind::File => record.name.clone(),
        Kind::Directory => format!("{}.tar", record.name),
    };
    Ok((bytes, name))
}

/// Why an artifact is not served.
pub enum ArtifactRefusal {
    /// The run has no artifact by that reference.
    Unknown,
    /// The store could not give its bytes (missing, or corrupt: the digest did not match).
    Store(String),
}

/// The last lines of a step's log, as shown under a failure.
pub fn failure_tail(run: &RunDir, step: &str, max: usize) -> Vec<String> {
    log_tail(log_path(run, step).as_ref(), max).0
}
