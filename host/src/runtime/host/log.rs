//! `baton:stage/log`: lines into the step log (which masks secrets), progress
//! to the live view (masked and escaped here: it goes straight to a terminal).

use crate::executor::Event;
use crate::runtime::bindings::Level;
use crate::runtime::bindings::baton::stage::log::Host;
use crate::runtime::state::StepState;
use crate::text::escape_line;

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
        let message = truncate(&message);
        self.ctx.log.line("progress", &format!("{done}/{total} {message}"));
        // Shown on the live view: one line, inert, secrets masked.
        let message = escape_line(&self.ctx.run.secrets.mask(message)).into_owned();
        self.ctx.reporter.send(Event::Progress { done, total, message });
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
