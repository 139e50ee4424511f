//! `runtime`: the wasmtime engine, the compile cache, plugin loading and
//! checking, the one `bindgen!` site, and the host side of every WIT
//! interface (`host/<interface>.rs`).

pub mod bindings;
pub mod cache;
pub mod compiler;
pub mod config_schema;
pub mod context;
pub mod contract;
pub mod engine;
pub mod executor;
pub mod guest_error;
pub mod host;
pub mod incremental;
pub mod inspect;
pub mod invoke;
pub mod plugin;
pub mod preflight;
pub mod state;
pub mod tiered;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime::Engine;

use crate::plan::PluginDef;
use crate::runtime::cache::CompileCache;
use crate::runtime::plugin::{LoadedPlugin, PluginError};
use crate::runtime::tiered::Tiers;

/// The engines, linkers and compile caches of a baton process (one per
/// compiler tier, see `tiered`), and the plugins loaded so far (by digest).
pub struct Runtime {
    /// The Cranelift engine (a plugin's code may belong to the Winch one:
    /// stores are made by [`plugin::Code::engine`]).
    pub engine: Engine,
    /// Max stages instantiated at once (each engine's pool's size).
    pub max_stages: usize,
    pub(crate) tiers: Tiers,
    /// The Cranelift tier's compile cache (and the schemas it remembers).
    pub(crate) cache: CompileCache,
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
}

impl Runtime {
    /// Builds the engine for up to `stages` stages alive at once, and links
    /// WASI and the baton interfaces.
    pub fn new(stages: usize) -> wasmtime::Result<Self> {
        Self::with_stack(stages, engine::DEFAULT_WASM_STACK)
    }

    /// As [`Runtime::new`], with every stage's wasm stack `wasm_stack` bytes.
    pub fn with_stack(stages: usize, wasm_stack: usize) -> wasmtime::Result<Self> {
        Self::with_cache(stages, wasm_stack, CompileCache::default_dir())
    }

    /// As [`Runtime::with_stack`], with compiled plugins kept in `compiled`
    /// (`None`: compiled each time) instead of baton's compile cache (a
    /// worker keeps them in its `--dir`).
    pub fn with_cache(
        stages: usize,
        wasm_stack: usize,
        compiled: Option<std::path::PathBuf>,
    ) -> wasmtime::Result<Self> {
        let tiers = Tiers::new(stages, wasm_stack, compiled)?;
        Ok(Self {
            engine: tiers.cranelift.engine.clone(),
            max_stages: tiers.max_stages,
            cache: tiers.cranelift.cache.clone(),
            tiers,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// Leaves compiled code for each plugin of `defs` in the compile cache
    /// (Winch's at once under tiered compilation), for commands where the
    /// user waits anyway (`baton plugin pull`, `baton lock`): the first run
    /// then starts at once. Returns what could not be compiled.
    pub fn compile_ahead<'a>(defs: impl IntoIterator<Item = &'a PluginDef>) -> Vec<String> {
        let runtime = match Self::new(1) {
            Ok(r) => r,
            Err(e) => return vec![format!("cannot start the wasm engine: {e:#}")],
        };
        defs.into_iter().filter_map(|def| runtime.load(def).err().map(|e| e.to_string())).collect()
    }

    /// Loads (or returns the already loaded) plugin.
    pub fn load(&self, def: &PluginDef) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.load_noting(def, |_| {})
    }

    /// As [`Runtime::load`]; `compiling` hears of a compilation (a compile
    /// cache miss) before it starts, to tell a user who waits why.
    pub fn load_noting(
        &self,
        def: &PluginDef,
        compiling: impl FnOnce(plugin::Compiling),
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let bytes = plugin::read(def)?;
        self.load_bytes_noting(def, &bytes, compiling)
    }

    /// As [`Runtime::load_noting`], with the component's bytes already read
    /// (a worker gets them from the cluster's object store).
    pub fn load_bytes_noting(
        &self,
        def: &PluginDef,
        bytes: &[u8],
        compiling: impl FnOnce(plugin::Compiling),
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(bytes))
        };
        if let Some(p) = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(&digest)
            && def.sha256.as_ref().is_none_or(|pin| *pin == digest)
        {
            return Ok(p.clone());
        }
        let (p, tier_up) = plugin::load(&self.tiers, def, bytes, digest.clone(), compiling)?;
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(digest, p.clone());
        if tier_up {
            self.tiers.tier_up(p.clone(), bytes.to_vec());
        }
        Ok(p)
    }
}
