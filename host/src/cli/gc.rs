//! `baton gc`: removes old runs (with `--keep-runs N`) and every stored blob
//! that no kept run refers to.

use std::collections::HashSet;
use std::path::PathBuf;

use clap::Args;

use super::{default_file, state_dir_of};
use crate::plan::units::Size;
use crate::storage::artifacts::ArtifactStore;
use crate::storage::journal::{self, Record};
use crate::storage::runs;

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Keep only the newest N runs (default: keep every run).
    #[arg(long)]
    pub keep_runs: Option<usize>,
    /// Show what would be removed without removing it.
    #[arg(long)]
    pub dry_run: bool,
    /// The pipeline file whose `.baton/` to clean.
    #[arg(short, long, default_value_os_t = default_file())]
    pub file: PathBuf,
}

pub fn main(args: GcArgs) -> anyhow::Result<u8> {
    let state = state_dir_of(&args.file);
    let mut all = runs::list(&state);
    let mut removed_runs = 0;
    if let Some(keep) = args.keep_runs {
        let drop_n = all.len().saturating_sub(keep);
        for run in all.drain(..drop_n) {
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
        "{verb} {removed_runs} run{}, {blobs} blob{} ({}); kept {} run{}, {} blob{}",
        plural(removed_runs),
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
