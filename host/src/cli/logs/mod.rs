//! `baton logs [RUN] [STEP] [--follow]`: step logs of a run.
//!
//! RUN is a run id or a prefix of one (default: the latest run); STEP is
//! `board.step`. As run ids never hold a dot and step ids always do, a
//! single argument with a dot is a STEP of the latest run. Without STEP the
//! run's logs are listed; with `--follow` what is appended is printed until
//! the run ends (every log, each line prefixed with its step, when no STEP
//! is given).

mod follow;

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use clap::Args;

use super::{Locate, runs_under};
use crate::plan::Plan;
use crate::status::StepStatus;
use crate::storage::run_info::{self, RunInfo};
use crate::storage::runs::RunDir;
use crate::text::escape::{escape_bytes, escape_line};
use crate::text::suggest;
use crate::units::Size;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run: an id or a prefix of one (default: the latest run).
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
    /// The step, `board.step`; without it, the run's logs are listed.
    #[arg(value_name = "STEP")]
    pub step: Option<String>,
    /// Keep printing what the logs get until the run ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Print the logs' bytes as they are: control characters a step printed
    /// (escape sequences, carriage returns) reach the terminal unescaped.
    #[arg(long)]
    pub raw: bool,
}

pub fn main(args: LogsArgs, at: &Locate) -> anyhow::Result<u8> {
    let (run_arg, step) = match (args.run, args.step) {
        (Some(one), None) if one.contains('.') => (None, Some(one)),
        other => other,
    };
    let state = at.state_dir(None)?;
    let run = pick_run(runs_under(&state)?, run_arg.as_deref())?;
    let info = run_info::read(&run).map_err(|e| anyhow::anyhow!("run {}: cannot read its journal: {e}", run.id))?;
    if let Some(step) = &step {
        check_step(&run, &info, step)?;
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    let result = match (&step, args.follow) {
        (Some(step), false) => print_log(&run, &info, step, args.raw, &mut out),
        (None, false) => out.write_all(list(&run, &info).as_bytes()).map_err(Into::into),
        (step, true) => follow::follow(&run, step.as_deref(), args.raw, &mut out),
    };
    match result {
        Ok(()) => Ok(0),
        // `baton logs … | head`: the reader has what it wanted.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// The run named by `arg` (an id or a prefix of one), or the latest.
fn pick_run(all: Vec<RunDir>, arg: Option<&str>) -> anyhow::Result<RunDir> {
    let Some(arg) = arg else {
        return all.into_iter().last().ok_or_else(|| anyhow::anyhow!("no runs"));
    };
    if let Some(exact) = all.iter().find(|r| r.id == arg) {
        return Ok(exact.clone());
    }
    let matching: Vec<&RunDir> = all.iter().filter(|r| r.id.starts_with(arg)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let ids: Vec<&str> = all.iter().rev().take(5).map(|r| r.id.as_str()).collect();
            let hint = if arg.contains('/') || arg.ends_with(".toml") {
                " (to name the pipeline file, use --file FILE; -f is --follow)"
            } else {
                ""
            };
            anyhow::bail!("no run `{arg}` (latest runs: {}){hint}", ids.join(", "))
        }
        many => anyhow::bail!(
            "run `{arg}` is ambiguous: it starts {} run ids ({}…); give more of the id",
            many.len(),
            many.iter().take(3).map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Step ids the run knows: from its pipeline file if it still loads (then
/// the list is complete), and from its journal and log files.
fn known_steps(run: &RunDir, info: &RunInfo) -> (Vec<String>, bool) {
    let from_plan = crate::storage::journal::read(&run.journal())
        .ok()
        .and_then(|records| {
            records.into_iter().find_map(|r| match r {
                crate::storage::journal::Record::Start { file, .. } => Some(file),
                _ => None,
            })
        })
        .and_then(|file| Plan::load(Path::new(&file)).ok())
        .map(|plan| plan.steps.into_iter().map(|s| s.id).collect::<Vec<_>>());
    let complete = from_plan.is_some();
    let mut ids = from_plan.unwrap_or_default();
    for id in info.steps.iter().map(|(id, _)| id.clone()).chain(log_files(run).into_iter().map(|(id, _)| id)) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    (ids, complete)
}

fn check_step(run: &RunDir, info: &RunInfo, step: &str) -> anyhow::Result<()> {
    let (known, complete) = known_steps(run, info);
    // A running run whose steps are not all known yet may still start it.
    if known.iter().any(|k| k == step) || (!complete && !info.is_over()) {
        return Ok(());
    }
    anyhow::bail!("run {} has no step `{step}`{}", run.id, suggest::hint(step, known.iter().map(String::as_str)))
}

fn print_log(run: &RunDir, info: &RunInfo, step: &str, raw: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let path = run.log_of(step);
    match std::fs::File::open(&path) {
        Ok(mut f) if raw => {
            std::io::copy(&mut f, out)?;
            Ok(())
        }
        Ok(f) => {
            // Line by line, so that a big log is not held in memory.
            let mut reader = std::io::BufReader::new(f);
            let mut line = Vec::new();
            while std::io::BufRead::read_until(&mut reader, b'\n', &mut line)? > 0 {
                out.write_all(escape_bytes(&line).as_bytes())?;
                line.clear();
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let why = match info.status_of(step) {
                Some(StepStatus::Skipped) => "it was skipped",
                Some(StepStatus::Excluded) => "it was left out of the run",
                Some(StepStatus::PreviouslyDone) => "it was previously done (see the run it resumed)",
                Some(StepStatus::Cached) => "it was cached and its entry kept no log",
                Some(_) => "it wrote nothing",
                None if info.is_over() => "it did not run",
                None => "it has not written anything yet (--follow waits for it)",
            };
            anyhow::bail!("step {step} has no log in run {}: {why}", run.id)
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Log files of the run: `(step id, size)`, sorted by step.
fn log_files(run: &RunDir) -> Vec<(String, u64)> {
    run.log_files()
        .into_iter()
        .map(|(id, path)| {
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            (escape_line(&id).into_owned(), size)
        })
        .collect()
}

/// The run's logs as a table.
fn list(run: &RunDir, info: &RunInfo) -> String {
    let files = log_files(run);
    let mut out = String::new();
    let _ = writeln!(out, "run {} ({}): logs in {}", run.id, info.status, run.logs().display());
    if files.is_empty() {
        out.push_str("no step wrote a log\n");
        return out;
    }
    let width = files.iter().map(|(id, _)| id.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "{:<width$}  {:<15}  {:>9}", "step", "status", "size");
    for (id, size) in &files {
        let status = info.status_of(id).map_or("running", StepStatus::as_str);
        let _ = writeln!(out, "{id:<width$}  {status:<15}  {:>9}", Size(*size).to_string());
    }
    let _ = writeln!(out, "(`baton logs {} STEP` prints one; --follow tails a running run)", run.id);
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn dirs(ids: &[&str]) -> Vec<RunDir> {
        ids.iter().map(|id| RunDir { id: id.to_string(), path: PathBuf::from("/x").join(id) }).collect()
    }

    #[test]
    fn runs_are_picked_by_id_prefix_or_latest() {
        let all = dirs(&["20260101-000000-aaaa", "20260102-000000-bbbb", "20260102-000000-bbcc"]);
        assert_eq!(pick_run(all.clone(), None).expect("latest").id, "20260102-000000-bbcc");
        assert_eq!(pick_run(all.clone(), Some("20260101")).expect("prefix").id, "20260101-000000-aaaa");
        let e = pick_run(all.clone(), Some("20260102")).expect_err("ambiguous").to_string();
        assert_eq!(
            e,
            "run `20260102` is ambiguous: it starts 2 run ids (20260102-000000-bbbb, 20260102-000000-bbcc…); give more of the id"
        );
        let e = pick_run(all, Some("1999")).expect_err("none").to_string();
        assert!(e.starts_with("no run `1999` (latest runs: 20260102-000000-bbcc, "), "{e}");
    }
}
