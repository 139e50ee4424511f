//! One attempt of one step: a fresh `Store` with the step's WASI context and
//! limits, instantiate from the plugin's `InstancePre`, call `run`, and turn
//! whatever happened (success, stage error, trap, limit, timeout,
//! cancellation) into an outcome with a readable message.

use std::sync::Arc;

use wasmtime::Trap;
use wasmtime_wasi::filesystem::Dir;

use crate::executor::{AttemptOutcome, FailureKind};
use crate::runtime::bindings::{StageError, StepInfo};
use crate::runtime::context::StepContext;
use crate::runtime::guest_error;
use crate::runtime::plugin::LoadedPlugin;
use crate::runtime::state::new_store;
use crate::sandbox::scratch::Scratch;
use crate::sandbox::wasi::{Preopens, WORKSPACE};
use crate::units::Human;

fn failed(kind: FailureKind, message: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::failed(kind, message)
}

/// Runs one attempt that sees `workspace` and `src` (the handles of
/// `ctx.workspace` and `ctx.src`); `cancel` resolving interrupts it.
pub async fn run_attempt(
    plugin: &LoadedPlugin,
    ctx: Arc<StepContext>,
    (workspace, src): (Dir, Option<Dir>),
    cancel: impl std::future::Future<Output = ()>,
) -> AttemptOutcome {
    let scratch = match Scratch::new() {
        Ok(d) => d,
        Err(e) => return failed(FailureKind::Host, format!("cannot create the scratch /tmp: {e}")),
    };
    let preopens = Preopens { workspace, tmp: scratch.dir().clone(), src };
    let outcome = attempt(plugin, &ctx, preopens, cancel).await;
    ctx.processes.kill_all();
    ctx.log.flush();
    // The scratch directory goes back to the pool (or away) only now, with
    // the store and every handle into it gone.
    drop(scratch);
    outcome
}

async fn attempt(
    plugin: &LoadedPlugin,
    ctx: &Arc<StepContext>,
    preopens: Preopens,
    cancel: impl std::future::Future<Output = ()>,
) -> AttemptOutcome {
    // The plugin's code now (tiered compilation may replace Winch's code
    // with Cranelift's while the run goes on), and the engine it belongs to.
    let code = plugin.code_for(&ctx.id, ctx.attempt);
    let mut store = match new_store(&code.engine, ctx.clone(), preopens, ctx.policy.cpu) {
        Ok(s) => s,
        Err(e) => {
            return failed(FailureKind::Host, format!("cannot set up the sandbox: {e:#}"));
        }
    };

    let info = StepInfo {
        id: ctx.id.clone(),
        board: ctx.board.clone(),
        step: ctx.name.clone(),
        config: ctx.config.clone(),
        attempt: ctx.attempt,
        run_id: ctx.run.run_id.clone(),
        workspace: WORKSPACE.into(),
    };
    let timeout = ctx.policy.timeout;
    let result = {
        let store = &mut store;
        let call = async move {
            let stage = code.pre.instantiate_async(&mut *store).await?;
            stage.baton_stage_plugin().call_run(&mut *store, &info).await
        };
        tokio::select! {
            r = tokio::time::timeout(timeout, call) => Some(r),
            () = cancel => None,
        }
    };
    let Some(result) = result else {
        ctx.log.line("baton", "cancelled");
        return AttemptOutcome::Cancelled;
    };
    match result {
        Err(_) => {
            let message = format!("timed out after {}", Human(timeout));
            ctx.log.line("baton", &message);
            failed(FailureKind::Timeout, message)
        }
        Ok(Ok(Ok(()))) => AttemptOutcome::Succeeded,
        Ok(Ok(Err(StageError::Failed(m)))) if ctx.denied.load(std::sync::atomic::Ordering::Relaxed) => {
            failed(FailureKind::Denied, m)
        }
        Ok(Ok(Err(StageError::Failed(m)))) => failed(FailureKind::Stage, m),
        Ok(Ok(Err(StageError::InvalidConfig(m)))) => failed(FailureKind::Config, format!("invalid config: {m}")),
        Ok(Err(e)) => {
            let (kind, message) =
                explain_trap(&e, store.data().limiter.hit.as_deref(), &ctx.log.tail(), ctx.policy.stack);
            ctx.log.line("baton", &message);
            // The wasm backtrace, for whoever debugs the runtime: in the log
            // file, not in the failure report's tail, and as the guest's (it
            // holds names from the guest's own binary), never as baton's.
            ctx.log.detail("wasm", &format!("{e:?}"));
            failed(kind, message)
        }
    }
}

/// A readable message for an error that ended a call.
fn explain_trap(e: &wasmtime::Error, limit_hit: Option<&str>, tail: &[String], stack: u64) -> (FailureKind, String) {
    if let Some(limit) = limit_hit {
        return (FailureKind::Limit, limit.to_string());
    }
    let root = e.root_cause().to_string();
    if root.starts_with("cpu limit ") {
        return (FailureKind::Limit, root);
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return (FailureKind::Stage, format!("stage exited with code {} instead of returning", exit.0));
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            (FailureKind::Limit, format!("stack limit {} exceeded (wasm stack overflow)", crate::units::Size(stack)))
        }
        Some(Trap::UnreachableCodeReached) => match guest_error::explain(tail) {
            Some(headline) => (FailureKind::Trap, headline),
            None => (FailureKind::Trap, "stage trapped: wasm `unreachable` instruction executed".into()),
        },
        Some(trap) => (FailureKind::Trap, format!("stage trapped: {trap}")),
        None => (FailureKind::Trap, format!("stage failed: {}", crate::runtime::plugin::first_line(e))),
    }
}
