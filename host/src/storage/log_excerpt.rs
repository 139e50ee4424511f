//! A bounded excerpt of a step log, for pages that embed logs (the HTML
//! report): its first and last bytes, cut at line boundaries, and how much
//! was left out in between. Control characters a step printed are escaped.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::text::escape::escape_bytes;

/// Part of a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogExcerpt {
    /// The start of the log.
    pub head: String,
    /// The end of the log (empty when `head` holds all of it).
    pub tail: String,
    /// Size of the whole file.
    pub total_bytes: u64,
    /// Bytes between `head` and `tail` that were left out.
    pub cut_bytes: u64,
}

impl LogExcerpt {
    /// Bytes embedded.
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads at most about `head + tail` bytes of the file at `path`: all of it
/// if it fits, else its first `head` and last `tail` bytes, each trimmed to
/// whole lines.
pub fn read(path: &Path, head: usize, tail: usize) -> std::io::Result<LogExcerpt> {
    let mut f = std::fs::File::open(path)?;
    let total = f.metadata()?.len();
    if total <= (head + tail) as u64 {
        let mut bytes = Vec::with_capacity(total as usize);
        f.read_to_end(&mut bytes)?;
        return Ok(LogExcerpt {
            head: escape_bytes(&bytes),
            tail: String::new(),
            total_bytes: bytes.len() as u64,
            cut_bytes: 0,
        });
    }
    let mut first = vec![0; head];
    f.read_exact(&mut first)?;
    // Keep whole lines: up to the last newline of the head…
    let keep_head = first.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    first.truncate(keep_head);
    f.seek(SeekFrom::Start(total - tail as u64))?;
    let mut last = Vec::with_capacity(tail);
    f.read_to_end(&mut last)?;
    // …and from the first newline of the tail.
    let skip_tail = last.iter().position(|&b| b == b'\n').map_or(last.len(), |i| i + 1);
    let last = last.split_off(skip_tail);
    Ok(LogExcerpt {
        cut_bytes: total - first.len() as u64 - last.len() as u64,
        head: escape_bytes(&first),
        tail: escape_bytes(&last),
        total_bytes: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_log_is_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.b.log");
        std::fs::write(&path, "one\ntwo\n").expect("write");
        let e = read(&path, 100, 100).expect("read");
        assert_eq!((e.head.as_str(), e.tail.as_str(), e.cut_bytes, e.total_bytes), ("one\ntwo\n", "", 0, 8));
        std::fs::write(&path, "\x1b[31mred\x07\n").expect("write");
        assert_eq!(read(&path, 100, 100).expect("read").head, "\\x1b[31mred\\x07\n");
    }

    #[test]
    fn a_big_log_keeps_whole_lines_at_both_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.b.log");
        let text: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
        std::fs::write(&path, &text).expect("write");
        let e = read(&path, 25, 25).expect("read");
        assert_eq!(e.head, "line 0000\nline 0001\n");
        assert_eq!(e.tail, "line 0998\nline 0999\n");
        assert_eq!(e.total_bytes, 10_000);
        assert_eq!(e.cut_bytes, 10_000 - 40);
    }
}
