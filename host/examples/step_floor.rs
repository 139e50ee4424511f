//! The floor under a baton step, for `bench/run.sh`: what wasmtime itself
//! costs to run a stage once, measured in-process in a loop with nothing of
//! baton's step path around it (no scheduler, journal, log, workspace or
//! scratch directory): a fresh `Store` (baton's one store set-up,
//! `runtime::state::new_store`), `instantiate_async` from the plugin's
//! `InstancePre`, and `call_run`, on baton's engine and linker.
//!
//!     step_floor PLUGIN.wasm ITERATIONS
//!
//! prints `{"median_us": …, "min_us": …}` over 7 rounds of ITERATIONS.

use std::path::PathBuf;
use std::time::Instant;

use baton_host::plan::{PluginDef, PluginSource, Trust};
use baton_host::runtime::Runtime;
use baton_host::runtime::bindings::StepInfo;
use baton_host::runtime::inspect::bare_context;
use baton_host::runtime::state::new_store;
use baton_host::sandbox::scratch::Scratch;
use baton_host::sandbox::wasi::{Preopens, WORKSPACE};

const ROUNDS: usize = 7;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: step_floor PLUGIN.wasm ITERATIONS";
    let path = PathBuf::from(args.next().ok_or(usage)?);
    let n: usize = args.next().ok_or(usage)?.parse()?;
    let runtime = Runtime::new(1)?;
    let def =
        PluginDef { name: "floor".into(), source: PluginSource::File(path), sha256: None, trust: Some(Trust::Trusted) };
    let plugin = runtime.load(&def)?;
    let (workspace, scratch) = (Scratch::new()?, Scratch::new()?);
    let ctx = bare_context(&workspace, &scratch, "floor.noop");
    let preopens = Preopens { workspace: workspace.dir().clone(), tmp: scratch.dir().clone(), src: None };
    let info = StepInfo {
        id: ctx.id.clone(),
        board: ctx.board.clone(),
        step: ctx.name.clone(),
        config: ctx.config.clone(),
        attempt: 1,
        run_id: "floor".into(),
        workspace: WORKSPACE.into(),
    };
    let mut per_run = Vec::with_capacity(ROUNDS);
    for round in 0..=ROUNDS {
        let start = Instant::now();
        for _ in 0..n {
            let code = plugin.code();
            let mut store = new_store(&code.engine, ctx.clone(), preopens.clone(), None)?;
            let stage = code.pre.instantiate_async(&mut store).await?;
            stage.baton_stage_plugin().call_run(&mut store, &info).await?.map_err(|e| format!("{e:?}"))?;
        }
        if round > 0 {
            // Round 0 warms up (page faults of the pool, caches).
            per_run.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
    }
    per_run.sort_by(f64::total_cmp);
    println!("{{\"median_us\": {:.2}, \"min_us\": {:.2}}}", per_run[ROUNDS / 2], per_run[0]);
    drop((workspace, scratch));
    baton_host::sandbox::scratch::cleanup();
    Ok(())
}
