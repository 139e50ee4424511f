//! Content-addressed artifacts shared between steps and boards.

use crate::wit::baton::stage::artifacts as host;
pub use host::{Artifact, ArtifactError, ArtifactKind};

/// Publishes the file or directory at `path` (relative to the workspace) as `name`.
pub fn put(name: &str, path: &str) -> Result<Artifact, ArtifactError> {
    host::put(name, path)
}

/// Copies the artifact `reference` (`board.step/name`, or a bare name published
/// by a step this one depends on) to `dest` in the workspace, waiting for its
/// producer if it has not published it yet.
pub fn get(reference: &str, dest: &str) -> Result<Artifact, ArtifactError> {
    host::get(reference, dest)
}

/// The artifacts published so far in this run.
pub fn list() -> Result<Vec<Artifact>, ArtifactError> {
    host::list()
}

pub(crate) fn error_message(e: &ArtifactError) -> String {
    match e {
        ArtifactError::InvalidName(m) => format!("invalid artifact name: {m}"),
        ArtifactError::InvalidPath(m) => format!("invalid path: {m}"),
        ArtifactError::NotFound(m) => format!("artifact not found: {m}"),
        ArtifactError::NeverPublished(m) => format!("artifact never published: {m}"),
        ArtifactError::Denied(m) => format!("denied: {m}"),
        ArtifactError::Corrupt(m) => format!("corrupt artifact: {m}"),
        ArtifactError::Limit(m) => format!("limit: {m}"),
        ArtifactError::Io(m) => format!("artifact i/o error: {m}"),
    }
}
