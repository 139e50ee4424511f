//! Tiered compilation (see `compiler` for why): each tier's backend (engine,
//! linker, compile cache), the choice of code at load, the fallback to
//! Cranelift where Winch refuses a component, and the background compile
//! that replaces a plugin's Winch code with Cranelift's.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::bindings::Stage;
use crate::runtime::cache::{CacheOutcome, CompileCache};
use crate::runtime::compiler::{self, Compiler, Tier};
use crate::runtime::engine;
use crate::runtime::plugin::{Code, LoadedPlugin, first_line};
use crate::runtime::state::StepState;

/// What one tier compiles and runs with.
#[derive(Clone)]
pub struct Backend {
    pub tier: Tier,
    pub engine: Engine,
    pub linker: Arc<Linker<StepState>>,
    pub cache: CompileCache,
}

impl Backend {
    fn new(
        stages: usize,
        wasm_stack: usize,
        tier: Tier,
        compiled: Option<std::path::PathBuf>,
    ) -> wasmtime::Result<(Self, usize)> {
        let incremental = std::env::var_os(crate::env_vars::INCREMENTAL).is_none_or(|v| v != "0");
        let store = compiled.as_ref().filter(|_| incremental).map(|d| d.join("incremental"));
        let setup = engine::build(stages, wasm_stack, tier, store)?;
        let cache = CompileCache::new(&setup.engine, compiled);
        let mut linker = Linker::new(&setup.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Stage::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        crate::runtime::host::src_view::add_to_linker(&mut linker)?;
        crate::runtime::host::preopens::add_to_linker(&mut linker)?;
        Ok((Backend { tier, engine: setup.engine, linker: Arc::new(linker), cache }, setup.max_stages))
    }
}

/// A plugin's code as loaded.
pub struct Compiled {
    pub tier: Tier,
    pub engine: Engine,
    pub linker: Arc<Linker<StepState>>,
    pub component: wasmtime::component::Component,
    pub cache: CacheOutcome,
    /// Why Winch's code is not used where it would have been.
    pub fallback: Option<String>,
    /// Whether Cranelift should compile it in the background.
    pub tier_up: bool,
}

/// Both tiers of a baton process. The Winch engine is made on first use
/// (most runs load every plugin from the cache).
pub struct Tiers {
    pub compiler: Compiler,
    pub cranelift: Backend,
    pub max_stages: usize,
    winch: OnceLock<Result<Backend, String>>,
    stages: usize,
    wasm_stack: usize,
    compiled: Option<std::path::PathBuf>,
}

impl Tiers {
    pub fn new(stages: usize, wasm_stack: usize, compiled: Option<std::path::PathBuf>) -> wasmtime::Result<Self> {
        let compiler = Compiler::from_env().map_err(wasmtime::Error::msg)?;
        let (cranelift, max_stages) = Backend::new(stages, wasm_stack, Tier::Cranelift, compiled.clone())?;
        Ok(Tiers { compiler, cranelift, max_stages, winch: OnceLock::new(), stages, wasm_stack, compiled })
    }

    /// The Winch backend, or why there is none.
    pub fn winch(&self) -> Result<&Backend, &str> {
        self.winch
            .get_or_init(|| {
                Backend::new(self.stages, self.wasm_stack, Tier::Winch, self.compiled.clone())
                    .map(|(b, _)| b)
                    .map_err(|e| format!("winch is unavailable: {}", first_line(&e)))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The code of component `bytes` (sha256 `digest`): Cranelift's from the
    /// cache; else, unless `BATON_COMPILER=cranelift`, Winch's (from the
    /// cache or compiled now); else Cranelift's, compiled now. `compiling`
    /// hears of a compilation before it starts (at most once).
    pub fn compile(&self, digest: &str, bytes: &[u8], compiling: &mut dyn FnMut(bool)) -> wasmtime::Result<Compiled> {
        let cl = &self.cranelift;
        let done = |b: &Backend, (component, cache), fallback, tier_up| Compiled {
            tier: b.tier,
            engine: b.engine.clone(),
            linker: b.linker.clone(),
            component,
            cache,
            fallback,
            tier_up,
        };
        if self.compiler == Compiler::Cranelift {
            return Ok(done(cl, cl.cache.load_noting(&cl.engine, digest, bytes, &mut *compiling)?, None, false));
        }
        if self.compiler == Compiler::Tiered
            && let Some(c) = cl.cache.lookup(&cl.engine, digest)
        {
            return Ok(done(cl, (c, CacheOutcome::Hit), None, false));
        }
        let mut told = false;
        let mut tell = |cached| {
            if !told {
                told = true;
                compiling(cached);
            }
        };
        let reason = match self.winch() {
            Err(reason) => reason.to_string(),
            Ok(w) => match w.cache.load_noting(&w.engine, digest, bytes, &mut tell) {
                Ok(loaded) => return Ok(done(w, loaded, None, self.compiler == Compiler::Tiered)),
                Err(e) => format!("winch refused it: {}", first_line(&e)),
            },
        };
        Ok(done(cl, cl.cache.load_noting(&cl.engine, digest, bytes, tell)?, Some(reason), false))
    }

    /// Compiles `plugin` (`bytes`) with Cranelift on a background thread at
    /// idle priority, into the compile cache, and makes steps that start
    /// after that run on its code. If the process ends first, the work is
    /// lost (the next run that loads Winch's code starts it again).
    pub fn tier_up(&self, plugin: Arc<LoadedPlugin>, bytes: Vec<u8>) {
        let cl = self.cranelift.clone();
        let winch_cache = self.winch().ok().map(|w| w.cache.clone());
        let t0 = Instant::now();
        let name = plugin.name.clone();
        let spawned = std::thread::Builder::new().name("baton-tier-up".into()).spawn(move || {
            compiler::lower_priority();
            let compile = || cl.engine.precompile_component(&bytes);
            let compiled = match compiler::background_pool() {
                Some(pool) => pool.install(compile),
                None => compile(),
            };
            let Ok(compiled) = compiled else {
                // Winch compiled it, so Cranelift should: keep the Winch code.
                return;
            };
            let Ok((component, outcome)) = cl.cache.store(&cl.engine, &plugin.digest, compiled) else {
                return;
            };
            if let Ok(code) = Code::new(Tier::Cranelift, &cl.engine, &cl.linker, component) {
                plugin.replace_code(code);
                plugin.log.tiered_up(t0.elapsed().as_secs_f64());
            }
            if outcome == CacheOutcome::Compiled
                && let Some(w) = winch_cache
            {
                // Later runs load Cranelift's code: Winch's is 30 % bigger.
                w.remove(&plugin.digest);
            }
        });
        if let Err(e) = spawned {
            eprintln!("baton: cannot start the background compile of plugin {name}: {e}");
        }
    }
}
