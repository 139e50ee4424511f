//! Generated bindings for `baton:stage`. Plugin authors use the wrappers in
//! the rest of the crate; these are public only so the export macro can name them.
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../wit",
    world: "baton:stage/stage",
    pub_export_macro: true,
    export_macro_name: "__export_stage_world",
    default_bindings_module: "baton_sdk::wit",
    runtime_path: "baton_sdk::__wit_bindgen::rt",
    generate_all,
});
