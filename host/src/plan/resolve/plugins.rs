//! `[plugins]`: each entry a path (optionally pinned by sha256), the bundled
//! `shell`, or an `oci://` reference, resolved to a plugin definition with
//! every error at its key path.

use std::path::Path;

use super::*;

/// Deserialises `table[key]` on its own, reporting errors under `key`.
pub(super) fn resolve_plugins(table: &toml::Table, dir: &Path, errs: &mut Errors) -> Vec<PluginDef> {
    let mut out: Vec<PluginDef> = Vec::new();
    if let Some(value) = table.get("plugins") {
        match value.as_table() {
            None => errs.push("plugins", "must be a table of `name = \"path.wasm\"`"),
            Some(t) => {
                for (name, v) in t {
                    let path = format!("plugins.{name}");
                    let Some(entry) = parse_value::<PluginEntry>(v, &path, errs) else {
                        continue;
                    };
                    let trust = match &entry {
                        PluginEntry::Path(_) => None,
                        PluginEntry::Table(t) => t.trust,
                    };
                    let Some((source, sha256)) = plugin_source(entry, dir, &path, errs) else {
                        continue;
                    };
                    out.push(PluginDef { name: name.clone(), source, sha256, trust });
                }
            }
        }
    }
    // Bundled plugins are usable by name without a `[plugins]` entry.
    for &name in bundled::NAMES {
        if !out.iter().any(|p| p.name == name) {
            out.push(PluginDef { name: name.into(), source: PluginSource::Bundled(name), sha256: None, trust: None });
        }
    }
    out
}

/// Where one `[plugins]` entry's component comes from, and its pinned sha256.
fn plugin_source(
    entry: PluginEntry,
    dir: &Path,
    path: &str,
    errs: &mut Errors,
) -> Option<(PluginSource, Option<String>)> {
    let table = match entry {
        PluginEntry::Path(p) if p.starts_with("oci://") => return oci_source(&p, None, None, path, errs),
        PluginEntry::Path(p) => {
            PluginTable { path: Some(p), sha256: None, oci: None, version: None, digest: None, trust: None }
        }
        PluginEntry::Table(t) => t,
    };
    let file = match (table.path, table.oci) {
        (Some(_), Some(_)) => {
            errs.push(path, "give either `path` (a .wasm file) or `oci` (a registry reference), not both");
            return None;
        }
        (None, None) => {
            errs.push(path, "missing `path` (a .wasm file) or `oci` (a registry reference)");
            return None;
        }
        (None, Some(oci)) => {
            if table.sha256.is_some() {
                errs.push(
                    format!("{path}.sha256"),
                    "a registry plugin is pinned by `digest` (its manifest digest), not `sha256`",
                );
            }
            return oci_source(&oci, table.version, table.digest, path, errs);
        }
        (Some(file), None) => file,
    };
    for (key, set) in [("version", table.version.is_some()), ("digest", table.digest.is_some())] {
        if set {
            errs.push(format!("{path}.{key}"), format!("`{key}` goes with `oci`; a file plugin is pinned by `sha256`"));
        }
    }
    if let Some(d) = &table.sha256
        && (d.len() != 64 || !d.chars().all(|c| c.is_ascii_hexdigit()))
    {
        errs.push(format!("{path}.sha256"), "must be 64 hex digits (sha256 of the .wasm file)");
    }
    let source = if file.contains('/') || file.ends_with(".wasm") {
        PluginSource::File(dir.join(&file))
    } else if let Some(b) = bundled::find(&file) {
        PluginSource::Bundled(b)
    } else {
        errs.push(
            path,
            format!(
                "`{file}` is neither a .wasm path, an `oci://` reference nor a bundled plugin{}",
                hint(&file, bundled::NAMES.iter().copied())
            ),
        );
        return None;
    };
    Some((source, table.sha256.map(|s| s.to_lowercase())))
}

/// A registry plugin: `oci://…` as a string, or `oci` with `version` and `digest`.
fn oci_source(
    oci: &str,
    version: Option<String>,
    digest: Option<String>,
    path: &str,
    errs: &mut Errors,
) -> Option<(PluginSource, Option<String>)> {
    let text = format!("oci://{}", oci.strip_prefix("oci://").unwrap_or(oci));
    let base = OciRef::parse(&text).ok();
    let written = base.as_ref().is_some_and(|r| r.tag.is_some() || r.digest.is_some());
    if written && (version.is_some() || digest.is_some()) {
        errs.push(path, "give the tag and digest either in `oci` or as `version` and `digest`, not both");
        return None;
    }
    let mut full = text;
    if let Some(v) = &version {
        full += &format!(":{v}");
    }
    if let Some(d) = &digest {
        full += &format!("@{d}");
    }
    match OciRef::parse(&full) {
        Ok(reference) => Some((PluginSource::Oci { reference, blob: None }, None)),
        Err(e) => {
            errs.push(path, e.to_string());
            None
        }
    }
}
