//! Plugins built into the `baton` binary, usable by name without a path
//! (`plugin = "shell"`). They are compiled from `plugins/` by `build.rs`.

/// Names of the bundled plugins.
pub const NAMES: &[&str] = &["shell"];

const SHELL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shell.wasm"));

/// The bundled plugin called `name`, as a `'static` name.
pub fn find(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == name)
}

/// The component bytes of a bundled plugin.
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    match name {
        "shell" => Some(SHELL),
        _ => None,
    }
}
