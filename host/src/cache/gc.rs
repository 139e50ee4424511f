//! `baton cache gc --max-size 10GiB`: drops the least recently used
//! entries (by the mtime a hit refreshes) until the blobs the rest refer to
//! fit, then the blobs only dropped entries referred to, unless a run still
//! lists them as its artifacts (`baton artifacts` keeps working).

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use super::Entry;
use crate::storage::artifacts::ArtifactStore;

/// What a collection did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub kept: usize,
    pub removed: usize,
    /// Bytes of blobs removed from the store.
    pub freed: u64,
    /// Bytes the kept entries refer to.
    pub size: u64,
}

/// Every entry under `root` (`.baton/cache`): last use, file, entry.
fn entries(root: &Path) -> Vec<(SystemTime, std::path::PathBuf, Entry)> {
    let mut found = Vec::new();
    for ns in read_dir(&root.join("entries")) {
        for shard in read_dir(&ns) {
            for file in read_dir(&shard) {
                let Ok(bytes) = std::fs::read(&file) else { continue };
                let Ok(entry) = serde_json::from_slice::<Entry>(&bytes) else { continue };
                let used = std::fs::metadata(&file).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((used, file, entry));
            }
        }
    }
    found
}

/// The digests the entries under `root` refer to (`baton gc` keeps them).
pub fn referenced(root: &Path) -> HashSet<String> {
    entries(root).iter().flat_map(|(_, _, e)| e.blobs().map(|b| b.digest.clone()).collect::<Vec<_>>()).collect()
}

/// Collects the entries under `root` (`.baton/cache`) down to `max` bytes.
pub fn collect(root: &Path, store: &ArtifactStore, state_dir: &Path, max: u64) -> std::io::Result<Collected> {
    let mut found = entries(root);
    // Newest first; blobs shared by entries count once.
    found.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = Collected::default();
    let mut kept_blobs: HashSet<String> = HashSet::new();
    let mut dropped_blobs: HashSet<(String, u64)> = HashSet::new();
    for (_, file, entry) in &found {
        let extra: u64 = entry.blobs().filter(|b| !kept_blobs.contains(&b.digest)).map(|b| b.size).sum();
        if out.size + extra <= max {
            out.size += extra;
            out.kept += 1;
            kept_blobs.extend(entry.blobs().map(|b| b.digest.clone()));
        } else {
            std::fs::remove_file(file)?;
            out.removed += 1;
            dropped_blobs.extend(entry.blobs().map(|b| (b.digest.clone(), b.size)));
        }
    }
    let in_runs = run_artifacts(state_dir);
    for (digest, size) in dropped_blobs {
        if kept_blobs.contains(&digest) || in_runs.contains(&digest) {
            continue;
        }
        if std::fs::remove_file(store.blob_path(&digest)).is_ok() {
            out.freed += size;
        }
    }
    Ok(out)
}

/// Digests every run's journal lists as an artifact.
fn run_artifacts(state_dir: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    for run in crate::storage::runs::list(state_dir) {
        for record in crate::storage::journal::read(&run.journal()).unwrap_or_default() {
            if let crate::storage::journal::Record::Artifact { record } = record {
                out.insert(record.digest);
            }
        }
    }
    out
}

fn read_dir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entries::{EntryStore, LocalEntries};
    use crate::cache::manifest::tests_support::sample_entry;

    #[test]
    fn least_recently_used_go_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entries = LocalEntries::new(dir.path().join("cache"));
        let store = ArtifactStore::new(dir.path().join("store"));
        let mut old = sample_entry("sha256:aa");
        old.key = "1".repeat(64);
        let mut new = sample_entry("sha256:bb");
        new.key = "2".repeat(64);
        entries.create("trusted", &old).expect("create");
        entries.create("trusted", &new).expect("create");
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        let f =
            std::fs::File::options().append(true).open(entries.path("trusted", &old.key).expect("path")).expect("open");
        f.set_modified(past).expect("mtime");
        let got = collect(entries.root(), &store, &dir.path().join("state"), 1).expect("gc");
        assert_eq!((got.kept, got.removed), (1, 1));
        assert!(entries.get("trusted", &new.key).is_some());
        assert!(entries.get("trusted", &old.key).is_none());
    }
}
