//! Which code each step of a plugin ran on (tiered compilation: a plugin's
//! first run starts on Winch's code while Cranelift compiles in the
//! background; steps that start after that use Cranelift's). The log is
//! shared: the runtime appends as attempts start, and the report reads it
//! when it is written, so `plugins[]` in `report.json` says what happened.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One attempt and the compiler of the code it ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCode {
    /// `board.step`.
    pub step: String,
    pub attempt: u32,
    /// `winch` or `cranelift`.
    pub compiler: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Logged {
    /// Every attempt of the plugin's steps, in start order.
    #[serde(default)]
    steps: Vec<StepCode>,
    /// Seconds from the plugin's load until its Cranelift code replaced the
    /// Winch code (tiered compilation), if it did during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier_up_seconds: Option<f64>,
}

/// The shared log of a plugin's code; clones share it.
#[derive(Debug, Clone, Default)]
pub struct CodeLog(Arc<Mutex<Logged>>);

impl CodeLog {
    fn with<R>(&self, f: impl FnOnce(&mut Logged) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Notes that `step`'s attempt `attempt` runs on `compiler`'s code.
    pub fn ran(&self, step: &str, attempt: u32, compiler: &str) {
        self.with(|l| l.steps.push(StepCode { step: step.into(), attempt, compiler: compiler.into() }));
    }

    /// Notes that the Cranelift code is in use from now on.
    pub fn tiered_up(&self, seconds: f64) {
        self.with(|l| l.tier_up_seconds = Some(seconds));
    }

    /// Every attempt so far.
    pub fn steps(&self) -> Vec<StepCode> {
        self.with(|l| l.steps.clone())
    }

    /// When the Cranelift code replaced the Winch code, if it did.
    pub fn tier_up_seconds(&self) -> Option<f64> {
        self.with(|l| l.tier_up_seconds)
    }
}

impl Serialize for CodeLog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with(|l| l.serialize(s))
    }
}

impl<'de> Deserialize<'de> for CodeLog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(CodeLog(Arc::new(Mutex::new(Logged::deserialize(d)?))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_log_and_it_round_trips() {
        let log = CodeLog::default();
        let seen = log.clone();
        log.ran("b.s", 1, "winch");
        log.tiered_up(1.5);
        log.ran("b.t", 1, "cranelift");
        let text = serde_json::to_string(&seen).unwrap();
        assert_eq!(
            text,
            r#"{"steps":[{"step":"b.s","attempt":1,"compiler":"winch"},{"step":"b.t","attempt":1,"compiler":"cranelift"}],"tier_up_seconds":1.5}"#
        );
        let back: CodeLog = serde_json::from_str(&text).unwrap();
        assert_eq!(back.steps(), seen.steps());
        assert_eq!(back.tier_up_seconds(), Some(1.5));
    }
}
