//! The pipeline file as written (`baton.toml`), before validation. Unknown
//! keys are rejected everywhere so that typos never pass silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `[pipeline]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    pub name: Option<String>,
    /// Max steps running at once (default: the number of cores).
    pub jobs: Option<usize>,
    /// Part of every step cache key: changing it disowns every entry
    /// (see docs/caching.md).
    pub cache_salt: Option<String>,
}

/// One `[plugins]` entry: a path or an `oci://` reference, or a table
/// (`{ path, sha256, trust }` or `{ oci, version, digest, trust }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PluginEntry {
    Path(String),
    Table(PluginTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginTable {
    /// A `.wasm` file, relative to the pipeline file.
    pub path: Option<String>,
    /// Pinned sha256 of the `.wasm` file (with `path`).
    pub sha256: Option<String>,
    /// A registry reference, `registry.example/acme/junit` (with `oci`).
    pub oci: Option<String>,
    /// The tag of `oci`, e.g. `1.2.0`.
    pub version: Option<String>,
    /// The manifest digest `oci` is pinned to, `sha256:…`.
    pub digest: Option<String>,
    pub trust: Option<Trust>,
}

/// `trusted` (reviewed code) or `untrusted` (trybot stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    #[default]
    Trusted,
    Untrusted,
}

/// cbuildbot's halting / non-halting / forgiving stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Start no new step (except `always` ones); the run fails.
    #[default]
    Halt,
    /// Skip dependents, go on with the rest; the run fails at the end.
    Continue,
    /// Failed but forgiven: dependents run and the run does not fail.
    Ignore,
}

/// Sandbox settings shared by `[policy]` (pipeline defaults) and each step.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyFields {
    /// Programs the stage may run (`process` interface).
    pub spawn: Option<Vec<String>>,
    /// Host environment variables passed to spawned processes.
    pub env: Option<Vec<String>>,
    /// Host environment variables passed to spawned processes whose values
    /// are masked (`***`) in everything baton writes or shows.
    pub secrets: Option<Vec<String>>,
    pub trust: Option<Trust>,
    /// Linear memory cap, e.g. `512MiB`.
    pub memory: Option<String>,
    /// Wall-clock limit of one attempt, e.g. `10m`.
    pub timeout: Option<String>,
    /// CPU budget of the wasm code of one attempt, e.g. `30s`.
    pub cpu: Option<String>,
    /// Cap of the step log, e.g. `16MiB`.
    pub log_limit: Option<String>,
    /// Cap of the captured output of one process, per stream.
    pub output_limit: Option<String>,
    /// Cap of one published artifact, counted in bytes read, e.g. `1GiB`.
    pub artifact_limit: Option<String>,
    /// Max processes a step may have running at once.
    pub max_children: Option<u32>,
    /// Capabilities the step's plugin may import (default: all).
    pub capabilities: Option<Vec<String>>,
}

/// One step as written in a board or template.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepEntry {
    pub name: String,
    pub plugin: Option<String>,
    #[serde(rename = "with")]
    pub with: Option<toml::Table>,
    pub after: Option<Vec<String>>,
    pub pool: Option<String>,
    pub on_failure: Option<OnFailure>,
    #[serde(default)]
    pub always: bool,
    #[serde(default)]
    pub retries: u32,
    /// First retry delay; doubles on each further retry (default `1s`).
    pub backoff: Option<String>,
    pub emits: Option<Vec<String>>,
    /// Not settable per step: read only to say where it goes.
    pub stack: Option<String>,
    /// Programs the stage may run (`process` interface).
    pub spawn: Option<Vec<String>>,
    /// Host environment variables passed to spawned processes.
    pub env: Option<Vec<String>>,
    /// Host environment variables passed to spawned processes whose values
    /// are masked (`***`) in everything baton writes or shows.
    pub secrets: Option<Vec<String>>,
    pub trust: Option<Trust>,
    /// Linear memory cap, e.g. `512MiB`.
    pub memory: Option<String>,
    /// Wall-clock limit of one attempt, e.g. `10m`.
    pub timeout: Option<String>,
    /// CPU budget of the wasm code of one attempt, e.g. `30s`.
    pub cpu: Option<String>,
    /// Cap of the step log, e.g. `16MiB`.
    pub log_limit: Option<String>,
    /// Cap of the captured output of one process, per stream.
    pub output_limit: Option<String>,
    /// Cap of one published artifact, counted in bytes read, e.g. `1GiB`.
    pub artifact_limit: Option<String>,
    /// Max processes a step may have running at once.
    pub max_children: Option<u32>,
    /// Capabilities the step's plugin may import (default: all).
    pub capabilities: Option<Vec<String>>,
    /// Skip the step when nothing its key covers changed (docs/caching.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Project files (globs over `/src`, `!` excludes) the cache key covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    /// Paths in the board workspace the step leaves for later steps: a cache
    /// hit restores them, and they key the cached steps that depend on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
}

impl StepEntry {
    /// The sandbox settings this step sets itself.
    pub fn policy(&self) -> PolicyFields {
        PolicyFields {
            spawn: self.spawn.clone(),
            env: self.env.clone(),
            secrets: self.secrets.clone(),
            trust: self.trust,
            memory: self.memory.clone(),
            timeout: self.timeout.clone(),
            cpu: self.cpu.clone(),
            log_limit: self.log_limit.clone(),
            output_limit: self.output_limit.clone(),
            artifact_limit: self.artifact_limit.clone(),
            max_children: self.max_children,
            capabilities: self.capabilities.clone(),
        }
    }
}

/// `[templates.<name>]`: a step list shared by several boards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSection {
    pub steps: Vec<toml::Value>,
}

/// `[boards.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSection {
    pub template: Option<String>,
    #[serde(default)]
    pub steps: Vec<toml::Value>,
    /// Worker labels the board needs on a cluster (`runs_on = { os = "linux" }`).
    #[serde(default)]
    pub runs_on: std::collections::BTreeMap<String, String>,
}

/// The top-level keys; each section is deserialised on its own so that
/// errors in several sections are all reported.
pub const TOP_LEVEL_KEYS: [&str; 6] = ["pipeline", "plugins", "pools", "policy", "templates", "boards"];

/// Parsed `[policy]` plus its `[policy.untrusted]` caps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Wasm stack of every step (one engine runs them all), e.g. `2MiB`.
    pub stack: Option<String>,
    /// Programs the stage may run (`process` interface).
    pub spawn: Option<Vec<String>>,
    /// Host environment variables passed to spawned processes.
    pub env: Option<Vec<String>>,
    /// Host environment variables passed to spawned processes whose values
    /// are masked (`***`) in everything baton writes or shows.
    pub secrets: Option<Vec<String>>,
    pub trust: Option<Trust>,
    /// Linear memory cap, e.g. `512MiB`.
    pub memory: Option<String>,
    /// Wall-clock limit of one attempt, e.g. `10m`.
    pub timeout: Option<String>,
    /// CPU budget of the wasm code of one attempt, e.g. `30s`.
    pub cpu: Option<String>,
    /// Cap of the step log, e.g. `16MiB`.
    pub log_limit: Option<String>,
    /// Cap of the captured output of one process, per stream.
    pub output_limit: Option<String>,
    /// Cap of one published artifact, counted in bytes read, e.g. `1GiB`.
    pub artifact_limit: Option<String>,
    /// Max processes a step may have running at once.
    pub max_children: Option<u32>,
    /// Capabilities the step's plugin may import (default: all).
    pub capabilities: Option<Vec<String>>,

    /// Defaults (and upper bounds) for untrusted steps.
    pub untrusted: Option<PolicyFields>,
}

impl PolicySection {
    /// The pipeline-wide defaults.
    pub fn defaults(&self) -> PolicyFields {
        PolicyFields {
            spawn: self.spawn.clone(),
            env: self.env.clone(),
            secrets: self.secrets.clone(),
            trust: self.trust,
            memory: self.memory.clone(),
            timeout: self.timeout.clone(),
            cpu: self.cpu.clone(),
            log_limit: self.log_limit.clone(),
            output_limit: self.output_limit.clone(),
            artifact_limit: self.artifact_limit.clone(),
            max_children: self.max_children,
            capabilities: self.capabilities.clone(),
        }
    }
}

pub type PoolsSection = BTreeMap<String, toml::Value>;
