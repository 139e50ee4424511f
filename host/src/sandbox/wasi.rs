//! A step's policy turned into its WASI context: deny by default.
//!
//! The guest sees the board workspace at `/workspace` (read-write), a
//! private scratch directory at `/tmp` and the project's source at `/src`
//! (read-only, without `.baton/`: see `src_view`), nothing else of the file system; no
//! environment variables, no arguments, a closed stdin; no sockets and no
//! name lookup. Its stdout and stderr go to the step log.

use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::filesystem::{Dir, OpenMode};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::storage::step_log::StepLog;

/// Where the workspace is mounted inside the sandbox.
pub const WORKSPACE: &str = "/workspace";

/// Where the project's source is mounted inside the sandbox (read-only).
pub const SRC: &str = "/src";

/// Where the attempt's private scratch directory is mounted.
pub const TMP: &str = "/tmp";

/// A directory a stage sees, opened once and shared, by handle, with every
/// attempt that sees it: a board's workspace for the whole run, the project
/// for the whole run, a scratch directory for as long as it is reused.
/// wasmtime-wasi's `preopened_dir` takes a path and opens it for each
/// context (an `openat` and a `close` per directory and attempt); handing
/// out clones of one open [`Dir`] costs nothing.
pub fn open_dir(path: &Path, perms: FsPerms) -> std::io::Result<Dir> {
    use std::os::unix::fs::OpenOptionsExt;
    // Writable ones (a workspace, a scratch directory) are opened for
    // reading: a scratch directory is listed through its handle to see
    // whether an attempt left it empty. The read-only project needs only a
    // handle to resolve paths under (`O_PATH`, as wasmtime-wasi opens its
    // preopens). `O_NOFOLLOW`: a symlink put in a directory's place is
    // refused, not followed.
    let path_only = if perms == FsPerms::ReadOnly { libc::O_PATH } else { 0 };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | path_only)
        .open(path)?;
    let mode = match perms {
        FsPerms::ReadOnly => OpenMode::READ,
        FsPerms::ReadWrite => OpenMode::READ | OpenMode::WRITE,
    };
    // File operations run inline instead of hopping to a blocking thread and
    // back for every call (reads and writes are capped at 64 KiB per call):
    // two hops per step (the SDK's `chdir`) were most of a noop step's cost.
    Ok(Dir::new(file, perms, mode, true))
}

/// The directories an attempt sees, in the order the guest lists them.
#[derive(Clone)]
pub struct Preopens {
    pub workspace: Dir,
    pub tmp: Dir,
    pub src: Option<Dir>,
}

impl Preopens {
    /// Each directory with the path the guest sees it at.
    pub fn list(&self) -> Vec<(Dir, &'static str)> {
        let mut dirs = vec![(self.workspace.clone(), WORKSPACE), (self.tmp.clone(), TMP)];
        if let Some(src) = &self.src {
            dirs.push((src.clone(), SRC));
        }
        dirs
    }
}

/// Builds the WASI context of one attempt. It has no preopens: the guest
/// gets [`Preopens`] through `runtime::host::preopens`, which hands out
/// handles opened once instead of opening each directory again.
pub fn context(log: &StepLog) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.allow_blocking_current_thread(true);
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.stdout(LogSink { log: log.clone(), source: "stdout" });
    b.stderr(LogSink { log: log.clone(), source: "stderr" });
    b.build()
}

/// Guest stdout/stderr: every write goes to the step log. It never reports a
/// full pipe, so a chatty guest is never killed for it; the log's cap drops
/// what is too much.
#[derive(Clone)]
pub struct LogSink {
    log: StepLog,
    source: &'static str,
}

impl IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogSink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Max bytes accepted per write call.
const WRITE_BUDGET: usize = 64 * 1024;

#[wasmtime_wasi::async_trait]
impl OutputStream for LogSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log.stream(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogSink {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogSink {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.log.stream(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
