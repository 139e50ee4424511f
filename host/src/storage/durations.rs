//! Step durations from earlier runs (`.baton/durations.json`), for the
//! critical-path priority of the next run.

use std::collections::HashMap;
use std::path::Path;

const FILE: &str = "durations.json";

/// Seconds per step id; empty when there is no history (or it is unreadable).
pub fn load(state_dir: &Path) -> HashMap<String, f64> {
    std::fs::read(state_dir.join(FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Folds this run's durations of successful steps into the history
/// (a moving average, so one odd run does not reorder everything).
pub fn record(state_dir: &Path, measured: &[(String, f64)]) -> std::io::Result<()> {
    if measured.is_empty() {
        return Ok(());
    }
    let mut history = load(state_dir);
    for (id, secs) in measured {
        let v = match history.get(id) {
            Some(old) => 0.5 * old + 0.5 * secs,
            None => *secs,
        };
        history.insert(id.clone(), v);
    }
    let bytes = serde_json::to_vec_pretty(&history).map_err(std::io::Error::other)?;
    super::atomic::write(&state_dir.join(FILE), &bytes, super::atomic::Sync::Derived)
}
