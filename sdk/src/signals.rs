//! Dependency signals between running steps, across boards.

use crate::wit::baton::stage::signals as host;
pub use host::SignalError;

/// Raises `name`, which must be in this step's `emits` list.
pub fn emit(name: &str) -> Result<(), SignalError> {
    host::emit(name)
}

/// Whether `name` (same forms as [`wait`]) has been raised, without waiting.
/// Needs a host speaking `baton:stage@0.1.1` or later.
pub fn raised(name: &str) -> Result<bool, SignalError> {
    host::raised(name)
}

/// Waits until every name is raised: `board.step/signal`, a bare `signal`, or
/// `board.step` for that step's successful completion.
pub fn wait(names: &[&str]) -> Result<(), SignalError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    host::wait(&names)
}

pub(crate) fn error_message(e: &SignalError) -> String {
    match e {
        SignalError::Undeclared(m) => format!("undeclared signal: {m}"),
        SignalError::Never(m) => format!("signal never raised: {m}"),
        SignalError::Deadlock(m) => format!("deadlock: {m}"),
        SignalError::Failed(m) => m.clone(),
        SignalError::Limit(m) => format!("limit: {m}"),
    }
}
