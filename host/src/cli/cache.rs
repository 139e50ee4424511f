//! `baton cache gc --max-size 10GiB`: trims the step cache of this
//! pipeline (`.baton/cache`), least recently used entries first, and the
//! stored blobs only they referred to.

use clap::{Args, Subcommand};

use super::Locate;
use crate::storage::artifacts::ArtifactStore;
use crate::units::{Size, parse_size};

#[derive(Debug, Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Drop least recently used entries until what the rest refer to fits in --max-size.
    Gc {
        /// The most the kept entries' blobs may take, e.g. `10GiB` (`0` drops every entry).
        #[arg(long, value_name = "SIZE")]
        max_size: String,
    },
}

pub fn main(args: CacheArgs, at: &Locate) -> anyhow::Result<u8> {
    let state = at.state_dir(None)?;
    match args.command {
        CacheCommand::Gc { max_size } => {
            let max = match parse_size(&max_size) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("error: --max-size: {e}");
                    return Ok(2);
                }
            };
            let store = ArtifactStore::new(state.join("store"));
            let got = crate::cache::gc::collect(&state.join("cache"), &store, &state, max)?;
            println!(
                "kept {} entr{} ({}), removed {} entr{}, freed {}",
                got.kept,
                if got.kept == 1 { "y" } else { "ies" },
                Size(got.size),
                got.removed,
                if got.removed == 1 { "y" } else { "ies" },
                Size(got.freed)
            );
            Ok(0)
        }
    }
}
