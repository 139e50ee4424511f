//! On-disk cache of compiled components, so that a second `baton run` does
//! not compile an unchanged plugin again. Keyed by the sha256 of the
//! component bytes and by everything about the engine that changes the
//! compiled code (Winch's and Cranelift's code have different keys); written
//! atomically. Each file ends with a trailer holding its length and CRC-32,
//! checked before the file is loaded: a truncated or damaged entry (a full
//! disk, a bad block, a hand edit) is compiled again, never mapped as code.
//! It also remembers the config schema each component's `describe()`
//! declared, so that pre-flight need not instantiate an unchanged plugin to
//! learn it.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::storage::atomic;

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained, for `-v` output and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache (memory-mapped).
    Hit,
    /// Compiled now and stored.
    Compiled,
    /// Compiled now; the cache is off or could not be written.
    CompiledUncached,
}

impl CacheOutcome {
    /// As `report.json` says it.
    pub fn name(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Compiled => "compiled",
            CacheOutcome::CompiledUncached => "compileduncached",
        }
    }
}

/// What ends every cache file: `MAGIC`, then the length of what precedes
/// the trailer and its CRC-32, little-endian.
const MAGIC: &[u8; 8] = b"batonck1";
const TRAILER: usize = 8 + 8 + 4;

pub(crate) fn trailer(body: &[u8]) -> [u8; TRAILER] {
    let mut t = [0u8; TRAILER];
    t[..8].copy_from_slice(MAGIC);
    t[8..16].copy_from_slice(&(body.len() as u64).to_le_bytes());
    t[16..].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
    t
}

/// `bytes` without their trailer, if it matches what precedes it.
pub(crate) fn untrailed(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    let body = bytes.len().checked_sub(TRAILER)?;
    if bytes[body..] != trailer(&bytes[..body]) {
        return None;
    }
    bytes.truncate(body);
    Some(bytes)
}

/// Whether the file at `path` is whole: its trailer's length and CRC-32
/// match what precedes it. Read in 1 MiB pieces (no mapping: a file cut
/// short under a mapping would fault).
fn intact(path: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    if len < TRAILER as u64 {
        return false;
    }
    let body = len - TRAILER as u64;
    let mut t = [0u8; TRAILER];
    if file.read_exact_at(&mut t, body).is_err() || &t[..8] != MAGIC {
        return false;
    }
    if u64::from_le_bytes(t[8..16].try_into().unwrap_or_default()) != body {
        return false;
    }
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut reader = (&file).take(body);
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => crc.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    crc.finalize().to_le_bytes() == t[16..]
}

/// Removes what a write cut short by the end of its process left: the
/// temporary files of [`atomic::write`] older than ten minutes (a write
/// takes well under a second; a background compile is abandoned when its
/// run ends).
fn sweep_temporaries(dir: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(".tmp")
            && entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < old);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl CompileCache {
    /// baton's compile cache: `compiled/` in its cache directory (`None`
    /// when `BATON_CACHE_DIR=off`).
    pub fn default_dir() -> Option<PathBuf> {
        crate::env_vars::cache_dir().map(|d| d.join("compiled"))
    }

    /// A cache in `dir` (`None`: off) for `engine`'s compiled code.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        Self { dir, engine_key: format!("{:016x}", h.finish()) }
    }

    /// The cache's directory (`None`: off).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where the code of component `digest` is kept.
    pub fn path_of(&self, digest: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// The compiled component for `bytes` whose sha256 is `digest`.
    pub fn load(&self, engine: &Engine, digest: &str, bytes: &[u8]) -> wasmtime::Result<(Component, CacheOutcome)> {
        self.load_noting(engine, digest, bytes, |_| {})
    }

    /// The cached code of component `digest`, if there is a whole entry that
    /// `engine` accepts.
    pub fn lookup(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path_of(digest)?;
        if !intact(&path) {
            return None;
        }
        // SAFETY: the file was written by `store` below from
        // `Engine::precompile_component` for an engine with the same
        // compatibility hash, and is whole (its checksum matches); the cache
        // directory belongs to the user.
        unsafe { Component::deserialize_file(engine, &path) }.ok()
    }

    /// As [`CompileCache::load`]; `compiling` is called just before a
    /// compilation starts (a cache miss), with whether its result will be
    /// kept for later runs.
    pub fn load_noting(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
        compiling: impl FnOnce(bool),
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        if self.dir.is_none() {
            compiling(false);
            return Ok((Component::new(engine, bytes)?, CacheOutcome::CompiledUncached));
        }
        if let Some(c) = self.lookup(engine, digest) {
            return Ok((c, CacheOutcome::Hit));
        }
        compiling(true);
        let compiled = engine.precompile_component(bytes)?;
        self.store(engine, digest, compiled)
    }

    /// Keeps `compiled` (`engine`'s output for component `digest`) and
    /// returns it loaded, from the file if it could be written.
    pub fn store(
        &self,
        engine: &Engine,
        digest: &str,
        mut compiled: Vec<u8>,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let t = trailer(&compiled);
        compiled.extend_from_slice(&t);
        // Durable: a torn compiled artifact must never be loaded after a
        // crash of the machine. Two processes storing the same entry each
        // write a whole file and rename it into place: the last one stays.
        if let Some(dir) = &self.dir {
            sweep_temporaries(dir);
        }
        if let Some(path) = self.path_of(digest)
            && atomic::write(&path, &compiled, atomic::Sync::Durable).is_ok()
        {
            // Load it from the file, as later runs will: memory images are
            // then mapped from it instead of copied into an anonymous memfd.
            // SAFETY: written just now from this engine's output.
            if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((c, CacheOutcome::Compiled));
            }
        }
        compiled.truncate(compiled.len() - TRAILER);
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, CacheOutcome::CompiledUncached))
    }

    /// Forgets the code of component `digest` (best effort): a Winch entry
    /// once Cranelift's code for it is kept.
    pub fn remove(&self, digest: &str) {
        if let Some(path) = self.path_of(digest) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl CompileCache {
    fn schema_path(&self, digest: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("{digest}.schema.json")))
    }

    /// The config schema the component `digest` declared, if remembered
    /// (`Some(None)`: it declares none).
    pub fn schema(&self, digest: &str) -> Option<Option<String>> {
        let bytes = std::fs::read(self.schema_path(digest)?).ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        match &value["schema"] {
            serde_json::Value::Null => Some(None),
            serde_json::Value::String(s) => Some(Some(s.clone())),
            _ => None,
        }
    }

    /// Remembers the config schema of the component `digest` (best effort).
    pub fn remember_schema(&self, digest: &str, schema: Option<&str>) {
        if let Some(path) = self.schema_path(digest) {
            let text = serde_json::json!({ "schema": schema }).to_string();
            let _ = atomic::write(&path, text.as_bytes(), atomic::Sync::Derived);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_file_is_intact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.cwasm");
        let body = vec![7u8; 3 << 20];
        let mut file = body.clone();
        file.extend_from_slice(&trailer(&body));
        std::fs::write(&p, &file).unwrap();
        assert!(intact(&p));
        // Cut short (the trailer is gone, or points past the end).
        std::fs::write(&p, &file[..file.len() - 1]).unwrap();
        assert!(!intact(&p));
        std::fs::write(&p, &file[..1 << 20]).unwrap();
        assert!(!intact(&p));
        // One byte changed in the middle.
        let mut bad = file.clone();
        bad[2 << 20] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        assert!(!intact(&p));
        // No trailer at all (an older baton's entry).
        std::fs::write(&p, &body).unwrap();
        assert!(!intact(&p));
        assert!(!intact(&dir.path().join("missing")));
    }
}
