//! Cranelift's incremental compilation cache on disk: compiled functions by
//! the hash of their input, so a function Cranelift compiled before (for any
//! plugin) is not compiled again. Every componentize-py plugin embeds the
//! same CPython, and every componentize-js one the same SpiderMonkey: a new
//! Python plugin, or a new version of one, shares most of its functions
//! with those already compiled.
//!
//! One file per function (`<dir>/<2 hex>/<sha256 of the key>`), written
//! atomically, with the cache entries' length and CRC-32 trailer: a damaged
//! entry is a miss, never code. Bounded: past the cap nothing more is
//! stored, and the oldest entries are removed when a process opens a store
//! over the cap.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::Digest;

use crate::runtime::cache::{trailer, untrailed};
use crate::storage::atomic;

/// The most the store holds (two Python plugins' functions take ~32 MB).
pub const CAP: u64 = 256 << 20;

/// A directory of compiled functions.
#[derive(Debug)]
pub struct DiskStore {
    dir: PathBuf,
    /// Bytes in the store (as of the first insert, plus what this process
    /// added): learnt on first insert, so a run that compiles nothing does
    /// not walk the store.
    size: OnceLock<AtomicU64>,
}

impl DiskStore {
    /// The store in `dir`.
    pub fn open(dir: PathBuf) -> Self {
        DiskStore { dir, size: OnceLock::new() }
    }

    fn size(&self) -> &AtomicU64 {
        self.size.get_or_init(|| AtomicU64::new(trim(&self.dir)))
    }

    fn path_of(&self, key: &[u8]) -> PathBuf {
        let name = hex::encode(sha2::Sha256::digest(key));
        self.dir.join(&name[..2]).join(&name[2..])
    }
}

/// The bytes in the store at `dir`, after removing its oldest entries down
/// to 3/4 of [`CAP`] if it is over it.
fn trim(dir: &std::path::Path) -> u64 {
    let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for e in std::fs::read_dir(shard.path()).into_iter().flatten().flatten() {
            if let Ok(m) = e.metadata() {
                entries.push((m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len(), e.path()));
            }
        }
    }
    let mut size: u64 = entries.iter().map(|e| e.1).sum();
    if size > CAP {
        entries.sort();
        for (_, len, path) in entries {
            if size <= CAP / 4 * 3 {
                break;
            }
            if std::fs::remove_file(path).is_ok() {
                size -= len;
            }
        }
    }
    size
}

impl wasmtime::CacheStore for DiskStore {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let bytes = std::fs::read(self.path_of(key)).ok()?;
        untrailed(bytes).map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], mut value: Vec<u8>) -> bool {
        let t = trailer(&value);
        value.extend_from_slice(&t);
        let len = value.len() as u64;
        let size = self.size();
        if size.fetch_add(len, Ordering::Relaxed) + len > CAP {
            size.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        atomic::write(&self.path_of(key), &value, atomic::Sync::Derived).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::CacheStore;

    #[test]
    fn stores_reads_back_and_refuses_damaged_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path().to_path_buf());
        assert!(store.get(b"k").is_none());
        assert!(store.insert(b"k", b"compiled".to_vec()));
        assert_eq!(store.get(b"k").as_deref(), Some(&b"compiled"[..]));
        let path = store.path_of(b"k");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(store.get(b"k").is_none(), "a damaged entry is a miss");
        // Reopened, it knows its size.
        let again = DiskStore::open(dir.path().to_path_buf());
        assert_eq!(again.size().load(Ordering::Relaxed), bytes.len() as u64);
    }
}
