//! `baton check [FILE]`: validates the file (every error, with its key
//! path) and loads every plugin it names, before anything runs.

use std::path::PathBuf;

use clap::Args;

use super::{Output, default_file, load_plan};
use crate::runtime::Runtime;
use crate::sandbox::policy::check_capabilities;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The pipeline file.
    #[arg(default_value_os_t = default_file())]
    pub file: PathBuf,
    /// Refuse a missing or out-of-date baton.lock.
    #[arg(long)]
    pub locked: bool,
    /// Make no network call: registry plugins must be locked and cached.
    #[arg(long)]
    pub offline: bool,
}

pub fn main(args: CheckArgs, out: Output) -> anyhow::Result<u8> {
    let Some(mut plan) = load_plan(&args.file) else {
        return Ok(2);
    };
    let resolve = super::lock::Resolve { offline: args.offline, locked: args.locked, ..Default::default() };
    if super::lock::resolve_or_report(&mut plan, &resolve).is_none() {
        return Ok(2);
    }
    let runtime = Runtime::new(1).map_err(|e| anyhow::anyhow!("cannot start the wasm engine: {e:#}"))?;
    let mut errors = Vec::new();
    for (p, def) in plan.plugins.iter().enumerate() {
        let users: Vec<&str> = plan.steps.iter().filter(|s| s.plugin == Some(p)).map(|s| s.id.as_str()).collect();
        if users.is_empty() {
            continue;
        }
        match runtime.load(def) {
            Err(e) => errors.push(format!("{e} (used by {})", users.join(", "))),
            Ok(loaded) => {
                for s in plan.steps.iter().filter(|s| s.plugin == Some(p)) {
                    if let Err(m) = check_capabilities(&s.policy, &s.id, &def.name, &loaded.capabilities) {
                        errors.push(format!("{}: {m}", s.source));
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        eprintln!("error: {}: {} error{}", args.file.display(), errors.len(), if errors.len() == 1 { "" } else { "s" });
        for e in &errors {
            eprintln!("  - {e}");
        }
        return Ok(2);
    }
    if !out.quiet {
        eprintln!(
            "{}: ok ({} boards, {} steps, {} plugins)",
            args.file.display(),
            plan.boards.len(),
            plan.steps.len(),
            plan.plugins.iter().enumerate().filter(|(p, _)| plan.steps.iter().any(|s| s.plugin == Some(*p))).count()
        );
    }
    Ok(0)
}
