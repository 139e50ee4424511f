use std::path::Path;

use serde::de::DeserializeOwned;

use crate::Error;
use crate::wit::baton::stage::types::StepInfo;

/// The step being run: its identity and its configuration.
#[derive(Debug, Clone)]
pub struct Step {
    info: StepInfo,
}

impl Step {
    #[doc(hidden)]
    pub fn new(info: StepInfo) -> Self {
        Self { info }
    }

    /// `board.step`, e.g. `linux.L3`.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The board the step belongs to.
    pub fn board(&self) -> &str {
        &self.info.board
    }

    /// The step's name within its board.
    pub fn name(&self) -> &str {
        &self.info.step
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.info.attempt
    }

    /// The run this attempt belongs to.
    pub fn run_id(&self) -> &str {
        &self.info.run_id
    }

    /// The board workspace inside the sandbox (`/workspace`).
    pub fn workspace(&self) -> &Path {
        Path::new(&self.info.workspace)
    }

    /// The step's `with` table, deserialised. Use `#[serde(deny_unknown_fields)]`
    /// so that a typo in the pipeline file fails the step with the key's name.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.info.config)
            .map_err(|e| Error::config(format!("step {}: invalid `with` table: {e}", self.info.id)))
    }

    /// The step's `with` table as JSON text.
    pub fn raw_config(&self) -> &str {
        &self.info.config
    }
}
