//! Limits on a stage's wasm resources: linear memory, tables, instances.
//! Growth past a limit traps with a message naming the limit and its value.

use wasmtime::ResourceLimiter;

use crate::units::Size;

/// Max table elements a stage may have (function tables of big interpreters
/// such as CPython need tens of thousands).
pub const TABLE_ELEMENTS: usize = 1_000_000;

/// Max instances, tables and memories per stage (a component of a dozen
/// core modules is ordinary; thousands is not).
pub const MAX_INSTANCES: usize = 100;
pub const MAX_TABLES: usize = 100;
pub const MAX_MEMORIES: usize = 10;

/// The limiter of one attempt. The memory cap is the total of all linear
/// memories of the stage, not a per-memory cap.
pub struct StepLimiter {
    memory_cap: u64,
    memory_used: u64,
    /// Set when a limit was hit, so the step's error can say which.
    pub hit: Option<String>,
}

impl StepLimiter {
    pub fn new(memory_cap: u64) -> Self {
        Self { memory_cap, memory_used: 0, hit: None }
    }
}

impl ResourceLimiter for StepLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let grow = desired.saturating_sub(current) as u64;
        if self.memory_used + grow > self.memory_cap {
            let message = format!("memory limit {} exceeded", Size(self.memory_cap));
            self.hit = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        self.memory_used += grow;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > TABLE_ELEMENTS {
            let message = format!("table limit {TABLE_ELEMENTS} elements exceeded");
            self.hit = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
