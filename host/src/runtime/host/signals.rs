//! `baton:stage/signals`: emit and wait, answered by the scheduler, which
//! also detects waits that can never be satisfied. Names are checked here,
//! before anything logs them.

use super::{plain_reference, shown};
use crate::executor::{self, Request};
use crate::runtime::bindings::SignalTrap;
use crate::runtime::bindings::baton::stage::signals::{Host, SignalError};
use crate::runtime::state::StepState;

/// Most names one `wait` may list.
const MAX_NAMES: usize = 1000;

fn gone() -> SignalError {
    SignalError::Failed("the run is ending".into())
}

/// Checks a name before anything logs it.
fn check_name(name: &str) -> Result<(), SignalError> {
    if plain_reference(name) {
        return Ok(());
    }
    Err(SignalError::Undeclared(format!(
        "invalid signal name `{}` (use `name`, `board.step` or `board.step/name`, made of letters, digits, `_` and \
         `-`)",
        shown(name)
    )))
}

impl From<executor::SignalError> for SignalError {
    /// The scheduler's answer as the WIT variant of the same name.
    fn from(e: executor::SignalError) -> Self {
        match e {
            executor::SignalError::Undeclared(m) => SignalError::Undeclared(m),
            executor::SignalError::Never(m) => SignalError::Never(m),
            executor::SignalError::Deadlock(m) => SignalError::Deadlock(m),
            executor::SignalError::Failed(m) => SignalError::Failed(m),
        }
    }
}

impl Host for StepState {
    async fn emit(&mut self, name: String) -> Result<(), SignalTrap> {
        check_name(&name)?;
        self.ctx.log.line("baton", &format!("emit {name}"));
        let answer = self.ctx.reporter.ask(|reply| Request::Emit { name, reply }).await.ok_or_else(gone)?;
        Ok(answer.map_err(SignalError::from)?)
    }

    async fn raised(&mut self, name: String) -> Result<bool, SignalTrap> {
        check_name(&name)?;
        let answer = self.ctx.reporter.ask(|reply| Request::Raised { name, reply }).await.ok_or_else(gone)?;
        Ok(answer.map_err(SignalError::from)?)
    }

    async fn wait(&mut self, names: Vec<String>) -> Result<(), SignalTrap> {
        if names.len() > MAX_NAMES {
            return Err(SignalError::Limit(format!("a wait may list at most {MAX_NAMES} names")).into());
        }
        for name in &names {
            check_name(name)?;
        }
        self.ctx.log.line("baton", &format!("waiting for {}", names.join(", ")));
        let answer = self.ctx.reporter.ask(|reply| Request::Wait { names, reply }).await.ok_or_else(gone)?;
        answer.map_err(SignalError::from)?;
        self.ctx.log.line("baton", "wait over");
        Ok(())
    }

    fn convert_signal_error(&mut self, err: SignalTrap) -> wasmtime::Result<SignalError> {
        err.downcast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_they_are_logged() {
        assert!(check_name("linux.L2/generated").is_ok());
        assert!(check_name("ready").is_ok());
        let SignalError::Undeclared(m) = check_name("x\x1b[2J\r  0.1  baton | forged").unwrap_err() else {
            panic!("not undeclared")
        };
        assert_eq!(
            m,
            "invalid signal name `x\\x1b[2J\\r  0.1  baton | forged` (use `name`, `board.step` or `board.step/name`, \
             made of letters, digits, `_` and `-`)"
        );
        assert!(check_name(&"a".repeat(1000)).is_err());
    }
}
