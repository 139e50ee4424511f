//! The one `bindgen!` site: Rust types and traits for `wit/`.
//!
//! Host functions whose WIT result carries a `signal-error`,
//! `artifact-error` or `process-error` return a [`TrappableError`] of it:
//! `?` turns either that error (answered to the stage) or a trap (ends the
//! attempt) into their result.

use wasmtime_wasi::TrappableError;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "baton:stage/stage",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "baton:stage/signals.signal-error" => crate::runtime::bindings::SignalTrap,
        "baton:stage/artifacts.artifact-error" => crate::runtime::bindings::ArtifactTrap,
        "baton:stage/process.process-error" => crate::runtime::bindings::ProcessTrap,
    },
    with: {
        "baton:stage/process.child": crate::runtime::host::process::ChildHandle,
    },
});

pub use baton::stage::types::{Level, StageError, StageMeta, StepInfo};

/// A `signal-error` for the stage, or a trap.
pub type SignalTrap = TrappableError<baton::stage::signals::SignalError>;
/// An `artifact-error` for the stage, or a trap.
pub type ArtifactTrap = TrappableError<baton::stage::artifacts::ArtifactError>;
/// A `process-error` for the stage, or a trap.
pub type ProcessTrap = TrappableError<baton::stage::process::ProcessError>;
