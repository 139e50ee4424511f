//! `baton check [FILE]`: validates the file (every error, with its key
//! path), then runs pre-flight on every step (plugins loaded, capabilities
//! and `with` checked): what `baton run` checks before its first step.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{Locate, Output, load_plan};
use crate::runtime::{Runtime, preflight};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The pipeline file (default: the nearest baton.toml, here or up).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Refuse a missing or out-of-date baton.lock.
    #[arg(long)]
    pub locked: bool,
    /// Make no network call: registry plugins must be locked and cached.
    #[arg(long)]
    pub offline: bool,
}

pub fn main(args: CheckArgs, out: Output, at: &Locate) -> anyhow::Result<u8> {
    let file = at.pipeline(args.file.as_deref())?;
    let Some(mut plan) = load_plan(&file) else {
        return Ok(2);
    };
    let resolve = super::lock::Resolve { offline: args.offline, locked: args.locked, ..Default::default() };
    if super::lock::resolve_or_report(&mut plan, &resolve).is_none() {
        return Ok(2);
    }
    let plan = Arc::new(plan);
    let runtime = Arc::new(Runtime::new(1).map_err(|e| anyhow::anyhow!("cannot start the wasm engine: {e:#}"))?);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut notice = |name: &str, c| super::progress::announce_compile(out, name, c);
    let errors = rt.block_on(preflight::check(&runtime, &plan, None, &mut notice)).errors;
    crate::sandbox::scratch::cleanup();
    if !errors.is_empty() {
        eprintln!("error: {}: {} error{}", file.display(), errors.len(), if errors.len() == 1 { "" } else { "s" });
        for e in &errors {
            eprintln!("  - {}", crate::text::escape_text(e));
        }
        return Ok(2);
    }
    for hint in crate::cache::hints(&plan) {
        eprintln!("hint: {}", crate::text::escape_text(&hint));
    }
    if !out.quiet {
        eprintln!(
            "{}: ok ({} boards, {} steps, {} plugins)",
            file.display(),
            plan.boards.len(),
            plan.steps.len(),
            plan.plugins.iter().enumerate().filter(|(p, _)| plan.steps.iter().any(|s| s.plugin == Some(*p))).count()
        );
    }
    Ok(0)
}
