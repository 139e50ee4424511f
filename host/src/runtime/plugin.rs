//! Loading a plugin: read its bytes (a file or a bundled plugin), check its
//! pinned digest and its kind, compile it (through the cache), check which
//! contract version it was built against, and pre-instantiate it once.

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::plan::{PluginDef, PluginSource};
use crate::runtime::bindings::StagePre;
use crate::runtime::cache::{CacheOutcome, CompileCache};
use crate::runtime::contract;
use crate::runtime::state::StepState;

/// A plugin ready to run: one `InstancePre`, shared by every step using it.
pub struct LoadedPlugin {
    pub name: String,
    /// Hex sha256 of the component bytes.
    pub digest: String,
    pub size: u64,
    pub component: Component,
    pub pre: StagePre<StepState>,
    /// The `baton:stage` version the plugin was built against.
    pub contract: String,
    /// `(capability, import)` for each import.
    pub capabilities: Vec<(&'static str, String)>,
    pub cache: CacheOutcome,
}

/// Why a plugin cannot be used; the message names the plugin.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` ({source_desc}): {message}")]
pub struct PluginError {
    pub plugin: String,
    pub source_desc: String,
    pub message: String,
}

/// Reads a plugin's bytes.
pub fn read(def: &PluginDef) -> Result<Vec<u8>, PluginError> {
    match &def.source {
        PluginSource::File(path) => std::fs::read(path).map_err(|e| PluginError {
            plugin: def.name.clone(),
            source_desc: path.display().to_string(),
            message: format!("cannot read: {e}"),
        }),
        PluginSource::Oci { reference, blob } => {
            let fail =
                |message: String| PluginError { plugin: def.name.clone(), source_desc: reference.to_string(), message };
            let path = blob.as_ref().ok_or_else(|| fail("not pulled from its registry yet".into()))?;
            std::fs::read(path).map_err(|e| fail(format!("cannot read the cached component {}: {e}", path.display())))
        }
        PluginSource::Bundled(name) => {
            crate::plan::bundled::bytes(name).map(<[u8]>::to_vec).ok_or_else(|| PluginError {
                plugin: def.name.clone(),
                source_desc: "bundled".into(),
                message: "no such bundled plugin".into(),
            })
        }
    }
}

/// Describes where a plugin comes from, for messages.
pub fn describe_source(def: &PluginDef) -> String {
    match &def.source {
        PluginSource::File(p) => p.display().to_string(),
        PluginSource::Bundled(n) => format!("bundled {n}"),
        PluginSource::Oci { reference, .. } => reference.to_string(),
    }
}

/// A compilation about to start (the compile cache had no code for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compiling {
    /// Bytes of the component.
    pub size: u64,
    /// Whether the code will be kept, so that later runs skip this.
    pub cached: bool,
}

/// Components from this size on take long enough to compile (Cranelift
/// does about 3-4 MB a second on one core; the 12-18 MB interpreters of
/// componentize-py and componentize-js take 4-20 s) that a run says so
/// while it waits.
pub const SLOW_TO_COMPILE: u64 = 1 << 20;

/// Loads and checks a plugin; `compiling` hears of a compilation before it
/// starts.
pub fn load(
    engine: &Engine,
    linker: &Linker<StepState>,
    cache: &CompileCache,
    def: &PluginDef,
    bytes: &[u8],
    digest: String,
    compiling: impl FnOnce(Compiling),
) -> Result<Arc<LoadedPlugin>, PluginError> {
    let fail = |message: String| PluginError { plugin: def.name.clone(), source_desc: describe_source(def), message };
    if let Some(pinned) = &def.sha256
        && *pinned != digest
    {
        return Err(fail(match def.source {
            PluginSource::Oci { .. } => format!(
                "the cached component is {digest}, not the locked {pinned}: it changed on disk; run again to pull it anew"
            ),
            _ => format!("sha256 mismatch: the pipeline pins {pinned}, the file is {digest}"),
        }));
    }
    check_header(bytes).map_err(&fail)?;
    let size = bytes.len() as u64;
    let notice = |cached| compiling(Compiling { size, cached });
    let (component, outcome) = cache.load_noting(engine, &digest, bytes, notice).map_err(|e| {
        let text = first_line(&e);
        match text.split_once("pooling allocator requirements: ") {
            // Tables or memories bigger than any stage may have are refused
            // at load rather than at instantiation.
            Some((_, detail)) => fail(format!("exceeds a host limit: {detail}")),
            None => fail(format!("not a valid component: {text}")),
        }
    })?;
    let contract = contract::check(engine, &component).map_err(&fail)?;
    let capabilities = contract::capabilities(engine, &component);
    let pre = linker.instantiate_pre(&component).map_err(|e| fail(format!("cannot be linked: {}", first_line(&e))))?;
    let pre = StagePre::new(pre).map_err(|e| fail(format!("does not export the stage world: {}", first_line(&e))))?;
    Ok(Arc::new(LoadedPlugin {
        name: def.name.clone(),
        digest,
        size: bytes.len() as u64,
        component,
        pre,
        contract,
        capabilities,
        cache: outcome,
    }))
}

/// Tells a component from a core module or from something that is not wasm.
pub fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly file (no `\\0asm` header)".into());
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => {
            Err("is a core WebAssembly module, not a component: build it for `wasm32-wasip2`, \
             or wrap it with `wasm-tools component new`"
                .into())
        }
        _ => Err(format!("unknown WebAssembly version/layer {:02x?}", &bytes[4..8])),
    }
}

/// The first line of an error chain, without wasmtime's long link dumps.
pub fn first_line(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    text.lines().next().unwrap_or_default().to_string()
}
