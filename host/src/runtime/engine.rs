//! The one wasmtime `Engine` of a baton process, and its epoch ticker.

use std::time::Duration;

use wasmtime::{Config, Engine};

/// How often the epoch advances; the granularity of wall-clock limits and of
/// time slicing between stages.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Max wasm stack of a stage.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Fiber stack of an async call; host code gets what wasm leaves (>= 3 MiB).
const ASYNC_STACK: usize = 4 << 20;

/// Builds the engine: Cranelift, epoch interruption, bounded stacks.
pub fn build() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(ASYNC_STACK);
    config.async_stack_zeroing(true);
    config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(16));
    let engine = Engine::new(&config)?;
    start_ticker(&engine);
    Ok(engine)
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
