//! Signals raised on any machine, visible to waits on every other: one key
//! per run and signal name in a key-value bucket (`<run>.<hex of name>`, so
//! that any signal name makes a valid key).

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store};
use futures_util::StreamExt;

use super::{ClusterError, is_key_token};

/// The bucket of raised signals.
#[derive(Clone)]
pub struct Signals {
    kv: Store,
}

fn signal_key(run: &str, name: &str) -> Result<String, ClusterError> {
    if !is_key_token(run) {
        return Err(ClusterError::Invalid(format!(
            "run id `{run}` cannot name cluster state: use letters, digits, `-` and `_`"
        )));
    }
    Ok(format!("{run}.{}", hex::encode(name.as_bytes())))
}

impl Signals {
    pub fn new(kv: Store) -> Self {
        Self { kv }
    }

    /// Raises `name` in `run` (raising it again changes nothing); the value
    /// says who raised it.
    pub async fn raise(&self, run: &str, name: &str, by: &str) -> Result<(), ClusterError> {
        let key = signal_key(run, name)?;
        match self.kv.create(&key, by.to_string().into()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(ClusterError::io(format!("raise of signal {name}"), e)),
        }
    }

    /// Whether `name` is raised in `run` now.
    pub async fn is_raised(&self, run: &str, name: &str) -> Result<bool, ClusterError> {
        let key = signal_key(run, name)?;
        let entry = self.kv.entry(&key).await.map_err(|e| ClusterError::io(format!("read of signal {name}"), e))?;
        Ok(entry.is_some_and(|e| e.operation == Operation::Put))
    }

    /// Resolves when `name` is raised in `run` (at once if it already is).
    pub async fn raised(&self, run: &str, name: &str) -> Result<(), ClusterError> {
        let key = signal_key(run, name)?;
        // With history: a plain watch does not yield a value that already exists.
        let mut watch = self
            .kv
            .watch_with_history(&key)
            .await
            .map_err(|e| ClusterError::io(format!("watch of signal {name}"), e))?;
        while let Some(entry) = watch.next().await {
            let entry = entry.map_err(|e| ClusterError::io(format!("watch of signal {name}"), e))?;
            if entry.operation == Operation::Put {
                return Ok(());
            }
        }
        Err(ClusterError::io(format!("watch of signal {name}"), "the server ended the watch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_signal_name_makes_a_key() {
        assert_eq!(signal_key("r1", "built:linux").unwrap(), "r1.6275696c743a6c696e7578");
        assert!(signal_key("r 1", "x").is_err());
    }
}
