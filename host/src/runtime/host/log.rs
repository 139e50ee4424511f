//! `baton:stage/log`: lines into the step log, progress to the live view.

use crate::runtime::bindings::Level;
use crate::runtime::bindings::baton::stage::log::Host;
use crate::runtime::services::ServiceRequest;
use crate::runtime::state::StepState;

/// Longest message accepted from a stage in one call.
const MAX_MESSAGE: usize = 64 * 1024;

impl Host for StepState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let source = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.ctx.log.line(source, truncate(&message));
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: u64, message: String) -> wasmtime::Result<()> {
        let message = truncate(&message).to_string();
        self.ctx.log.line("progress", &format!("{done}/{total} {message}"));
        self.ctx.run.requests.send(ServiceRequest::Progress { step: self.ctx.index, done, total, message });
        Ok(())
    }
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_MESSAGE {
        return s;
    }
    let mut cut = MAX_MESSAGE;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}
