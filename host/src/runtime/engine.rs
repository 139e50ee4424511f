//! The one wasmtime `Engine` of a baton process, and its epoch ticker.

use std::time::Duration;

use wasmtime::{CacheStore, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

use crate::runtime::compiler::Tier;

/// How often the epoch advances; the granularity of wall-clock limits and of
/// time slicing between stages.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub use crate::plan::policy::DEFAULT_WASM_STACK;

/// What the fiber stack of an async call has beyond the wasm stack: the
/// room host code runs in.
const HOST_STACK: usize = 3 << 20;

/// Stages alive at once by default (running or waiting); `BATON_MAX_STAGES`
/// overrides it.
pub const DEFAULT_MAX_STAGES: usize = 1000;

/// Largest linear memory a stage may have (the pool reserves this much
/// address space per memory slot; `memory` limits are checked below it).
pub const MAX_MEMORY: u64 = 4 << 30;

/// The engine and how many stages may be instantiated at once.
pub struct EngineSetup {
    pub engine: Engine,
    /// Max stores alive at once; the scheduler starts no more.
    pub max_stages: usize,
    /// Whether instances come from the pooling allocator.
    pub pooling: bool,
}

fn base_config(wasm_stack: usize, tier: Tier) -> Config {
    let mut config = Config::new();
    config.strategy(match tier {
        Tier::Winch => Strategy::Winch,
        Tier::Cranelift => Strategy::Cranelift,
    });
    config.epoch_interruption(true);
    config.max_wasm_stack(wasm_stack);
    config.async_stack_size(wasm_stack + HOST_STACK);
    config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(16));
    config
}

/// Builds the engine of `tier`'s code: epoch interruption, bounded stacks, and
/// the pooling allocator (instances, memories and fiber stacks are reused
/// instead of mapped and unmapped per stage, which costs a TLB shootdown on
/// every core each time). If the machine cannot reserve the pool's address
/// space, falls back to allocating on demand.
///
/// `stages` is how many stages the caller may have alive at once (a run:
/// its step count); the pool is no bigger than needed, since setting up
/// each slot costs start-up time.
///
/// `incremental`: Cranelift's per-function cache, kept in that directory.
pub fn build(
    stages: usize,
    wasm_stack: usize,
    tier: Tier,
    incremental: Option<std::path::PathBuf>,
) -> wasmtime::Result<EngineSetup> {
    let max_stages = std::env::var(crate::env_vars::MAX_STAGES)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| stages.clamp(1, DEFAULT_MAX_STAGES));
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(max_stages as u32)
        .total_stacks(max_stages as u32)
        .total_memories((2 * max_stages) as u32)
        .total_tables((8 * max_stages) as u32)
        .total_core_instances((16 * max_stages) as u32)
        .max_memories_per_component(crate::sandbox::limits::MAX_MEMORIES as u32)
        .max_tables_per_component(crate::sandbox::limits::MAX_TABLES as u32)
        .max_core_instances_per_component(crate::sandbox::limits::MAX_INSTANCES as u32)
        .max_component_instance_size(16 << 20)
        .max_core_instance_size(16 << 20)
        .table_elements(crate::sandbox::limits::TABLE_ELEMENTS)
        .max_memory_size(MAX_MEMORY as usize)
        // Reset a freed slot by zeroing what was dirtied (found with the
        // PAGEMAP_SCAN ioctl where the kernel has it) instead of `madvise`,
        // which flushes the TLB of every core running baton. (Decommits are
        // not batched: a stage that grew a big memory gives it back at once.)
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(256 << 10)
        .max_unused_warm_slots(64);
    let mut config = base_config(wasm_stack, tier);
    let store = incremental.filter(|_| tier == Tier::Cranelift).map(|dir| {
        std::sync::Arc::new(crate::runtime::incremental::DiskStore::open(dir)) as std::sync::Arc<dyn CacheStore>
    });
    if let Some(store) = &store {
        config.enable_incremental_compilation(store.clone())?;
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let pooled = std::env::var_os(crate::env_vars::POOLING).is_none_or(|v| v != "0");
    let (engine, pooling) = match pooled.then(|| Engine::new(&config)) {
        Some(Ok(e)) => (e, true),
        _ => {
            let mut config = base_config(wasm_stack, tier);
            if let Some(store) = store {
                config.enable_incremental_compilation(store)?;
            }
            (Engine::new(&config)?, false)
        }
    };
    start_ticker(&engine);
    Ok(EngineSetup { engine, max_stages, pooling })
}

/// Advances the engine's epoch every tick, until the engine is dropped.
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("baton-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        }
    });
    if let Err(e) = spawned {
        // Without a ticker no deadline fires; say so rather than hang later.
        eprintln!("baton: cannot start the epoch ticker thread: {e}");
    }
}
