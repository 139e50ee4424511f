//! The data of one step attempt's `Store`: its WASI context, resource table,
//! limiter and step context.

use std::collections::HashSet;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::runtime::context::StepContext;
use crate::sandbox::limits::StepLimiter;

/// Max entries in a stage's resource table (children, streams, pollables…).
pub const MAX_RESOURCES: usize = 10_000;

pub struct StepState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: StepLimiter,
    pub ctx: Arc<StepContext>,
    /// Directory listings of `/src` (by handle), which leave `.baton` out.
    pub hidden_listings: HashSet<u32>,
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
