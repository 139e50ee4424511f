//! The one `bindgen!` site: Rust types and traits for `wit/`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "baton:stage/stage",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "baton:stage/process.child": crate::runtime::host::process::ChildHandle,
    },
});

pub use baton::stage::types::{Level, StageError, StageMeta, StepInfo};
