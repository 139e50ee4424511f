//! `baton artifacts [RUN]` lists a run's artifacts; `baton artifacts get REF
//! DEST` copies one out of the store (verifying its digest).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::Locate;
use crate::storage::artifacts::{ArtifactRecord, ArtifactStore, Kind};
use crate::storage::journal::{self, Record};
use crate::storage::runs;
use crate::units::Size;

#[derive(Debug, Args)]
pub struct ArtifactsArgs {
    #[command(subcommand)]
    pub command: Option<ArtifactsCommand>,
    /// The run (an id or its prefix; default: the latest).
    pub run: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// Copies an artifact (`board.step/name`) to DEST.
    Get {
        reference: String,
        dest: PathBuf,
        /// The run (default: the latest).
        #[arg(long)]
        run: Option<String>,
    },
}

pub fn main(args: ArtifactsArgs, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(None)?;
    match args.command {
        None => list(&state, args.run.as_deref()),
        Some(ArtifactsCommand::Get { reference, dest, run }) => get(&state, run.as_deref(), &reference, &dest),
    }
}

/// The artifacts of a run, last publication of each reference, in order.
pub fn records(state: &Path, run: Option<&str>) -> anyhow::Result<(String, Vec<ArtifactRecord>)> {
    let Some(dir) = runs::find(state, run) else {
        anyhow::bail!("no run {} under {}", run.unwrap_or("at all"), state.display());
    };
    let mut out: Vec<ArtifactRecord> = Vec::new();
    for r in journal::read(&dir.journal())? {
        if let Record::Artifact { record } = r {
            out.retain(|a| a.reference != record.reference);
            out.push(record);
        }
    }
    Ok((dir.id, out))
}

fn list(state: &Path, run: Option<&str>) -> anyhow::Result<u8> {
    let (id, records) = records(state, run)?;
    eprintln!("run {id}: {} artifact{}", records.len(), if records.len() == 1 { "" } else { "s" });
    let width = records.iter().map(|r| r.reference.len()).max().unwrap_or(9).max(9);
    println!("{:<width$}  {:<9}  {:>9}  digest", "reference", "kind", "size");
    for r in &records {
        let kind = match r.kind {
            Kind::File => "file",
            Kind::Directory => "directory",
        };
        println!("{:<width$}  {kind:<9}  {:>9}  {}", r.reference, Size(r.size).to_string(), r.digest);
    }
    Ok(0)
}

fn get(state: &Path, run: Option<&str>, reference: &str, dest: &Path) -> anyhow::Result<u8> {
    let (id, records) = records(state, run)?;
    let Some(record) = records.iter().find(|r| r.reference == reference) else {
        let known: Vec<&str> = records.iter().map(|r| r.reference.as_str()).collect();
        anyhow::bail!("run {id} has no artifact {reference}{}", crate::text::suggest::hint(reference, known));
    };
    let store = ArtifactStore::new(state.join("store"));
    store.export(record, dest)?;
    eprintln!("{reference} ({}) -> {}", record.digest, dest.display());
    Ok(0)
}
