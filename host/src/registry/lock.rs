//! `baton.lock`: each registry plugin's reference resolved to the manifest
//! digest it had when locked, with the component's digest and size. Later
//! runs pull by digest, so a tag that moves changes nothing until
//! `baton lock --update`. The lock holds digests only: never credentials.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::reference::OciRef;

const HEADER: &str = "# Written by baton (`baton lock`): the registry plugins of the pipeline, pinned by digest.\n\
                      # Commit it. `baton lock --update [NAME]` moves a plugin to what its tag names now.\n";

/// The lock file of a pipeline file: `baton.toml` -> `baton.lock`.
pub fn path_for(pipeline: &Path) -> PathBuf {
    pipeline.with_extension("lock")
}

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Locked>,
}

/// One locked plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    /// The `[plugins]` key.
    pub name: String,
    /// The reference as the pipeline file gives it.
    pub reference: String,
    /// Manifest digest (`sha256:…`).
    pub manifest: String,
    /// Component (layer) digest.
    pub component: String,
    /// Component size in bytes.
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a valid lock file: {message} (delete it and run `baton lock`)")]
    Invalid { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

impl Locked {
    /// Whether this entry is the lock of `reference` (as written): same
    /// reference, and the manifest it pins, if it pins one.
    pub fn matches(&self, reference: &OciRef) -> bool {
        self.reference == reference.to_string() && reference.digest.as_ref().is_none_or(|d| *d == self.manifest)
    }
}

impl Lock {
    /// Reads the lock; `None` if there is none.
    pub fn load(path: &Path) -> Result<Option<Lock>, LockError> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Read { path: shown, source }),
        };
        let lock: Lock = toml::from_str(&text)
            .map_err(|e| LockError::Invalid { path: shown.clone(), message: e.message().into() })?;
        if lock.version != 1 {
            let message = format!("version {} is not the version 1 this baton writes", lock.version);
            return Err(LockError::Invalid { path: shown, message });
        }
        for p in &lock.plugins {
            OciRef::parse(&p.reference)
                .map_err(|e| LockError::Invalid { path: shown.clone(), message: e.to_string() })?;
            for d in [&p.manifest, &p.component] {
                super::reference::check_digest(d)
                    .map_err(|message| LockError::Invalid { path: shown.clone(), message })?;
            }
        }
        Ok(Some(lock))
    }

    /// Writes the lock atomically, plugins sorted by name.
    pub fn save(&self, path: &Path) -> Result<(), LockError> {
        let mut lock = self.clone();
        lock.version = 1;
        lock.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        let body = toml::to_string(&lock).unwrap_or_default();
        crate::storage::atomic::write(
            path,
            format!("{HEADER}\n{body}").as_bytes(),
            crate::storage::atomic::Sync::Durable,
        )
        .map_err(|source| LockError::Write { path: path.display().to_string(), source })
    }

    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// Adds or replaces the entry of `entry.name`.
    pub fn set(&mut self, entry: Locked) {
        self.plugins.retain(|p| p.name != entry.name);
        self.plugins.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, reference: &str) -> Locked {
        Locked {
            name: name.into(),
            reference: reference.into(),
            manifest: format!("sha256:{}", "1".repeat(64)),
            component: format!("sha256:{}", "2".repeat(64)),
            size: 10,
        }
    }

    #[test]
    fn round_trips_sorted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_for(&dir.path().join("baton.toml"));
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("baton.lock"));
        let mut lock = Lock::default();
        lock.set(entry("zeta", "oci://r.example/a/z:1"));
        lock.set(entry("alpha", "oci://r.example/a/a:1"));
        lock.save(&path).expect("save");
        let back = Lock::load(&path).expect("load").expect("some");
        assert_eq!(back.plugins.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["alpha", "zeta"]);
        assert_eq!(back.version, 1);
    }

    #[test]
    fn an_entry_matches_only_its_reference_and_pinned_digest() {
        let e = entry("j", "oci://r.example/a/j:1");
        assert!(e.matches(&OciRef::parse("oci://r.example/a/j:1").expect("ref")));
        assert!(!e.matches(&OciRef::parse("oci://r.example/a/j:2").expect("ref")));
        let pinned = OciRef::parse(&format!("oci://r.example/a/j:1@sha256:{}", "3".repeat(64))).expect("ref");
        assert!(!e.matches(&pinned));
    }

    #[test]
    fn refuses_a_damaged_lock_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("baton.lock");
        std::fs::write(&path, "version = 1\n[[plugin]]\nname = \"j\"\nreference = \"oci://r.example/a/j:1\"\nmanifest = \"sha256:12\"\ncomponent = \"x\"\nsize = 1\n").expect("write");
        let e = Lock::load(&path).expect_err("invalid").to_string();
        assert!(e.contains("is not a valid lock file") && e.contains("sha256:12"), "{e}");
    }
}
