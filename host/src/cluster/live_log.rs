//! A worker step's log as it is written, for `baton logs -f` on the
//! coordinator. The worker reads what its copy of the step log gained every
//! [`EVERY`] (complete lines only, already masked: the step log masks the
//! step's secrets) and publishes it on `baton.run.<run>.log` (core NATS, see
//! [`super::wire`]) in pieces of at most [`PIECE`] bytes, each with the
//! offset in the log where it starts. The coordinator appends a piece to
//! the run's step log (the file `baton logs` reads) if it starts where the
//! last one ended: a piece seen twice is dropped, and after a lost one (core
//! NATS keeps one publisher's order but may drop under load) a line says
//! how many bytes are missing and the stream goes on. The step's end then
//! brings the whole log (by digest), which replaces what was streamed: the
//! final log is complete, in order, without duplicates or gap lines.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::identity::context;
use super::remote::{Inner, lock};
use super::serve::Worker;
use super::wire::log_subject;

/// How often a worker sends what a step log gained.
pub const EVERY: Duration = Duration::from_millis(100);

/// The largest piece sent at once.
pub const PIECE: usize = 32 << 10;

/// A piece of the step log of attempt `key`, starting at byte `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPiece {
    pub key: String,
    pub offset: u64,
    pub text: String,
}

/// The worker's side: where the reading of one step log got to.
pub(super) struct Tail {
    path: PathBuf,
    offset: u64,
}

impl Tail {
    /// Follows the log at `path` from its current end (earlier attempts'
    /// lines were sent with their ends).
    pub(super) fn new(path: PathBuf) -> Self {
        let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Self { path, offset }
    }

    /// Sends the complete lines written since the last call.
    pub(super) async fn send(&mut self, w: &Worker, run: &str, key: &str) {
        let Some(text) = self.read_lines() else { return };
        let mut start = 0;
        while start < text.len() {
            let end = piece_end(&text, start);
            let piece = LogPiece { key: key.into(), offset: self.offset, text: text[start..end].to_string() };
            let payload = w.signed(context::LOG, &piece);
            let _ = w.cluster.client.publish(log_subject(run), payload).await;
            self.offset += (end - start) as u64;
            start = end;
        }
    }

    /// The complete lines after `offset`, if any.
    fn read_lines(&self) -> Option<String> {
        let mut f = std::fs::File::open(&self.path).ok()?;
        f.seek(SeekFrom::Start(self.offset)).ok()?;
        let mut bytes = Vec::new();
        f.take(4 * PIECE as u64).read_to_end(&mut bytes).ok()?;
        let last = bytes.iter().rposition(|&b| b == b'\n')?;
        bytes.truncate(last + 1);
        // The step log writes whole lines of text.
        String::from_utf8(bytes).ok()
    }
}

/// Where the piece of `text` starting at `start` ends: after the last
/// newline within [`PIECE`] bytes, else at a character boundary.
fn piece_end(text: &str, start: usize) -> usize {
    if text.len() - start <= PIECE {
        return text.len();
    }
    let window = &text.as_bytes()[start..start + PIECE];
    if let Some(nl) = window.iter().rposition(|&b| b == b'\n') {
        return start + nl + 1;
    }
    let mut end = start + PIECE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The coordinator's side: appends pieces of running attempts' logs.
pub(super) async fn listen(inner: std::sync::Arc<Inner>, mut pieces: async_nats::Subscriber) {
    while let Some(m) = pieces.next().await {
        // Only the worker that runs the attempt writes to its log.
        let (worker, body) = match inner.open(&m.payload, context::LOG).await {
            Ok(opened) => opened,
            Err(why) => {
                inner.refused(format!("a log piece: {why}"));
                continue;
            }
        };
        let Ok(piece) = serde_json::from_str::<LogPiece>(&body) else { continue };
        match inner.sent_by_its_worker(&piece.key, &worker) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(why) => {
                inner.refused(format!("a log piece: {why}"));
                continue;
            }
        }
        let Some((_, step)) = inner.reporter(&piece.key) else { continue };
        let path = inner.log_path(step);
        let mut live = lock(&inner.live_logs);
        let expected = live.entry(piece.key.clone()).or_insert_with(|| std::fs::metadata(&path).map_or(0, |m| m.len()));
        let Some(text) = to_append(*expected, &piece) else { continue };
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        // A piece that did not land stops the stream; the end brings the whole log.
        *expected = if appended.is_ok() { piece.offset + piece.text.len() as u64 } else { u64::MAX };
    }
}

/// What to append for `piece` when the stream got to `expected`: nothing
/// for a piece seen before (or once the whole log came, `u64::MAX`); after
/// lost pieces, a line saying how much is missing, then the piece.
fn to_append(expected: u64, piece: &LogPiece) -> Option<std::borrow::Cow<'_, str>> {
    if piece.offset < expected || expected == u64::MAX {
        return None;
    }
    if piece.offset == expected {
        return Some(piece.text.as_str().into());
    }
    let missing = piece.offset - expected;
    // A host line of the step log's format, with no time.
    let gap = format!("{:9}  baton | ({missing} bytes of this log did not stream; the step's end brings them)\n", "");
    Some((gap + &piece.text).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_seen_twice_is_dropped_and_a_lost_one_is_named_by_its_size() {
        let piece = |offset, text: &str| LogPiece { key: "r.0.1".into(), offset, text: text.into() };
        assert_eq!(to_append(0, &piece(0, "a\n")).as_deref(), Some("a\n"));
        assert_eq!(to_append(2, &piece(0, "a\n")), None);
        assert_eq!(to_append(u64::MAX, &piece(9, "b\n")), None);
        assert_eq!(
            to_append(2, &piece(9, "c\n")).as_deref(),
            Some("           baton | (7 bytes of this log did not stream; the step's end brings them)\nc\n")
        );
    }

    #[test]
    fn pieces_end_after_a_newline_within_the_bound() {
        let line = format!("{}\n", "x".repeat(1000));
        let text = line.repeat(40);
        let end = piece_end(&text, 0);
        assert_eq!(end, 32 * 1001);
        assert_eq!(piece_end(&text, end), text.len());
        let long = "é".repeat(PIECE);
        let cut = piece_end(&long, 0);
        assert!(long.is_char_boundary(cut) && cut <= PIECE && cut > PIECE - 2);
    }
}
