//! `baton logs --follow`: prints what a run's logs get until the run ends.
//!
//! Polls the log directory (new logs appear as steps start) and prints
//! complete lines only. The run is over when no process writes its journal
//! any more (`journal::in_use`); then the logs are read one last time and
//! how the run ended goes to stderr.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use crate::storage::journal;
use crate::storage::run_info;
use crate::storage::runs::RunDir;

const POLL: Duration = Duration::from_millis(200);

/// Where reading one log got to.
#[derive(Default)]
struct Cursor {
    offset: u64,
    /// An unterminated last line, kept until its newline arrives.
    partial: Vec<u8>,
}

/// Follows `step`'s log, or every log (lines prefixed with their step);
/// control characters are escaped unless `raw`.
pub fn follow(run: &RunDir, step: Option<&str>, raw: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let mut cursors: HashMap<String, Cursor> = HashMap::new();
    loop {
        // Ask first: whatever the run wrote before it ended is read below.
        let live = journal::in_use(&run.journal());
        poll(run, step, raw, &mut cursors, out)?;
        if !live {
            break;
        }
        out.flush()?;
        std::thread::sleep(POLL);
    }
    // The last line of a log may lack its newline.
    let mut ids: Vec<&String> = cursors.keys().collect();
    ids.sort();
    for id in ids {
        let c = &cursors[id];
        if !c.partial.is_empty() {
            emit(out, step.is_none().then_some(id.as_str()), raw, &c.partial)?;
        }
    }
    out.flush()?;
    let info = run_info::read(run)?;
    if info.status == crate::storage::run_info::RunState::Interrupted {
        eprintln!("baton: run {} was interrupted (its process ended without an end record)", run.id);
    } else {
        eprintln!("baton: run {} ended: {}", run.id, info.status);
    }
    if let Some(step) = step
        && !cursors.contains_key(step)
    {
        anyhow::bail!("step {step} wrote no log in run {}", run.id);
    }
    Ok(())
}

/// Prints the complete lines appended since the last poll.
fn poll(
    run: &RunDir,
    step: Option<&str>,
    raw: bool,
    cursors: &mut HashMap<String, Cursor>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let logs: Vec<(String, std::path::PathBuf)> = match step {
        Some(s) => vec![(s.to_string(), run.log_of(s))],
        None => run.log_files(),
    };
    for (id, path) in logs {
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        let c = cursors.entry(id.clone()).or_default();
        f.seek(SeekFrom::Start(c.offset))?;
        let mut fresh = Vec::new();
        c.offset += f.read_to_end(&mut fresh)? as u64;
        c.partial.extend_from_slice(&fresh);
        let Some(last_nl) = c.partial.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        let rest = c.partial.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut c.partial, rest);
        for line in complete.split_inclusive(|&b| b == b'\n') {
            emit(out, step.is_none().then_some(id.as_str()), raw, line)?;
        }
    }
    Ok(())
}

fn emit(out: &mut impl Write, prefix: Option<&str>, raw: bool, line: &[u8]) -> std::io::Result<()> {
    if let Some(p) = prefix {
        write!(out, "{p} |")?;
    }
    if raw {
        out.write_all(line)?;
    } else {
        out.write_all(crate::text::escape::escape_bytes(line).as_bytes())?;
    }
    if !line.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}
