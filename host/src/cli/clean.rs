//! `baton clean`: removes everything under `.baton/` (runs with their logs,
//! reports and workspaces, the artifact store, workspaces of older baton
//! versions) but the step durations, which order the next run's steps. The
//! compile cache lives outside `.baton/` (`BATON_CACHE_DIR`, else
//! `~/.cache/baton`) and is kept too. A run still going is never cleaned
//! away from under its process.

use clap::Args;

use super::Locate;
use crate::storage::runs::{self, disk_usage};
use crate::units::Size;

/// What `baton clean` keeps under `.baton/`.
const KEPT: [&str; 2] = ["durations.json", "cache"];

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Show what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn main(args: CleanArgs, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(None)?;
    if !state.is_dir() {
        println!("nothing to clean: {} does not exist", state.display());
        return Ok(0);
    }
    if let Some(live) = runs::list(&state).iter().find(|r| crate::storage::journal::in_use(&r.journal())) {
        eprintln!("error: run {} is still going; wait for it to end (or cancel it) before `baton clean`", live.id);
        return Ok(2);
    }
    let mut removed = Vec::new();
    let mut bytes = 0;
    for entry in std::fs::read_dir(&state)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if KEPT.contains(&name.as_str()) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type()?.is_dir();
        bytes += if is_dir { disk_usage(&path) } else { entry.metadata().map(|m| m.len()).unwrap_or(0) };
        if !args.dry_run {
            let result = if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            result.map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", path.display()))?;
        }
        removed.push(name);
    }
    removed.sort();
    let verb = if args.dry_run { "would remove" } else { "removed" };
    if removed.is_empty() {
        println!("nothing to clean in {}", state.display());
    } else {
        println!("{verb} {} from {} ({}); kept the step durations", removed.join(", "), state.display(), Size(bytes));
    }
    Ok(0)
}
