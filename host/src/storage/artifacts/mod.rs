//! The content-addressed artifact store, `.baton/store/`, shared by all runs.
//!
//! A blob lives at `sha256/<hex>`; a directory is stored as a deterministic
//! tar (sorted entries, zero times and owners, normalised modes), so equal
//! content gives equal digests. Writes go to a temp file, are fsynced and
//! renamed into place; a blob is verified against its digest on every read.
//!
//! The workspace an artifact is read from belongs to the step's processes,
//! which may change it while baton reads (an untrusted one on purpose), so:
//! - [`store`] opens the published path beneath the workspace (`cap-std`) and
//!   removes a partial blob whatever stops it;
//! - [`tar_write`] walks the tree without recursion, opens every entry once
//!   (`O_NOFOLLOW | O_NONBLOCK`), refuses what is not a file, directory or
//!   symlink, copies exactly the bytes a header announces, and stops at the
//!   size cap or when the step ends ([`job`]);
//! - [`resolve`] follows symlink chains through the archive itself: a link
//!   is kept only if every hop stays inside the artifact;
//! - [`tar_read`] checks a whole archive before unpacking it and never
//!   creates an entry outside, or through a symlink in, its destination.

use serde::{Deserialize, Serialize};

pub mod job;
pub mod resolve;
mod store;
pub mod tar_read;
pub mod tar_write;

pub use job::{Cancel, Job};
pub use store::ArtifactStore;

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Directory,
}

/// One published artifact, as kept in a run's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// `board.step/name`.
    pub reference: String,
    /// `board.step` of the producer.
    pub step: String,
    pub name: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub kind: Kind,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("invalid path {0}")]
    Path(String),
    #[error("blob {digest} is corrupt: its content hashes to {actual}")]
    Corrupt { digest: String, actual: String },
    /// The artifact is over the step's `artifact_limit`, or nests too deep.
    #[error("{0}")]
    Limit(String),
    /// The step ended (timeout, cancellation) while the store worked for it.
    #[error("stopped: the step ended")]
    Cancelled,
    #[error("{0}")]
    Io(String),
}

/// Whether `name` is a valid artifact name: letters, digits, `.`, `_`, `-`,
/// not starting with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
