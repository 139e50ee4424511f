//! Writes a file or a directory of the workspace into a blob, safely against
//! a tree that the step's processes change while it is read.
//!
//! - The walk keeps its own stack (no recursion) and stops at [`MAX_DEPTH`]
//!   levels: a tree thousands of levels deep fails the step, not the host.
//! - Every entry is opened once, by one name relative to its already open
//!   directory, with `O_NOFOLLOW | O_NONBLOCK`, and judged by `fstat` of
//!   that descriptor: a FIFO swapped in at the last moment is refused, never
//!   waited on; sockets and devices are refused too.
//! - A file's header announces its size at open; exactly that many bytes are
//!   copied, and a file that grew or shrank meanwhile fails the publish.
//! - Symlinks are stored as links and judged by [`resolve`]: every chain
//!   must end inside the artifact.
//! - The blob counts what it is given and refuses to grow past the job's
//!   limit; the size a file announces is checked against what is left before
//!   a byte of it is read, so a sparse file of terabytes costs one `fstat`.
//! - The job's cancel flag is checked between entries and between chunks.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, File, FileType, FileTypeExt, Metadata, OpenOptions, OpenOptionsExt, PermissionsExt};
use sha2::{Digest, Sha256};

use super::resolve::{self, Links};
use super::{Cancel, Job, StoreError};
use crate::units::Size;

/// Most levels of directories below the artifact root.
pub const MAX_DEPTH: usize = 256;

/// Bytes of one tar header block.
const BLOCK: u64 = 512;

/// Where a blob is written: hashes and counts what passes, and refuses to go
/// past its limit.
pub struct Blob<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
    limit: u64,
    over: bool,
}

impl<W: Write> Blob<W> {
    pub fn new(inner: W, limit: u64) -> Self {
        Self { inner, hasher: Sha256::new(), size: 0, limit, over: false }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes; returns `(sha256:<hex>, size)`.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        self.inner.flush()?;
        Ok((format!("sha256:{}", hex::encode(self.hasher.finalize())), self.size))
    }

    fn left(&self) -> u64 {
        self.limit.saturating_sub(self.size)
    }
}

impl<W: Write> Write for Blob<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.left() {
            self.over = true;
            return Err(io::Error::other("artifact limit reached"));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a copy or a walk reports about the artifact `root` (its workspace
/// path, as the step named it) and the blob's limit.
struct Context<'a> {
    root: &'a Path,
    job: &'a Job,
}

impl Context<'_> {
    fn over_limit(&self, at: &Path) -> StoreError {
        let at = if at == self.root { String::new() } else { format!(" (at `{}`)", at.display()) };
        StoreError::Limit(format!(
            "artifact `{}` is over artifact_limit {}{at}; raise artifact_limit or publish less",
            self.root.display(),
            Size(self.job.limit)
        ))
    }
}

/// Options that open one entry by name without following a symlink and
/// without waiting on a FIFO.
fn no_follow(extra: i32) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | extra);
    o
}

/// `a fifo`, `a socket`… for a refusal.
pub fn kind_name(t: FileType) -> &'static str {
    if t.is_fifo() {
        "a fifo"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Refuses anything but files, directories and symlinks.
pub fn refuse_kind(path: &Path, t: FileType) -> StoreError {
    StoreError::Path(format!(
        "`{}` is {}: only regular files, directories and symlinks can be published",
        path.display(),
        kind_name(t)
    ))
}

fn changed(path: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!(
        "`{}` changed while being read ({what}); publish it once nothing writes to it",
        path.display()
    ))
}

fn io_error(path: &Path, e: io::Error) -> StoreError {
    StoreError::Io(format!("`{}`: {e}", path.display()))
}

/// Why a reader stopped a copy, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    Shrank,
}

/// Reads exactly `left` bytes of a file, checking the cancel flag per chunk.
struct Exact<'a> {
    file: &'a mut File,
    left: u64,
    cancel: &'a Cancel,
    stop: Option<Stop>,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.is_cancelled() {
            self.stop = Some(Stop::Cancelled);
            return Err(io::Error::other("cancelled"));
        }
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            self.stop = Some(Stop::Shrank);
            return Err(io::Error::other("file shrank"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Copies `len` bytes of `file` with `put`, which writes the header and the
/// data; then checks that the file neither shrank nor grew.
fn copy_exact(
    file: &mut File,
    len: u64,
    path: &Path,
    cx: &Context,
    over: impl Fn() -> bool,
    put: impl FnOnce(&mut Exact) -> io::Result<()>,
) -> Result<(), StoreError> {
    let mut exact = Exact { file, left: len, cancel: &cx.job.cancel, stop: None };
    if let Err(e) = put(&mut exact) {
        return Err(match exact.stop {
            Some(Stop::Cancelled) => StoreError::Cancelled,
            Some(Stop::Shrank) => changed(path, format_args!("it shrank below the {len} bytes it had when opened")),
            None if over() => cx.over_limit(path),
            None => io_error(path, e),
        });
    }
    let mut probe = [0u8; 1];
    let more = file.read(&mut probe).map_err(|e| io_error(path, e))?;
    let now = file.metadata().map_err(|e| io_error(path, e))?.len();
    if more > 0 || now > len {
        return Err(changed(path, format_args!("it grew past the {len} bytes it had when opened")));
    }
    if now < len {
        return Err(changed(path, format_args!("it shrank below the {len} bytes it had when opened")));
    }
    Ok(())
}

/// Copies the regular file `file` (opened once; `meta` is its `fstat`), the
/// whole artifact `root`, into `out`.
pub fn write_file<W: Write>(
    file: &mut File,
    meta: &Metadata,
    root: &Path,
    out: &mut Blob<W>,
    job: &Job,
) -> Result<(), StoreError> {
    let cx = Context { root, job };
    job.cancel.check()?;
    let len = meta.len();
    if len > out.left() {
        return Err(cx.over_limit(root));
    }
    let over = std::cell::Cell::new(false);
    copy_exact(
        file,
        len,
        root,
        &cx,
        || over.get(),
        |r| {
            let copied = io::copy(r, out).map(|_| ());
            over.set(out.over);
            copied
        },
    )
}

/// One directory being walked: its open descriptor, its path inside the
/// artifact, and the names still to write (sorted, last first).
struct Frame {
    dir: Dir,
    rel: PathBuf,
    names: Vec<OsString>,
}

impl Frame {
    fn list(dir: Dir, rel: PathBuf, cx: &Context, left: u64) -> Result<Self, StoreError> {
        let shown = cx.root.join(&rel);
        let mut names = Vec::new();
        for entry in dir.entries().map_err(|e| io_error(&shown, e))? {
            names.push(entry.map_err(|e| io_error(&shown, e))?.file_name());
            // Every entry costs at least a header: stop listing a directory
            // of millions of names once they cannot fit.
            if names.len() as u64 * BLOCK > left {
                return Err(cx.over_limit(&shown));
            }
        }
        names.sort_unstable_by(|a, b| b.cmp(a));
        Ok(Self { dir, rel, names })
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h
}

/// Writes the directory `dir`, the artifact `root`, into `out` as a
/// deterministic tar.
pub fn write_dir<W: Write>(dir: Dir, root: &Path, out: &mut Blob<W>, job: &Job) -> Result<(), StoreError> {
    write_tree(dir, root, out, job, &[])
}

/// As [`write_dir`], leaving out the entries of `dir` itself named in
/// `leave_out` (the project without its `.baton/`, for `/src` on workers).
pub fn write_tree<W: Write>(
    dir: Dir,
    root: &Path,
    out: &mut Blob<W>,
    job: &Job,
    leave_out: &[&str],
) -> Result<(), StoreError> {
    let cx = Context { root, job };
    let mut tar = tar::Builder::new(out);
    let archive_error = |tar: &tar::Builder<&mut Blob<W>>, at: &Path, e: io::Error| {
        if tar.get_ref().over { cx.over_limit(at) } else { io_error(at, e) }
    };
    let mut links = Links::new();
    let mut top = Frame::list(dir, PathBuf::new(), &cx, tar.get_ref().left())?;
    top.names.retain(|n| !leave_out.iter().any(|l| n.as_os_str() == std::ffi::OsStr::new(l)));
    let mut stack = vec![top];
    loop {
        let depth = stack.len();
        let Some(frame) = stack.last_mut() else { break };
        job.cancel.check()?;
        let Some(name) = frame.names.pop() else {
            stack.pop();
            continue;
        };
        let rel = frame.rel.join(&name);
        let shown = root.join(&rel);
        let seen = match frame.dir.symlink_metadata(&name) {
            Ok(m) => m.file_type(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(changed(&shown, "it disappeared")),
            Err(e) => return Err(io_error(&shown, e)),
        };
        if seen.is_symlink() {
            let target = frame.dir.read_link_contents(&name).map_err(|e| changed(&shown, e))?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, &rel, &target).map_err(|e| archive_error(&tar, &shown, e))?;
            links.insert(rel, target);
        } else if seen.is_dir() {
            if depth > MAX_DEPTH {
                return Err(StoreError::Limit(format!(
                    "artifact `{}` nests directories more than {MAX_DEPTH} levels deep; publish a flatter tree",
                    root.display()
                )));
            }
            let sub = frame.dir.open_with(&name, &no_follow(libc::O_DIRECTORY)).map_err(|e| changed(&shown, e))?;
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            tar.append_data(&mut h, &rel, io::empty()).map_err(|e| archive_error(&tar, &shown, e))?;
            let sub = Dir::from_std_file(sub.into_std());
            let listed = Frame::list(sub, rel, &cx, tar.get_ref().left())?;
            stack.push(listed);
        } else if seen.is_file() {
            let mut file = frame.dir.open_with(&name, &no_follow(0)).map_err(|e| changed(&shown, e))?;
            let meta = file.metadata().map_err(|e| io_error(&shown, e))?;
            if meta.is_dir() {
                return Err(changed(&shown, "it became a directory"));
            }
            if !meta.is_file() {
                return Err(refuse_kind(&shown, meta.file_type()));
            }
            let len = meta.len();
            if len.saturating_add(BLOCK) > tar.get_ref().left() {
                return Err(cx.over_limit(&shown));
            }
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            let mut h = header(tar::EntryType::Regular, mode, len);
            let over = std::cell::Cell::new(false);
            copy_exact(
                &mut file,
                len,
                &shown,
                &cx,
                || over.get(),
                |r| {
                    let put = tar.append_data(&mut h, &rel, r);
                    over.set(tar.get_ref().over);
                    put
                },
            )?;
        } else {
            return Err(refuse_kind(&shown, seen));
        }
    }
    resolve::check_all(&links, root).map_err(StoreError::Path)?;
    tar.finish().map_err(|e| archive_error(&tar, root, e))
}
