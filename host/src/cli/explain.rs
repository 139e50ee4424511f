//! `baton explain STEP`: why a step ran (or did not) in a run, the latest
//! by default: a cache hit names its entry; a miss names the key it looked
//! up, where, and the fields of its manifest that differ from the last
//! entry recorded for the step (`runs/<id>/cache/<step>.json`, written at
//! the miss). Turborepo's most asked-for feature, without a run log of
//! every input.

use clap::Args;

use super::Locate;
use crate::cache::session::{Explanation, explain_file};
use crate::report::RunReport;
use crate::storage::runs;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The step, `board.step`.
    pub step: String,
    /// The run (an id or its prefix; default: the latest).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

pub fn main(args: ExplainArgs, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(None)?;
    let all = super::runs_under(&state)?;
    let run = match &args.run {
        None => all.last().cloned(),
        Some(id) => runs::find(&state, Some(id)),
    };
    let Some(run) = run else {
        anyhow::bail!("no run `{}` under {}", args.run.unwrap_or_default(), runs::runs_dir(&state).display());
    };
    let step = crate::text::escape_line(&args.step).into_owned();
    let report: Option<RunReport> = std::fs::read(run.report()).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let shown = report.as_ref().and_then(|r| r.step(&args.step));
    if let Some(c) = shown.and_then(|s| s.cached.as_ref()) {
        println!("{step} did not run in run {}: {} (namespace {})", run.id, c.describe(), c.namespace);
        return Ok(0);
    }
    let file = explain_file(&run.path.join("cache"), &args.step);
    let explanation: Option<Explanation> = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let Some(e) = explanation else {
        if report.is_some() && shown.is_none() {
            anyhow::bail!("run {} has no step {step} (see `baton graph`)", run.id);
        }
        let status = shown.map(|s| s.outcome().label()).unwrap_or("not finished");
        println!(
            "{step} ({status} in run {}) was not looked up in the step cache: it has no `cache = true` (see \
             docs/caching.md), or it did not become ready",
            run.id
        );
        return Ok(0);
    };
    let key = crate::cache::short(&e.key);
    if e.result == "no-cache" {
        println!("{step} ran in run {}: --no-cache (key {key} was not looked up)", run.id);
    } else {
        println!("{step} ran in run {}: no usable entry under key {key} in {}", run.id, e.namespaces.join(" or "));
    }
    if let Some(why) = &e.unusable {
        println!("  an entry was there, but {}", crate::text::escape_line(why));
    }
    match &e.previous {
        None => println!("  no earlier entry of this step to compare with (its first cached run here?)"),
        Some(p) if e.changed.is_empty() => println!(
            "  the last entry of this step (key {}, run {}, {}) has the same manifest",
            crate::cache::short(&p.key),
            p.run,
            p.namespace
        ),
        Some(p) => {
            println!(
                "  what changed since the last entry of this step (key {}, run {}, {}):",
                crate::cache::short(&p.key),
                p.run,
                p.namespace
            );
            for line in &e.changed {
                println!("    {}", crate::text::escape_line(line));
            }
        }
    }
    Ok(0)
}
