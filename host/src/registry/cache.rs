//! The content-addressed cache of pulled plugins: manifests and components
//! stored as `sha256/<hex>`, keyed only by digest (never by tag). A write
//! goes to a temp file that is renamed into place; every read hashes the
//! bytes again and removes an entry that no longer matches its name.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Overrides where pulled plugins are kept.
pub const ENV_PLUGIN_CACHE: &str = crate::env_vars::PLUGIN_CACHE;

/// A cache directory.
#[derive(Debug, Clone)]
pub struct BlobCache {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("plugin cache {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cached {digest} was damaged (its bytes hash to {actual}) and is removed: pull it again")]
    Corrupt { digest: String, actual: String },
    #[error("refusing to cache bytes as {digest}: they hash to {actual}")]
    Mismatch { digest: String, actual: String },
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl BlobCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// `$BATON_PLUGIN_CACHE`, else `plugins/` in baton's cache directory
    /// (`$BATON_CACHE_DIR`, `$XDG_CACHE_HOME/baton`, `~/.cache/baton`), else
    /// (caching off or no home) `plugins/` under `state_dir` (`.baton/`).
    pub fn from_env(state_dir: &Path) -> Self {
        if let Some(d) = std::env::var_os(ENV_PLUGIN_CACHE).filter(|d| !d.is_empty()) {
            return Self::new(PathBuf::from(d));
        }
        let base = crate::env_vars::cache_dir();
        Self::new(base.unwrap_or_else(|| state_dir.to_path_buf()).join("plugins"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `digest` (`sha256:<hex>`) lives.
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join("sha256").join(digest.trim_start_matches("sha256:"))
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_file()
    }

    /// The bytes of `digest`, verified; `None` if not cached. A damaged entry
    /// is removed and reported.
    pub fn read(&self, digest: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let path = self.path(digest);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io { path: path.display().to_string(), source }),
        };
        let actual = digest_of(&bytes);
        if actual != digest {
            let _ = std::fs::remove_file(&path);
            return Err(CacheError::Corrupt { digest: digest.to_string(), actual });
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes` as `digest` after checking that they hash to it.
    pub fn write(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf, CacheError> {
        let actual = digest_of(bytes);
        if actual != digest {
            return Err(CacheError::Mismatch { digest: digest.to_string(), actual });
        }
        let path = self.path(digest);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        let io = |source| CacheError::Io { path: dir.display().to_string(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir).map_err(io)?;
        tmp.write_all(bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_digest_and_verifies_every_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = BlobCache::new(dir.path().to_path_buf());
        let d = digest_of(b"component");
        assert!(cache.read(&d).expect("read").is_none());
        let path = cache.write(&d, b"component").expect("write");
        assert_eq!(cache.read(&d).expect("read").as_deref(), Some(&b"component"[..]));
        assert_eq!(std::fs::read_dir(path.parent().expect("dir")).expect("ls").count(), 1, "no temp file left");

        std::fs::write(&path, b"tampered").expect("tamper");
        let err = cache.read(&d).expect_err("tampered entry");
        assert!(err.to_string().contains("was damaged"), "{err}");
        assert!(!path.exists(), "a damaged entry is removed");
    }

    #[test]
    fn refuses_bytes_that_do_not_match_their_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = BlobCache::new(dir.path().to_path_buf());
        let err = cache.write(&digest_of(b"a"), b"b").expect_err("mismatch");
        assert!(matches!(err, CacheError::Mismatch { .. }));
        assert!(!cache.contains(&digest_of(b"a")));
    }
}
