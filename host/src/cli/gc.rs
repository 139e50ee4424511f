//! `baton gc`: removes old runs (with `--keep-runs N`), their logs, reports
//! and workspaces with them, and every stored blob that no kept run refers to.

use std::collections::HashSet;

use clap::Args;

use super::Locate;
use crate::storage::artifacts::ArtifactStore;
use crate::storage::journal::{self, Record};
use crate::storage::runs;
use crate::units::Size;

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep only the newest N runs (default: keep every run).
    #[arg(long)]
    pub keep_runs: Option<usize>,
    /// Show what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn main(args: GcArgs, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(None)?;
    let mut all = runs::list(&state);
    let mut removed_runs = 0;
    let mut workspace_bytes = 0;
    if let Some(keep) = args.keep_runs {
        let drop_n = all.len().saturating_sub(keep);
        for run in all.drain(..drop_n) {
            workspace_bytes += runs::disk_usage(&run.workspaces());
            if !args.dry_run {
                std::fs::remove_dir_all(&run.path)?;
            }
            removed_runs += 1;
        }
    }
    let mut live: HashSet<String> = HashSet::new();
    for run in &all {
        for r in journal::read(&run.journal()).unwrap_or_default() {
            if let Record::Artifact { record } = r {
                live.insert(record.digest);
            }
        }
    }
    // Blobs the step cache's entries name stay too (`baton cache gc` trims those).
    live.extend(crate::cache::gc::referenced(&state.join("cache")));
    let store = ArtifactStore::new(state.join("store"));
    let (mut blobs, mut bytes) = (0, 0u64);
    for digest in store.digests()? {
        if live.contains(&digest) {
            continue;
        }
        let path = store.blob_path(&digest);
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if !args.dry_run {
            std::fs::remove_file(&path)?;
        }
        blobs += 1;
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {removed_runs} run{} ({} of workspaces), {blobs} blob{} ({}); kept {} run{}, {} blob{}",
        plural(removed_runs),
        Size(workspace_bytes),
        plural(blobs),
        Size(bytes),
        all.len(),
        plural(all.len()),
        live.len(),
        plural(live.len())
    );
    Ok(0)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
