//! Progress on stderr while a run goes: the live view on a terminal
//! (`live`), plain lines otherwise (`plain`), nothing with `--quiet`.

mod live;
mod plain;
mod tally;

use std::io::IsTerminal;

use indicatif::ProgressDrawTarget;

use super::Output;
use crate::scheduler::{Observer, UiEvent};

/// Lines the live view keeps for itself: the counts line and the rows of
/// the lines printed above it.
const RESERVED_ROWS: usize = 4;
/// Running steps shown at most, however tall the terminal.
const MAX_BARS: usize = 24;

/// Says on stderr that a big plugin compiles (unless `--quiet`), for
/// commands without a live view (`baton check`).
pub fn announce_compile(out: Output, name: &str, c: crate::runtime::plugin::Compiling) {
    if !out.quiet && c.size >= crate::runtime::plugin::SLOW_TO_COMPILE {
        eprintln!("{}", plain::compiling_line(name, c.size, c.cached));
    }
}

/// The observer for `out`: quiet, live or plain.
pub fn observer(out: Output) -> Observer {
    if out.quiet {
        return Box::new(|_: &UiEvent<'_>| {});
    }
    let term = console::Term::stderr();
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    if !std::io::stderr().is_terminal() || dumb {
        return plain::observer(out);
    }
    let rows = term.size_checked().map_or(24, |(rows, _)| rows as usize);
    let max_bars = rows.saturating_sub(RESERVED_ROWS).clamp(1, MAX_BARS);
    let mut live = live::Live::new(out, ProgressDrawTarget::stderr_with_hz(live::REFRESH_HZ), max_bars);
    Box::new(move |ev: &UiEvent<'_>| live.on(ev))
}
