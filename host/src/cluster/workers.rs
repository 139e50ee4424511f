//! Worker heartbeats: each worker writes its [`Heartbeat`] under its name
//! every [`BEAT_EVERY`]; one whose last beat is older than [`LIVE_WINDOW`]
//! counts as lost (the bucket forgets it after a minute).

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::kv::Store;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{ClusterError, is_key_token, now_ms};

/// How often a worker beats.
pub const BEAT_EVERY: Duration = Duration::from_secs(1);
/// A worker silent for longer is lost.
pub const LIVE_WINDOW: Duration = Duration::from_secs(5);

/// What a worker says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Attempts it runs at once.
    pub jobs: usize,
    /// The steps it runs now (`run/board.step`).
    pub running: Vec<String>,
    /// When it beat, ms since the Unix epoch.
    pub at_ms: u64,
    /// Its ed25519 public key (hex), which signs what it reports (see
    /// [`super::identity`]); empty from a worker that has none.
    #[serde(default)]
    pub key: String,
    /// Which steps it takes (`--accept`).
    #[serde(default)]
    pub accept: Accept,
}

/// Which steps a worker takes (`baton worker --accept`): an operator keeps
/// a pool of machines for strangers' code with `untrusted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Accept {
    /// Trusted and untrusted steps.
    #[default]
    Any,
    /// Only steps that run trusted.
    Trusted,
    /// Only steps that run untrusted (confined, as the sandbox user).
    Untrusted,
}

impl Accept {
    /// Whether a worker with this setting takes a step of trust `trust`.
    pub fn takes(self, trust: crate::plan::schema::Trust) -> bool {
        use crate::plan::schema::Trust;
        match (self, trust) {
            (Accept::Any, _) => true,
            (Accept::Trusted, Trust::Trusted) => true,
            (Accept::Untrusted, Trust::Untrusted) => true,
            (Accept::Trusted, Trust::Untrusted) | (Accept::Untrusted, Trust::Trusted) => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Accept::Any => "any",
            Accept::Trusted => "trusted",
            Accept::Untrusted => "untrusted",
        }
    }
}

impl Heartbeat {
    /// How long ago it beat.
    pub fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.at_ms))
    }

    pub fn is_live(&self) -> bool {
        self.age() <= LIVE_WINDOW
    }
}

/// A worker name that can be a key: letters, digits, `-`, `_`, `=`.
pub fn check_name(name: &str) -> Result<(), ClusterError> {
    if is_key_token(name) && name.len() <= 64 {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!(
            "invalid worker name `{}`: use 1 to 64 letters, digits, `-` or `_`",
            crate::text::escape_text(name)
        )))
    }
}

/// The bucket of heartbeats.
#[derive(Clone)]
pub struct Workers {
    kv: Store,
}

impl Workers {
    pub fn new(kv: Store) -> Self {
        Self { kv }
    }

    /// Writes `beat` (stamped now) under its worker's name.
    pub async fn beat(&self, beat: &Heartbeat) -> Result<(), ClusterError> {
        check_name(&beat.name)?;
        let beat = Heartbeat { at_ms: now_ms(), ..beat.clone() };
        let value = serde_json::to_vec(&beat).expect("heartbeats serialize");
        self.kv.put(&beat.name, value.into()).await.map_err(|e| ClusterError::io("heartbeat", e))?;
        Ok(())
    }

    /// Removes a worker that leaves on purpose.
    pub async fn leave(&self, name: &str) -> Result<(), ClusterError> {
        check_name(name)?;
        self.kv.delete(name).await.map_err(|e| ClusterError::io("leaving", e))
    }

    /// The heartbeat of `name`, if it has one.
    pub async fn get(&self, name: &str) -> Result<Option<Heartbeat>, ClusterError> {
        check_name(name)?;
        let value = self.kv.get(name).await.map_err(|e| ClusterError::io("reading a heartbeat", e))?;
        Ok(value.and_then(|v| serde_json::from_slice::<Heartbeat>(&v).ok()).filter(|b| b.name == name))
    }

    /// Every heartbeat in the bucket (live or not), by name.
    pub async fn all(&self) -> Result<Vec<Heartbeat>, ClusterError> {
        let mut keys = self.kv.keys().await.map_err(|e| ClusterError::io("listing workers", e))?;
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| ClusterError::io("listing workers", e))?;
            let value = self.kv.get(&key).await.map_err(|e| ClusterError::io("reading a heartbeat", e))?;
            // A value that is not a heartbeat is skipped, not trusted.
            if let Some(beat) = value.and_then(|v| serde_json::from_slice::<Heartbeat>(&v).ok())
                && beat.name == key
            {
                out.push(beat);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The live workers, by name.
    pub async fn live(&self) -> Result<Vec<Heartbeat>, ClusterError> {
        Ok(self.all().await?.into_iter().filter(Heartbeat::is_live).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_must_be_keys() {
        assert!(check_name("build-1").is_ok());
        let err = check_name("a.b").unwrap_err().to_string();
        assert_eq!(err, "invalid worker name `a.b`: use 1 to 64 letters, digits, `-` or `_`");
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn accept_decides_which_trust_a_worker_takes() {
        use crate::plan::schema::Trust;
        assert!(Accept::Any.takes(Trust::Trusted) && Accept::Any.takes(Trust::Untrusted));
        assert!(Accept::Untrusted.takes(Trust::Untrusted) && !Accept::Untrusted.takes(Trust::Trusted));
        assert!(Accept::Trusted.takes(Trust::Trusted) && !Accept::Trusted.takes(Trust::Untrusted));
    }

    #[test]
    fn a_silent_worker_is_not_live() {
        let beat = |at_ms| Heartbeat {
            name: "w".into(),
            labels: BTreeMap::new(),
            jobs: 1,
            running: vec![],
            at_ms,
            key: String::new(),
            accept: Accept::Any,
        };
        assert!(beat(now_ms()).is_live());
        assert!(!beat(now_ms() - 6_000).is_live());
    }
}
