//! Loading a plugin: read its bytes (a file or a bundled plugin), check its
//! pinned digest and its kind, compile it (through the cache, see
//! `tiered`), check which contract version it was built against, and
//! pre-instantiate it once.

use std::io::Read;
use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use crate::plan::{PluginDef, PluginSource};
use crate::report::plugin_code::CodeLog;
use crate::runtime::bindings::StagePre;
use crate::runtime::cache::CacheOutcome;
use crate::runtime::compiler::Tier;
use crate::runtime::contract;
use crate::runtime::state::StepState;
use crate::runtime::tiered::Tiers;

/// A plugin's compiled code, pre-instantiated, and the engine it belongs to
/// (a store must be made by that engine).
pub struct Code {
    pub tier: Tier,
    pub engine: Engine,
    pub component: Component,
    pub pre: StagePre<StepState>,
}

impl Code {
    /// Pre-instantiates `component` (compiled by `engine`) with `linker`.
    pub fn new(tier: Tier, engine: &Engine, linker: &Linker<StepState>, component: Component) -> Result<Self, String> {
        let pre = linker.instantiate_pre(&component).map_err(|e| format!("cannot be linked: {}", first_line(&e)))?;
        let pre = StagePre::new(pre).map_err(|e| format!("does not export the stage world: {}", first_line(&e)))?;
        Ok(Code { tier, engine: engine.clone(), component, pre })
    }
}

/// A plugin ready to run: one `InstancePre`, shared by every step using it.
pub struct LoadedPlugin {
    pub name: String,
    /// Hex sha256 of the component bytes.
    pub digest: String,
    pub size: u64,
    /// The code steps start on now: Winch's until Cranelift's is ready.
    code: Mutex<Arc<Code>>,
    /// The `baton:stage` version the plugin was built against.
    pub contract: String,
    /// `(capability, import)` for each import.
    pub capabilities: Vec<(&'static str, String)>,
    pub cache: CacheOutcome,
    /// The compiler of the code it was loaded with.
    pub tier: Tier,
    /// Why Winch's code is not used where it would have been.
    pub fallback: Option<String>,
    /// Which code each attempt ran on (shared with the run's report).
    pub log: CodeLog,
}

impl LoadedPlugin {
    /// The code a step starting now runs on.
    pub fn code(&self) -> Arc<Code> {
        self.code.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Steps that start from now on run on `code` (running ones keep theirs).
    pub fn replace_code(&self, code: Code) {
        *self.code.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(code);
    }

    /// The code an attempt of `step` runs on, noted in the plugin's log.
    pub fn code_for(&self, step: &str, attempt: u32) -> Arc<Code> {
        let code = self.code();
        self.log.ran(step, attempt, code.tier.name());
        code
    }
}

/// The largest plugin read: componentize-py and componentize-js make 13-18
/// MB components; a file bigger than this is refused before it is read.
pub const MAX_PLUGIN_SIZE: u64 = 512 << 20;

/// Reads the plugin file at `path`: opened without blocking (a FIFO would
/// wait for a writer for ever), refused unless a regular file (`/dev/zero`
/// would never end), and refused over [`MAX_PLUGIN_SIZE`] before reading.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "is not a regular file (a {}): a plugin must be a `.wasm` file",
            type_name(&meta.file_type())
        ));
    }
    if meta.len() > MAX_PLUGIN_SIZE {
        return Err(format!("is {} bytes, more than the {} MiB a plugin may have", meta.len(), MAX_PLUGIN_SIZE >> 20));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded even if the file grows while it is read.
    file.take(MAX_PLUGIN_SIZE + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_PLUGIN_SIZE {
        return Err(format!("grew past the {} MiB a plugin may have while it was read", MAX_PLUGIN_SIZE >> 20));
    }
    Ok(bytes)
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
        PluginSource::File(path) => read_file(path).map_err(|message| PluginError {
            plugin: def.name.clone(),
            source_desc: path.display().to_string(),
            message,
        }),
        PluginSource::Oci { reference, blob } => {
            let fail =
                |message: String| PluginError { plugin: def.name.clone(), source_desc: reference.to_string(), message };
            let path = blob.as_ref().ok_or_else(|| fail("not pulled from its registry yet".into()))?;
            read_file(path).map_err(|e| fail(format!("the cached component {}: {e}", path.display())))
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
/// starts. The second value is whether Cranelift should compile it in the
/// background (it starts on Winch's code).
pub fn load(
    tiers: &Tiers,
    def: &PluginDef,
    bytes: &[u8],
    digest: String,
    compiling: impl FnOnce(Compiling),
) -> Result<(Arc<LoadedPlugin>, bool), PluginError> {
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
    let mut notice = Some(compiling);
    let mut tell = |cached| {
        if let Some(f) = notice.take() {
            f(Compiling { size, cached });
        }
    };
    let compiled = tiers.compile(&digest, bytes, &mut tell).map_err(|e| {
        let text = first_line(&e);
        match text.split_once("pooling allocator requirements: ") {
            // Tables or memories bigger than any stage may have are refused
            // at load rather than at instantiation.
            Some((_, detail)) => fail(format!("exceeds a host limit: {detail}")),
            None => fail(format!("not a valid component: {text}")),
        }
    })?;
    let engine = &compiled.engine;
    let contract = contract::check(engine, &compiled.component).map_err(&fail)?;
    let capabilities = contract::capabilities(engine, &compiled.component);
    let code = Code::new(compiled.tier, engine, &compiled.linker, compiled.component).map_err(&fail)?;
    let plugin = LoadedPlugin {
        name: def.name.clone(),
        digest,
        size,
        code: Mutex::new(Arc::new(code)),
        contract,
        capabilities,
        cache: compiled.cache,
        tier: compiled.tier,
        fallback: compiled.fallback,
        log: CodeLog::default(),
    };
    Ok((Arc::new(plugin), compiled.tier_up))
}

/// What kind of file `t` is, for messages.
fn type_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
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
