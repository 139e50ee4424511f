//! On-disk cache of compiled components, so that a second `baton run` does
//! not compile an unchanged plugin again. Keyed by the sha256 of the
//! component bytes and by everything about the engine that changes the
//! compiled code; written atomically; a damaged entry is recompiled. It also
//! remembers the config schema each component's `describe()` declared, so
//! that pre-flight need not instantiate an unchanged plugin to learn it.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

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

    /// The compiled component for `bytes` whose sha256 is `digest`.
    pub fn load(&self, engine: &Engine, digest: &str, bytes: &[u8]) -> wasmtime::Result<(Component, CacheOutcome)> {
        self.load_noting(engine, digest, bytes, |_| {})
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
        let Some(dir) = &self.dir else {
            compiling(false);
            return Ok((Component::new(engine, bytes)?, CacheOutcome::CompiledUncached));
        };
        let path = dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if path.exists() {
            // SAFETY: the file was written by `store` below from
            // `Engine::precompile_component` for an engine with the same
            // compatibility hash; the cache directory belongs to the user.
            if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((c, CacheOutcome::Hit));
            }
        }
        compiling(true);
        let compiled = engine.precompile_component(bytes)?;
        // Durable: a torn compiled artifact must never be loaded after a
        // crash of the machine.
        if atomic::write(&path, &compiled, atomic::Sync::Durable).is_ok() {
            // Load it from the file, as later runs will: memory images are
            // then mapped from it instead of copied into an anonymous memfd.
            // SAFETY: written just now from this engine's output.
            if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((c, CacheOutcome::Compiled));
            }
        }
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, CacheOutcome::CompiledUncached))
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
