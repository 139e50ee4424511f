//! `cache`: the step cache. A step with `cache = true` whose inputs did not
//! change is not run: its outputs are restored and its log replayed.
//!
//! # Design
//!
//! - [`manifest`]: what a key covers, as a canonical, versioned document
//!   (plugin digest, contract, `with`, policy, secret names, env values,
//!   input files, the dependencies' outputs, spawned programs, the salt),
//!   hashed with SHA-256; kept in the entry so `baton explain` can say which
//!   field changed.
//! - [`inputs`]: the digests the manifest needs from the host: project
//!   files matched by `inputs`, the programs on the spawn list.
//! - [`entries`]: where entries live, behind [`entries::EntryStore`] (one
//!   local implementation on disk; a NATS KV one can be added for
//!   clusters). Entries are write-once: created if absent, never updated.
//! - [`namespace`]: who reads and writes where, the defence against cache
//!   poisoning (CVE-2025-36852, "CREEP"): trusted steps read and write
//!   `trusted`; untrusted steps and every step of a try run read `trusted`
//!   plus their own namespace and write only their own.
//! - [`session`]: one run's use of the cache: look up, check the blobs,
//!   restore, record.
//! - [`gc`]: `baton cache gc`, least recently used first.
//!
//! Outputs are not copied into the cache: an entry names blobs of the
//! pipeline's content-addressed store (`.baton/store`), and a hit whose
//! blob is gone is a miss, never an error.

pub mod entries;
pub mod gc;
pub mod inputs;
pub mod manifest;
pub mod namespace;
pub mod session;

use serde::{Deserialize, Serialize};

pub use namespace::{Namespaces, RunKind, namespaces};

/// The version of the entry and manifest formats; part of every key.
pub const VERSION: u32 = 1;

/// One entry: what a passing step left, under its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub v: u32,
    /// Hex SHA-256 of the canonical manifest.
    pub key: String,
    /// `board.step` of the step that made it.
    pub step: String,
    /// Always `ok`: only passing steps are cached.
    pub outcome: crate::status::StepStatus,
    /// The artifacts it published, by name.
    pub artifacts: Vec<CachedBlob>,
    /// Its declared `outputs`, each a blob (a file, or a directory as a
    /// deterministic tar), by path.
    pub outputs: Vec<CachedBlob>,
    /// Its log as written (masked then), if it wrote one.
    pub log: Option<CachedBlob>,
    /// Seconds it took.
    pub duration: f64,
    /// The run that made it.
    pub run: String,
    /// Unix time it was made.
    pub created_unix: f64,
    pub manifest: manifest::Manifest,
}

/// A blob of the store an entry refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedBlob {
    /// Artifact name, output path, or `log`.
    pub name: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub kind: crate::storage::artifacts::Kind,
}

impl Entry {
    /// Whether `other` holds the same bytes (ignoring who made it, when and
    /// how long it took, and the log, which holds times).
    pub fn same_bytes(&self, other: &Entry) -> bool {
        self.artifacts == other.artifacts && self.outputs == other.outputs
    }

    /// Every blob it refers to.
    pub fn blobs(&self) -> impl Iterator<Item = &CachedBlob> {
        self.artifacts.iter().chain(&self.outputs).chain(&self.log)
    }
}

/// What cached steps fail to declare, where baton can tell (`baton check`
/// prints these as hints; they do not fail the check).
pub fn hints(plan: &crate::plan::Plan) -> Vec<String> {
    let mut out = Vec::new();
    for s in &plan.steps {
        let Some(spec) = &s.cache else { continue };
        if !s.policy.spawn.is_empty() && spec.inputs.is_empty() {
            out.push(format!(
                "step {} is cached and may spawn programs ({}) but declares no `inputs`: a change to the project \
                 files they read will not make it run again (add e.g. `inputs = [\"src/**\"]`)",
                s.id,
                s.policy.spawn.join(", ")
            ));
        }
    }
    out
}

/// The first 12 hex digits of a key, as reports show it.
pub fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}
