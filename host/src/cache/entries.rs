//! Where entries live: [`EntryStore`], and [`LocalEntries`], its on-disk
//! implementation under `.baton/cache/`.
//!
//! The trait is all a run needs (get, create-if-absent, and a "last entry of
//! this step" pointer for `baton explain`), so a NATS KV bucket can back it
//! on a cluster (`create` is a KV create) without the scheduler changing.
//!
//! On disk: `entries/<namespace>/<key[..2]>/<key>.json`. An entry is
//! written whole to a temp file, synced, then hard-linked to its name: the
//! link fails if the name exists, so the first writer wins and no reader
//! ever sees a partial or replaced entry (write-once). A hit touches the
//! file's mtime, which `baton cache gc` reads as "last used".

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Entry;

/// What [`EntryStore::create`] did.
#[derive(Debug)]
pub enum Created {
    New,
    /// An entry was there already (it is left as it was).
    Exists(Box<Entry>),
}

/// Entries by namespace and key. Implementations never overwrite.
pub trait EntryStore: Send + Sync {
    /// The entry under `key`, if any (an unreadable one counts as none).
    fn get(&self, namespace: &str, key: &str) -> Option<Entry>;
    /// Creates the entry unless one exists under its key.
    fn create(&self, namespace: &str, entry: &Entry) -> Result<Created, String>;
    /// Marks an entry used now (for least-recently-used collection).
    fn touch(&self, namespace: &str, key: &str);
    /// The key of the last entry recorded for `step` (only to explain a miss).
    fn last_key(&self, namespace: &str, step: &str) -> Option<String>;
    fn set_last_key(&self, namespace: &str, step: &str, key: &str);
}

/// Entries in a directory (`.baton/cache`).
#[derive(Debug, Clone)]
pub struct LocalEntries {
    root: PathBuf,
}

impl LocalEntries {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of `key` in `namespace`; `None` for a malformed key.
    pub fn path(&self, namespace: &str, key: &str) -> Option<PathBuf> {
        let ok = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| self.root.join("entries").join(namespace).join(&key[..2]).join(format!("{key}.json")))
    }

    fn last_path(&self, namespace: &str, step: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        let name = hex::encode(&Sha256::digest(step.as_bytes())[..16]);
        self.root.join("last").join(namespace).join(name)
    }

    fn tmp(&self) -> std::io::Result<tempfile::NamedTempFile> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir)?;
        tempfile::NamedTempFile::new_in(dir)
    }
}

impl EntryStore for LocalEntries {
    fn get(&self, namespace: &str, key: &str) -> Option<Entry> {
        let bytes = std::fs::read(self.path(namespace, key)?).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        // A file renamed by hand under another key is no entry of this one.
        (entry.key == key && entry.v == super::VERSION).then_some(entry)
    }

    fn create(&self, namespace: &str, entry: &Entry) -> Result<Created, String> {
        let dest = self.path(namespace, &entry.key).ok_or_else(|| format!("malformed cache key `{}`", entry.key))?;
        let fail = |e: std::io::Error| format!("cannot write cache entry {}: {e}", dest.display());
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let mut tmp = self.tmp().map_err(fail)?;
        let bytes = serde_json::to_vec(entry).map_err(|e| format!("cannot encode cache entry: {e}"))?;
        // Not synced: an entry torn by a crash reads as no entry (it is a
        // cache), and is replaced below.
        tmp.write_all(&bytes).map_err(fail)?;
        for _ in 0..2 {
            // Create-if-absent: a hard link never replaces an existing name.
            match std::fs::hard_link(tmp.path(), &dest) {
                Ok(()) => return Ok(Created::New),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match self.get(namespace, &entry.key) {
                    Some(existing) => return Ok(Created::Exists(Box::new(existing))),
                    // Torn or from another version: not an entry; the
                    // namespace's own writer may replace it (once).
                    None => std::fs::remove_file(&dest).map_err(fail)?,
                },
                Err(e) => return Err(fail(e)),
            }
        }
        Err(format!("cache entry {} keeps being replaced by another writer", dest.display()))
    }

    fn touch(&self, namespace: &str, key: &str) {
        if let Some(p) = self.path(namespace, key)
            && let Ok(f) = std::fs::File::options().append(true).open(p)
        {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    fn last_key(&self, namespace: &str, step: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.last_path(namespace, step)).ok()?;
        let key = text.trim().to_string();
        self.path(namespace, &key).map(|_| key)
    }

    fn set_last_key(&self, namespace: &str, step: &str, key: &str) {
        let path = self.last_path(namespace, step);
        if let Some(parent) = path.parent()
            && std::fs::create_dir_all(parent).is_ok()
        {
            let _ = crate::storage::atomic::write(&path, key.as_bytes(), crate::storage::atomic::Sync::Derived);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::manifest::tests_support::sample_entry;

    #[test]
    fn entries_are_write_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalEntries::new(dir.path().to_path_buf());
        let first = sample_entry("sha256:aa");
        assert!(matches!(store.create("trusted", &first), Ok(Created::New)));
        let second = sample_entry("sha256:bb");
        match store.create("trusted", &second) {
            Ok(Created::Exists(e)) => assert_eq!(*e, first),
            other => panic!("expected Exists, got {other:?}"),
        }
        assert_eq!(store.get("trusted", &first.key), Some(first.clone()));
        assert_eq!(store.get("untrusted", &first.key), None);
        assert!(store.get("trusted", "../../etc").is_none());
    }

    #[test]
    fn a_torn_entry_reads_as_none_and_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalEntries::new(dir.path().to_path_buf());
        let entry = sample_entry("sha256:aa");
        let path = store.path("trusted", &entry.key).expect("path");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, b"{\"v\":1,\"ke").expect("torn");
        assert_eq!(store.get("trusted", &entry.key), None);
        assert!(matches!(store.create("trusted", &entry), Ok(Created::New)));
        assert_eq!(store.get("trusted", &entry.key), Some(entry));
    }

    #[test]
    fn racing_writers_leave_one_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(LocalEntries::new(dir.path().to_path_buf()));
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    matches!(store.create("trusted", &sample_entry(&format!("sha256:{n:02}"))), Ok(Created::New))
                })
            })
            .collect();
        let created = handles.into_iter().map(|h| h.join().expect("join")).filter(|&c| c).count();
        assert_eq!(created, 1);
    }
}
