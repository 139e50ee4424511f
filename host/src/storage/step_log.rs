//! One step's log file: `.baton/runs/<run>/logs/<board>.<step>.log`.
//!
//! Every line is prefixed with the time since the run started and its
//! source (`stdout`, `stderr`, `info`, `proc 1234`…). The file is created on
//! the first line, capped at the step's `log_limit` (one truncation marker,
//! then nothing more is written, but the guest is never stopped for it), and
//! the last lines are kept in memory for the failure report. What one call
//! writes reaches the file when the call returns, so that `baton logs -f`
//! (and a worker streaming a step's log to its run) sees it as it comes.
//!
//! Host lines have the source `baton`; a guest cannot produce one: its
//! sources are fixed words or `program[pid]`, a line break it prints starts a
//! new line with its own source, and every other control character it
//! prints (a CR that would rewrite a line on a terminal) is kept in the file
//! but shown escaped by `baton logs`, the summary and the reports. Secret
//! values never reach the file: lines are masked, and streams through a
//! [`StreamMasker`] that holds back a value cut between two chunks.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::text::{Secrets, StreamMasker, escape_line};
use crate::units::Size;

/// Lines kept for the failure report.
pub const TAIL_LINES: usize = 20;

/// Longest line written as one line; longer ones are cut.
const MAX_LINE: usize = 16 * 1024;

/// A shared handle on one step's log.
#[derive(Clone)]
pub struct StepLog(Arc<Mutex<Inner>>);

struct Inner {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    open_failed: bool,
    written: u64,
    limit: u64,
    truncated: bool,
    epoch: Instant,
    tail: VecDeque<String>,
    /// Unterminated line per stream source.
    partial: Vec<Stream>,
    secrets: Secrets,
    /// Once the cap is reached: the last bytes seen, for the tail only.
    after_cap: Vec<u8>,
}

/// One stream source's unfinished line and masker.
struct Stream {
    source: String,
    pending: Vec<u8>,
    masker: StreamMasker,
}

/// Bytes kept after the cap to rebuild the tail from.
const AFTER_CAP_KEEP: usize = 4096;

impl StepLog {
    /// A log at `path` (created on first write), capped at `limit` bytes;
    /// timestamps count from `epoch` (the run's start).
    pub fn new(path: PathBuf, limit: u64, epoch: Instant) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            path,
            file: None,
            open_failed: false,
            written: 0,
            limit,
            truncated: false,
            epoch,
            tail: VecDeque::new(),
            partial: Vec::new(),
            secrets: Secrets::default(),
            after_cap: Vec::new(),
        })))
    }

    /// The same log, masking `secrets` in everything written from now on.
    pub fn masking(self, secrets: Secrets) -> Self {
        self.lock().secrets = secrets;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes one line from `source`.
    pub fn line(&self, source: &str, text: &str) {
        let mut inner = self.lock();
        let text = inner.secrets.mask(text).into_owned();
        for part in text.split('\n') {
            inner.write_line(source, part.trim_end_matches('\r'));
        }
        inner.write_out();
    }

    /// Writes lines that belong in the file but not in the failure report's
    /// tail (a wasm backtrace): the tail keeps the stage's own last words.
    pub fn detail(&self, source: &str, text: &str) {
        let mut inner = self.lock();
        if inner.truncated {
            return; // nothing more reaches the file, and the tail has no room for it
        }
        let tail = std::mem::take(&mut inner.tail);
        for part in text.split('\n') {
            inner.write_line(source, part.trim_end_matches('\r'));
        }
        inner.tail = tail;
    }

    /// Appends raw bytes from a stream (`stdout`, `stderr`, a process);
    /// complete lines are written, the rest waits for its newline.
    pub fn stream(&self, source: &str, bytes: &[u8]) {
        let mut inner = self.lock();
        let idx = match inner.partial.iter().position(|s| s.source == source) {
            Some(i) => i,
            None => {
                let masker = inner.secrets.stream();
                inner.partial.push(Stream { source: source.to_string(), pending: Vec::new(), masker });
                inner.partial.len() - 1
            }
        };
        let masked = inner.partial[idx].masker.push(bytes);
        let bytes: &[u8] = &masked;
        if inner.truncated {
            // Past the cap nothing more is written: keep only the last bytes,
            // so a flood costs a copy of its end, not a line split.
            inner.keep_after_cap(bytes);
            return;
        }
        let mut pending = std::mem::take(&mut inner.partial[idx].pending);
        pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&pending[start..start + nl]).into_owned();
            inner.write_line(source, line.trim_end_matches('\r'));
            start += nl + 1;
        }
        let wrote = start > 0 || pending.len() > MAX_LINE;
        pending.drain(..start);
        if pending.len() > MAX_LINE {
            let line = String::from_utf8_lossy(&pending).into_owned();
            inner.write_line(source, &line);
            pending.clear();
        }
        inner.partial[idx].pending = pending;
        if wrote {
            inner.write_out();
        }
    }

    /// Writes out unterminated lines and flushes the file.
    pub fn flush(&self) {
        let mut inner = self.lock();
        let partial = std::mem::take(&mut inner.partial);
        for mut stream in partial {
            let mut bytes = stream.pending;
            bytes.extend(stream.masker.finish());
            if inner.truncated {
                inner.keep_after_cap(&bytes);
            } else if !bytes.is_empty() {
                let line = String::from_utf8_lossy(&bytes).into_owned();
                inner.write_line(&stream.source, &line);
            }
        }
        if let Some(f) = inner.file.as_mut() {
            let _ = f.flush();
        }
    }

    /// The last lines written (also those past the cap), control
    /// characters escaped: they are shown on terminals and in reports.
    pub fn tail(&self) -> Vec<String> {
        let inner = self.lock();
        let mut lines: Vec<String> = inner.tail.iter().cloned().collect();
        if !inner.after_cap.is_empty() {
            let text = String::from_utf8_lossy(&inner.after_cap);
            // A full buffer was cut somewhere in a line: drop that piece.
            let cut = usize::from(inner.after_cap.len() == AFTER_CAP_KEEP);
            lines.extend(text.lines().skip(cut).map(|l| format!("(after the cap): {}", escape_line(l))));
        }
        let start = lines.len().saturating_sub(TAIL_LINES);
        lines.split_off(start)
    }

    /// The log's path (the file exists only once something was written).
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// Whether the cap was reached.
    pub fn truncated(&self) -> bool {
        self.lock().truncated
    }
}

impl Inner {
    /// Hands what one call wrote to the file (the lines of a call are
    /// batched; a reader, `baton logs -f` or a worker's live log, sees
    /// them when the call returns).
    fn write_out(&mut self) {
        if let Some(f) = self.file.as_mut()
            && f.flush().is_err()
        {
            self.file = None;
            self.open_failed = true;
        }
    }

    fn keep_after_cap(&mut self, bytes: &[u8]) {
        let bytes = &bytes[bytes.len().saturating_sub(AFTER_CAP_KEEP)..];
        self.after_cap.extend_from_slice(bytes);
        if self.after_cap.len() > AFTER_CAP_KEEP {
            let extra = self.after_cap.len() - AFTER_CAP_KEEP;
            self.after_cap.drain(..extra);
        }
    }

    fn write_line(&mut self, source: &str, text: &str) {
        let cut_line;
        let text = if text.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            cut_line = format!(
                "{} [… {} bytes cut: lines are capped at {}]",
                &text[..cut],
                text.len() - cut,
                Size(MAX_LINE as u64)
            );
            cut_line.as_str()
        } else {
            text
        };
        if self.truncated {
            self.keep_after_cap(format!("{text}\n").as_bytes());
            return;
        }
        let at = self.epoch.elapsed().as_secs_f64();
        let line = format!("{at:9.3} {source:>6} | {text}\n");
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(format!("{source}: {}", escape_line(text)));
        if self.written + line.len() as u64 > self.limit {
            self.truncated = true;
            let marker = format!(
                "{at:9.3}  baton | [log truncated: limit {} reached; later output is dropped]\n",
                Size(self.limit)
            );
            self.append(marker.as_bytes());
            return;
        }
        self.written += line.len() as u64;
        self.append(line.as_bytes());
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.file.is_none() && !self.open_failed {
            let opened = self
                .path
                .parent()
                .map(std::fs::create_dir_all)
                .unwrap_or(Ok(()))
                .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&self.path));
            match opened {
                Ok(f) => self.file = Some(BufWriter::new(f)),
                Err(_) => self.open_failed = true,
            }
        }
        if let Some(f) = self.file.as_mut()
            && f.write_all(bytes).is_err()
        {
            self.file = None;
            self.open_failed = true;
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(log: &StepLog) -> String {
        log.flush();
        std::fs::read_to_string(log.path()).unwrap_or_default()
    }

    #[test]
    fn lines_are_split_and_prefixed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = StepLog::new(dir.path().join("logs/a.b.log"), 1 << 20, Instant::now());
        log.stream("stdout", b"hello\nwor");
        log.stream("stderr", b"oops\n");
        log.stream("stdout", b"ld\n");
        log.line("info", "done");
        let text = read(&log);
        let lines: Vec<&str> = text.lines().map(|l| l.split_once(" | ").expect("prefix").1).collect();
        assert_eq!(lines, ["hello", "oops", "world", "done"]);
        assert!(text.lines().nth(1).expect("line").contains("stderr |"));
        assert_eq!(log.tail().last().map(String::as_str), Some("info: done"));
    }

    #[test]
    fn details_are_written_but_stay_out_of_the_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = StepLog::new(dir.path().join("a.b.log"), 1 << 20, Instant::now());
        log.line("stderr", "TypeError: boom");
        log.detail("baton", "wasm backtrace:\n    0: 0x1234 - <unknown>!_PyEval");
        log.line("baton", "after");
        assert!(read(&log).contains("| wasm backtrace:"));
        assert_eq!(log.tail(), ["stderr: TypeError: boom", "baton: after"]);
    }

    #[test]
    fn the_cap_leaves_one_marker_and_keeps_the_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = StepLog::new(dir.path().join("x.log"), 200, Instant::now());
        for i in 0..100 {
            log.line("stdout", &format!("line {i}"));
        }
        let text = read(&log);
        assert!(text.len() < 400, "{}", text.len());
        assert_eq!(text.matches("[log truncated: limit 200B reached").count(), 1);
        assert!(log.truncated());
        assert_eq!(log.tail().last().map(String::as_str), Some("(after the cap): line 99"));
        log.stream("stdout", &vec![b'x'; 1 << 20]);
        log.stream("stdout", b"\nthe very end\n");
        assert_eq!(log.tail().last().map(String::as_str), Some("(after the cap): the very end"));
    }

    #[test]
    fn secrets_are_masked_in_the_file_and_the_tail_even_when_cut_between_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = Secrets::new([("TOKEN".to_string(), "hunter2".to_string())]);
        let log = StepLog::new(dir.path().join("a.b.log"), 1 << 20, Instant::now()).masking(secrets);
        log.stream("stdout", b"pw=hun");
        log.stream("stderr", b"unrelated\n");
        log.stream("stdout", b"ter2 ok\nend hunt");
        log.stream("stdout", b"er2");
        log.line("info", "said hunter2\nhunter2 again");
        let text = read(&log);
        assert!(!text.contains("hunter2"), "{text}");
        let lines: Vec<&str> = text.lines().map(|l| l.split_once(" | ").expect("prefix").1).collect();
        assert_eq!(lines, ["unrelated", "pw=*** ok", "said ***", "*** again", "end ***"]);
        assert!(log.tail().iter().all(|l| !l.contains("hunter2")));
    }

    #[test]
    fn the_tail_is_escaped_and_the_file_keeps_the_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = StepLog::new(dir.path().join("a.b.log"), 1 << 20, Instant::now());
        log.stream("stdout", b"\x1b[31mred\x07\r    0.1  baton | forged\n");
        assert_eq!(log.tail(), [r"stdout: \x1b[31mred\x07\r    0.1  baton | forged"]);
        assert!(read(&log).ends_with("stdout | \x1b[31mred\x07\r    0.1  baton | forged\n"));
    }

    #[test]
    fn a_long_line_is_cut_and_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = StepLog::new(dir.path().join("a.b.log"), 1 << 20, Instant::now());
        log.line("info", &"x".repeat(MAX_LINE + 10));
        let text = read(&log);
        assert!(text.ends_with("x [… 10 bytes cut: lines are capped at 16KiB]\n"), "{}", &text[text.len() - 80..]);
    }

    #[test]
    fn nothing_written_means_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = StepLog::new(dir.path().join("quiet.log"), 100, Instant::now());
        log.flush();
        assert!(!log.path().exists());
    }
}
