//! A child's output: what is captured (the last bytes of each stream) and
//! what the stage has not `read` yet (bounded: when the stage does not keep
//! up, the oldest chunks are dropped and a marker says how much).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

use super::groups::lock;
use crate::runtime::bindings::baton::stage::process::{Chunk, ExitStatus, Output, OutputStream};
use crate::storage::step_log::StepLog;

/// The last `limit` bytes of one stream.
pub(super) struct Capture {
    bytes: VecDeque<u8>,
    limit: usize,
    truncated: bool,
    /// Length of the longest secret of the run (see [`Capture::kept`]).
    secret: usize,
}

impl Capture {
    pub(super) fn new(limit: usize, secret: usize) -> Self {
        Self { bytes: VecDeque::new(), limit, truncated: false, secret }
    }

    /// What the stage is given. A window that was cut starts at the first
    /// whole line: the cut can fall inside a secret, whose tail alone
    /// would not be recognised (masked) in a failure message, the summary
    /// or the reports. Without a line end in the window, the first bytes,
    /// as many as the longest secret, are dropped instead.
    fn kept(&self) -> Vec<u8> {
        let (a, b) = self.bytes.as_slices();
        let all = [a, b].concat();
        if !self.truncated {
            return all;
        }
        let start = match all.iter().position(|&c| c == b'\n') {
            Some(i) => i + 1,
            None => self.secret.min(all.len()),
        };
        all[start..].to_vec()
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        self.bytes.extend(data);
        if self.bytes.len() > self.limit {
            let extra = self.bytes.len() - self.limit;
            self.bytes.drain(..extra);
            self.truncated = true;
        }
    }
}

/// Output of one child: captures, and the chunks not yet `read` by the stage
/// (bounded; when the stage does not keep up, the oldest are dropped and a
/// marker says how much).
pub(super) struct ChildIo {
    stdout: Mutex<Capture>,
    stderr: Mutex<Capture>,
    unread: Mutex<Unread>,
    notify: Notify,
    open_streams: AtomicUsize,
}

pub(super) struct Unread {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    limit: usize,
    dropped: u64,
}

impl ChildIo {
    /// Output of a child whose streams are captured up to `limit` bytes
    /// each, in a run whose longest secret is `secret` bytes long.
    pub(super) fn new(limit: usize, secret: usize) -> Self {
        Self {
            stdout: Mutex::new(Capture::new(limit, secret)),
            stderr: Mutex::new(Capture::new(limit, secret)),
            unread: Mutex::new(Unread { chunks: VecDeque::new(), bytes: 0, limit, dropped: 0 }),
            notify: Notify::new(),
            open_streams: AtomicUsize::new(2),
        }
    }

    fn push(&self, stream: OutputStream, data: &[u8]) {
        let capture = match stream {
            OutputStream::Stdout => &self.stdout,
            OutputStream::Stderr => &self.stderr,
        };
        lock(capture).push(data);
        let mut u = lock(&self.unread);
        u.chunks.push_back(Chunk { stream, data: data.to_vec() });
        u.bytes += data.len();
        while u.bytes > u.limit {
            match u.chunks.pop_front() {
                Some(c) => {
                    u.bytes -= c.data.len();
                    u.dropped += c.data.len() as u64;
                }
                None => break,
            }
        }
        drop(u);
        self.notify.notify_waiters();
    }

    fn close_stream(&self) {
        self.open_streams.fetch_sub(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// The next unread chunk; `None` once both streams are closed and read.
    pub(super) async fn next(&self) -> Option<Chunk> {
        loop {
            let notified = self.notify.notified();
            {
                let mut u = lock(&self.unread);
                if u.dropped > 0 {
                    let marker = format!("[baton: {} bytes of output dropped: not read in time]\n", u.dropped);
                    u.dropped = 0;
                    return Some(Chunk { stream: OutputStream::Stderr, data: marker.into_bytes() });
                }
                if let Some(c) = u.chunks.pop_front() {
                    u.bytes -= c.data.len();
                    return Some(c);
                }
                if self.open_streams.load(Ordering::SeqCst) == 0 {
                    return None;
                }
            }
            notified.await;
        }
    }

    pub(super) fn output(&self, status: ExitStatus) -> Output {
        let (out, err) = (lock(&self.stdout), lock(&self.stderr));
        Output {
            status,
            stdout: out.kept(),
            stderr: err.kept(),
            stdout_truncated: out.truncated,
            stderr_truncated: err.truncated,
        }
    }
}

/// Reads one stream of a child to its end: into the step log (line by
/// line, tagged `prog[pid]` or `prog[pid]!` for stderr) and into `io`.
pub(super) async fn pump(
    mut r: impl AsyncRead + Unpin,
    stream: OutputStream,
    io: Arc<ChildIo>,
    log: StepLog,
    source: String,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let tag = match stream {
                    OutputStream::Stdout => source.clone(),
                    OutputStream::Stderr => format!("{source}!"),
                };
                log.stream(&tag, &buf[..n]);
                io.push(stream, &buf[..n]);
            }
        }
    }
    io.close_stream();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_keep_the_end() {
        let mut c = Capture::new(5, 0);
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.bytes.iter().copied().collect::<Vec<u8>>(), b"world");
        assert!(c.truncated);
    }

    #[test]
    fn a_cut_window_starts_at_a_whole_line_so_no_secret_tail_is_kept() {
        let mut c = Capture::new(24, 16);
        c.push(b"token=SECRET-0123456789\nlast line\n");
        assert_eq!(c.kept(), b"last line\n", "the partial first line is dropped");
        // One long line: as many bytes as the longest secret are dropped.
        let mut c = Capture::new(24, 16);
        c.push(b"xxxxxxxxSECRET-0123456789-and-more-text");
        let kept = c.kept();
        assert_eq!(kept, b"ore-text", "the tail `0123456789` of the secret is not kept");
        // Nothing is dropped from a window that was not cut.
        let mut c = Capture::new(64, 16);
        c.push(b"partial\nwhole\n");
        assert_eq!(c.kept(), b"partial\nwhole\n");
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_gets_a_marker() {
        let io = ChildIo::new(8, 0);
        io.push(OutputStream::Stdout, b"0123");
        io.push(OutputStream::Stdout, b"4567");
        io.push(OutputStream::Stdout, b"89");
        io.close_stream();
        io.close_stream();
        let first = io.next().await.expect("marker");
        assert_eq!(String::from_utf8_lossy(&first.data), "[baton: 4 bytes of output dropped: not read in time]\n");
        assert_eq!(io.next().await.expect("chunk").data, b"4567");
        assert_eq!(io.next().await.expect("chunk").data, b"89");
        assert!(io.next().await.is_none());
        assert!(io.output(ExitStatus::Exited(0)).stdout_truncated);
    }
}
