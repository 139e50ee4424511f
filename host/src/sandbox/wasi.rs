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
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::storage::step_log::StepLog;

/// Where the workspace is mounted inside the sandbox.
pub const WORKSPACE: &str = "/workspace";

/// Where the project's source is mounted inside the sandbox (read-only).
pub const SRC: &str = "/src";

/// Builds the WASI context of one attempt.
pub fn context(workspace: &Path, scratch: &Path, src: Option<&Path>, log: &StepLog) -> wasmtime::Result<WasiCtx> {
    let mut b = WasiCtxBuilder::new();
    b.preopened_dir(workspace, WORKSPACE, FsPerms::ReadWrite)?;
    b.preopened_dir(scratch, "/tmp", FsPerms::ReadWrite)?;
    if let Some(src) = src {
        b.preopened_dir(src, SRC, FsPerms::ReadOnly)?;
    }
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    // File operations run inline instead of hopping to a blocking thread and
    // back for every call (reads and writes are capped at 64 KiB per call).
    b.allow_blocking_current_thread(true);
    b.stdout(LogSink { log: log.clone(), source: "stdout" });
    b.stderr(LogSink { log: log.clone(), source: "stderr" });
    Ok(b.build())
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
