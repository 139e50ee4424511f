//! `baton runs [FILE]`: past runs of a pipeline, oldest first (the latest
//! at the bottom): id, pipeline, status, start, duration, the size of its
//! workspaces, step outcomes.
//! A run without an end record is `running` while its process writes its
//! journal and `interrupted` once that process is gone.

use std::fmt::Write;
use std::path::PathBuf;

use clap::Args;

use super::{Locate, Output, runs_under};
use crate::report::analysis::human;
use crate::storage::run_info::{self, RunInfo};
use crate::storage::runs::utc_datetime;
use crate::units::Size;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The pipeline file (its directory holds `.baton/`).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Show the last N runs (0: all).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Print the runs as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn main(args: RunsArgs, out: Output, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(args.file.as_deref())?;
    let all = runs_under(&state)?;
    let skip = if args.limit == 0 { 0 } else { all.len().saturating_sub(args.limit) };
    let mut infos = Vec::new();
    for run in &all[skip..] {
        match run_info::read(run) {
            Ok(mut info) if !args.json && is_try(run) => {
                // The `try` badge: the run's steps saw a contributor's patch.
                info.pipeline = format!("{} [try]", info.pipeline);
                infos.push(info)
            }
            Ok(info) => infos.push(info),
            Err(e) => eprintln!("warning: run {}: cannot read {}: {e}", run.id, run.journal().display()),
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
        return Ok(0);
    }
    print!("{}", table(&infos));
    if skip > 0 && !out.quiet {
        eprintln!("({skip} older run{} not shown; -n 0 shows all)", if skip == 1 { "" } else { "s" });
    }
    Ok(0)
}

/// Whether `run` is a `baton try` run (its report says so).
fn is_try(run: &crate::storage::runs::RunDir) -> bool {
    std::fs::read(run.report())
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["kind"] == "try")
}

fn table(infos: &[RunInfo]) -> String {
    let rows: Vec<[String; 7]> = infos
        .iter()
        .map(|i| {
            [
                i.id.clone(),
                i.pipeline.clone(),
                i.status.to_string(),
                i.started_unix.map(utc_datetime).unwrap_or_else(|| "-".into()),
                i.duration.map(human).unwrap_or_else(|| "-".into()),
                Size(i.workspace_bytes).to_string(),
                i.step_counts(),
            ]
        })
        .collect();
    let head = ["run", "pipeline", "status", "started (UTC)", "duration", "workspaces", "steps"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(head.map(String::from)).chain(rows) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:>w4$}  {:>w5$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[6],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3],
            w4 = width[4],
            w5 = width[5],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{RunStatus, StepStatus};
    use crate::storage::run_info::RunState;

    #[test]
    fn the_table_aligns_its_columns() {
        let info = |id: &str, status: RunState, duration: Option<f64>| RunInfo {
            id: id.into(),
            pipeline: "demo".into(),
            status,
            started_unix: Some(1_795_290_000.0),
            duration,
            resumed_from: None,
            steps: vec![("b.a".into(), StepStatus::Ok), ("b.b".into(), StepStatus::Failed)],
            workspace_bytes: 2048,
            cache_saved: 0.0,
        };
        let text = table(&[
            info("20261121-194000-0001", RunState::Ended(RunStatus::Failed), Some(2.5)),
            info("20261121-194100-0002", RunState::Interrupted, None),
        ]);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "run                   pipeline  status       started (UTC)        duration  workspaces  steps",
                "20261121-194000-0001  demo      failed       2026-11-21 19:40:00      2.5s        2KiB  1 ok, 1 failed",
                "20261121-194100-0002  demo      interrupted  2026-11-21 19:40:00         -        2KiB  1 ok, 1 failed",
            ]
        );
    }
}
