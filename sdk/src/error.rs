use std::fmt;

use crate::wit::baton::stage::artifacts::ArtifactError;
use crate::wit::baton::stage::process::ProcessError;
use crate::wit::baton::stage::signals::SignalError;
use crate::wit::baton::stage::types::StageError;

/// Why a stage failed. `?` converts host errors, I/O errors and config errors
/// into it; the message ends up in the run report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    Failed,
}

impl Error {
    /// The step ran and its work failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: Kind::Failed, message: message.into() }
    }

    /// The step's `with` table is wrong; say which key and why.
    pub fn config(message: impl Into<String>) -> Self {
        Self { kind: Kind::Config, message: message.into() }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether this is a configuration error.
    pub fn is_config(&self) -> bool {
        self.kind == Kind::Config
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<Error> for StageError {
    fn from(e: Error) -> Self {
        match e.kind {
            Kind::Config => StageError::InvalidConfig(e.message),
            Kind::Failed => StageError::Failed(e.message),
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::failed(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::failed(message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::failed(format!("i/o error: {e}"))
    }
}

impl From<ProcessError> for Error {
    fn from(e: ProcessError) -> Self {
        Self::failed(crate::process::error_message(&e))
    }
}

impl From<ArtifactError> for Error {
    fn from(e: ArtifactError) -> Self {
        Self::failed(crate::artifacts::error_message(&e))
    }
}

impl From<SignalError> for Error {
    fn from(e: SignalError) -> Self {
        Self::failed(crate::signals::error_message(&e))
    }
}
