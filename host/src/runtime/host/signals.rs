//! `baton:stage/signals`: emit and wait, answered by the scheduler, which
//! also detects waits that can never be satisfied.

use crate::runtime::bindings::baton::stage::signals::{Host, SignalError};
use crate::runtime::services::ServiceRequest;
use crate::runtime::state::StepState;

/// Most names one `wait` may list.
const MAX_NAMES: usize = 1000;

fn gone() -> SignalError {
    SignalError::Failed("the run is ending".into())
}

impl Host for StepState {
    async fn emit(&mut self, name: String) -> wasmtime::Result<Result<(), SignalError>> {
        let step = self.ctx.index;
        self.ctx.log.line("baton", &format!("emit {name}"));
        let answer = self.ctx.run.requests.ask(|reply| ServiceRequest::Emit { step, name, reply }).await;
        Ok(answer.unwrap_or_else(|| Err(gone())))
    }

    async fn raised(&mut self, name: String) -> wasmtime::Result<Result<bool, SignalError>> {
        let step = self.ctx.index;
        let answer = self.ctx.run.requests.ask(|reply| ServiceRequest::Raised { step, name, reply }).await;
        Ok(answer.unwrap_or_else(|| Err(gone())))
    }

    async fn wait(&mut self, names: Vec<String>) -> wasmtime::Result<Result<(), SignalError>> {
        if names.len() > MAX_NAMES {
            return Ok(Err(SignalError::Limit(format!("a wait may list at most {MAX_NAMES} names"))));
        }
        let step = self.ctx.index;
        self.ctx.log.line("baton", &format!("waiting for {}", names.join(", ")));
        let answer = self.ctx.run.requests.ask(|reply| ServiceRequest::Wait { step, names, reply }).await;
        let result = answer.unwrap_or_else(|| Err(gone()));
        if result.is_ok() {
            self.ctx.log.line("baton", "wait over");
        }
        Ok(result)
    }
}

/// The text of a signal error, as the SDK shows it.
pub fn message(e: &SignalError) -> String {
    match e {
        SignalError::Undeclared(m) => format!("undeclared signal: {m}"),
        SignalError::Never(m) => format!("signal never raised: {m}"),
        SignalError::Deadlock(m) => format!("deadlock: {m}"),
        SignalError::Failed(m) => m.clone(),
        SignalError::Limit(m) => format!("limit: {m}"),
    }
}
