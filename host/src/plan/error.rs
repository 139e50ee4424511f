//! Errors in a pipeline file: each names the key path it concerns, and all
//! of them are reported together before anything runs.

use std::fmt;

/// One problem in the pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// Key path, e.g. `boards.linux.steps[2].after[0]`; empty for the whole file.
    pub path: String,
    pub message: String,
}

impl PlanError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Every problem found in one pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors {
    pub file: String,
    pub errors: Vec<PlanError>,
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        writeln!(f, "{}: {n} error{}", self.file, if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanErrors {}

/// Collects errors while validating.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<PlanError>);

impl Errors {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(PlanError::new(path, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
