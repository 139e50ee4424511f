//! The data of one step attempt's `Store`: its WASI context, resource table,
//! limiter and step context; and the one place such a store is set up
//! ([`new_store`], for attempts and for `describe()` alike).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::runtime::context::StepContext;
use crate::runtime::engine::EPOCH_TICK;
use crate::sandbox::limits::StepLimiter;
use crate::sandbox::wasi::Preopens;
use crate::units::Human;

/// Max entries in a stage's resource table (children, streams, pollables…).
pub const MAX_RESOURCES: usize = 10_000;

pub struct StepState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: StepLimiter,
    pub ctx: Arc<StepContext>,
    /// Directory listings of `/src` (by handle), which leave `.baton` out.
    pub hidden_listings: HashSet<u32>,
    /// The directories the guest gets from `get-directories`.
    pub preopens: Preopens,
    /// Descriptors (by handle) reached through `/src`: the only ones
    /// `src_view` must judge by their real path. A handle number reused for
    /// another descriptor is marked again when that one is made, so an
    /// entry left behind costs a check, never a miss.
    pub guarded: HashSet<u32>,
}

impl StepState {
    /// Records whether descriptor `rep`, just made, was reached through `/src`.
    pub fn mark(&mut self, rep: u32, through_src: bool) {
        if through_src {
            self.guarded.insert(rep);
        } else {
            self.guarded.remove(&rep);
        }
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A fresh store for `ctx` that sees `preopens` (its workspace at
/// `/workspace`, a scratch directory at `/tmp`, the project at `/src` if it
/// has one), a bounded resource
/// table, its memory limit, and epoch interruption that yields to other
/// tasks every tick and fails the call once `cpu` (if any) is used up.
pub fn new_store(
    engine: &wasmtime::Engine,
    ctx: Arc<StepContext>,
    preopens: Preopens,
    cpu: Option<Duration>,
) -> wasmtime::Result<Store<StepState>> {
    let wasi = crate::sandbox::wasi::context(&ctx.log);
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    let state = StepState {
        wasi,
        table,
        limiter: StepLimiter::new(ctx.policy.memory),
        ctx,
        hidden_listings: Default::default(),
        preopens,
        guarded: Default::default(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    let cpu_ticks = cpu.map(|d| (d.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64);
    let mut ticks = 0u64;
    store.epoch_deadline_callback(move |_| {
        ticks += 1;
        if let (Some(limit), Some(budget)) = (cpu_ticks, cpu)
            && ticks > limit
        {
            return Err(wasmtime::Error::msg(format!("cpu limit {} exceeded", Human(budget))));
        }
        Ok(UpdateDeadline::Yield(1))
    });
    Ok(store)
}
