//! `runtime`: the wasmtime engine, the compile cache, plugin loading and
//! checking, the one `bindgen!` site, and the host side of every WIT
//! interface (`host/<interface>.rs`).

pub mod bindings;
pub mod cache;
pub mod config_schema;
pub mod context;
pub mod contract;
pub mod engine;
pub mod executor;
pub mod guest_error;
pub mod host;
pub mod inspect;
pub mod invoke;
pub mod plugin;
pub mod preflight;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::plan::PluginDef;
use crate::runtime::bindings::Stage;
use crate::runtime::cache::CompileCache;
use crate::runtime::plugin::{LoadedPlugin, PluginError};
use crate::runtime::state::StepState;

/// The engine, linker and compile cache of a baton process, and the plugins
/// loaded so far (by digest).
pub struct Runtime {
    pub engine: Engine,
    /// Max stages instantiated at once (the pool's size).
    pub max_stages: usize,
    linker: Linker<StepState>,
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
        let setup = engine::build(stages, wasm_stack)?;
        let cache = CompileCache::new(&setup.engine, compiled);
        let mut linker = Linker::new(&setup.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Stage::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        crate::runtime::host::src_view::add_to_linker(&mut linker)?;
        crate::runtime::host::preopens::add_to_linker(&mut linker)?;
        Ok(Self {
            engine: setup.engine,
            max_stages: setup.max_stages,
            linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
        })
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
        let p = plugin::load(&self.engine, &self.linker, &self.cache, def, bytes, digest.clone(), compiling)?;
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(digest, p.clone());
        Ok(p)
    }
}
