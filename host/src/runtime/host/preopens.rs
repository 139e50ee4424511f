//! `wasi:filesystem/preopens`: the directories a stage starts with.
//!
//! wasmtime-wasi's own `get-directories` hands out the preopens of the
//! store's `WasiCtx`, each opened from its path when the context is built
//! (an `openat` and a `close` per directory and attempt). baton's contexts
//! have none: this function hands out clones of handles opened once (see
//! [`crate::sandbox::wasi::Preopens`]), and marks the `/src` one so that
//! `src_view` guards what is reached through it and nothing else.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::Descriptor;

use crate::runtime::state::StepState;
use crate::sandbox::wasi::SRC;

/// The WASI interface the host links (its function is shadowed).
const PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// Shadows `get-directories`.
pub fn add_to_linker(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut i = linker.instance(PREOPENS)?;
    i.func_wrap("get-directories", |mut store, (): ()| {
        let state = store.data_mut();
        let mut out: Vec<(Resource<Descriptor>, String)> = Vec::new();
        for (dir, name) in state.preopens.list() {
            let fd = state.table.push(Descriptor::Dir(dir))?;
            state.mark(fd.rep(), name == SRC);
            out.push((fd, name.to_string()));
        }
        Ok((out,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
