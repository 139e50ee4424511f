//! `baton plugin wrap module.wasm -o stage.wasm`: turns a wasm32-wasi core
//! module (C with wasi-libc, Go, Zig…) into a stage component, with the
//! WASI preview1 adapter baton carries. A C author needs clang and this
//! command, not npm (jco) nor cargo (to download the adapter).
//!
//! The module says which world it implements in a `component-type` custom
//! section (wit-bindgen's generated `*_component_type.o` holds one); a
//! module without one gets the `stage` world of the contract this baton was
//! built with.

use std::path::Path;

use anyhow::{Context, bail};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::{Resolve, SourceMap};

/// The contract's WIT files, as this host was built with them.
const WIT: [(&str, &str); 6] = [
    ("artifacts.wit", include_str!("../../../wit/artifacts.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("plugin.wit", include_str!("../../../wit/plugin.wit")),
    ("process.wit", include_str!("../../../wit/process.wit")),
    ("signals.wit", include_str!("../../../wit/signals.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
];

/// Wraps `input` into a component at `output`; returns its size.
pub fn wrap(input: &Path, output: &Path) -> anyhow::Result<u64> {
    let mut module = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    if !module.starts_with(b"\0asm") {
        bail!("{} is not a wasm file (no `\\0asm` header): give the core module clang wrote", input.display());
    }
    if module.get(4..8) != Some(&[1, 0, 0, 0]) {
        bail!("{} is already a component (or not a core module): `wrap` takes a core module", input.display());
    }
    if !has_component_type(&module) {
        embed_stage_world(&mut module)?;
    }
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .with_context(|| format!("{}: not a module wit-component can wrap", input.display()))?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        .context("cannot load the WASI preview1 adapter")?
        .encode()
        .with_context(|| {
            format!(
                "cannot make a component of {}: does it export the stage world's functions \
                 (exports_baton_stage_plugin_run/describe, cabi_post_*) and import only the contract and \
                 wasi_snapshot_preview1?",
                input.display()
            )
        })?;
    let tmp = output.with_extension("wasm.tmp");
    std::fs::write(&tmp, &component).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, output).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(component.len() as u64)
}

/// Whether a custom section named `component-type…` is present.
fn has_component_type(module: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(module).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(s)) if s.name().starts_with("component-type"))
    })
}

fn embed_stage_world(module: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut map = SourceMap::new();
    for (name, text) in WIT {
        map.push(Path::new(name), text);
    }
    let group = map.parse().map_err(|(_, e)| anyhow::anyhow!("the built-in wit/ does not parse: {e}"))?;
    let mut resolve = Resolve::default();
    let package = resolve.push_group(group).map_err(|e| anyhow::anyhow!("the built-in wit/ does not resolve: {e}"))?;
    let world = resolve.select_world(&[package], Some("stage"))?;
    embed_component_metadata(module, &resolve, world, StringEncoding::UTF8, false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_or_a_text_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("a.wasm");
        std::fs::write(&text, "int main() {}").expect("write");
        let e = wrap(&text, &dir.path().join("out.wasm")).unwrap_err().to_string();
        assert!(e.ends_with("is not a wasm file (no `\\0asm` header): give the core module clang wrote"), "{e}");
        let component = dir.path().join("c.wasm");
        std::fs::write(&component, b"\0asm\x0d\0\x01\0").expect("write");
        let e = wrap(&component, &dir.path().join("out.wasm")).unwrap_err().to_string();
        assert!(e.contains("is already a component"), "{e}");
    }

    #[test]
    fn the_built_in_contract_embeds() {
        // An empty core module gets the stage world's type section.
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        embed_stage_world(&mut module).expect("embed");
        assert!(has_component_type(&module));
    }
}
