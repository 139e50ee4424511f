//! `baton plugin push FILE oci://…`, `baton plugin pull oci://…` and
//! `baton plugin sign oci://… --key KEY`.
//!
//! Push publishes a baton stage in the CNCF wasm layout: a config
//! `application/vnd.wasm.config.v0+json` (`os: wasip2`, the component's
//! exports and imports), one `application/wasm` layer, and the contract
//! version and `describe()` data as manifest annotations. It refuses core
//! modules and components that are not `baton:stage` plugins. The manifest
//! digest goes to stdout.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use super::Output;
use super::lock::check_component;
use crate::plan::{PluginDef, PluginSource};
use crate::registry::cache::{BlobCache, digest_of};
use crate::registry::client::Session;
use crate::registry::manifest::{self, Descriptor};
use crate::registry::reference::OciRef;
use crate::registry::{self, Pulled, signature};
use crate::runtime::Runtime;
use crate::runtime::plugin::check_header;

pub fn push(file: &Path, reference: &str, out: Output) -> anyhow::Result<u8> {
    let target = OciRef::parse(reference)?;
    let Some(tag) = target.tag.clone() else {
        bail!("{reference}: give a tag to push to (`oci://registry/repository:1.0.0`)");
    };
    if target.digest.is_some() {
        bail!("{reference}: a push names a tag, not a digest (the digest is printed once pushed)");
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if let Err(m) = check_header(&bytes) {
        bail!("refusing to push {}: it {}", file.display(), m.strip_prefix("is ").unwrap_or(&format!("is {m}")));
    }
    let def = PluginDef {
        name: file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        source: PluginSource::File(std::path::absolute(file)?),
        sha256: None,
        trust: None,
    };
    let runtime = Runtime::new(1).map_err(|e| anyhow::anyhow!("cannot start the wasm engine: {e:#}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let found = rt.block_on(runtime.inspect(&def)).map_err(anyhow::Error::msg)?;
    crate::sandbox::scratch::cleanup();
    let Some(contract) = found.contract.clone() else {
        bail!(
            "refusing to push {}: it is a component but not a baton:stage plugin (it exports {}); build it with baton-sdk or against wit/",
            file.display(),
            if found.exports.is_empty() { "nothing".to_string() } else { found.exports.join(", ") }
        );
    };

    let created = manifest::now_rfc3339();
    let layer_digest = digest_of(&bytes);
    let author = found.describe.as_ref().map(|d| d.name.clone()).unwrap_or_default();
    let imports: Vec<String> = found.imports.iter().map(|i| i.name.clone()).collect();
    let config = manifest::config(&created, &author, &layer_digest, &found.exports, &imports);
    let mut annotations = BTreeMap::from([
        (manifest::ANN_CONTRACT.to_string(), contract.clone()),
        (manifest::ANN_CREATED.to_string(), created),
    ]);
    if let Some(d) = &found.describe {
        annotations.insert(manifest::ANN_TITLE.into(), d.name.clone());
        annotations.insert(manifest::ANN_VERSION.into(), d.version.clone());
        annotations.insert(manifest::ANN_DESCRIPTION.into(), d.description.clone());
        if let Some(schema) = &d.config_schema {
            annotations
                .insert(manifest::ANN_CONFIG_SCHEMA.into(), schema.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }

    let mut session = Session::new(&target, true)?;
    let layer = Descriptor {
        media_type: manifest::LAYER_TYPE.into(),
        digest: session.push_blob(&bytes)?,
        size: bytes.len() as u64,
        annotations: None,
    };
    let config = Descriptor {
        media_type: manifest::CONFIG_TYPE.into(),
        digest: session.push_blob(&config)?,
        size: config.len() as u64,
        annotations: None,
    };
    let body = manifest::build(config, layer, annotations);
    let digest = session.push_manifest(&tag, &body)?;
    if !out.quiet {
        eprintln!("pushed {}@{digest} (baton:stage@{contract}, {} bytes)", target, bytes.len());
    }
    println!("{digest}");
    Ok(0)
}

pub fn pull(reference: &str, out: Output) -> anyhow::Result<u8> {
    let (def, pulled) = pull_def(reference)?;
    if !out.quiet {
        let path = match &def.source {
            PluginSource::Oci { blob: Some(p), .. } => p.display().to_string(),
            _ => String::new(),
        };
        let from = if pulled.network { "pulled" } else { "already cached" };
        eprintln!(
            "{from}: {reference}@{}: component {} ({} bytes) at {path}",
            pulled.manifest, pulled.component, pulled.size
        );
    }
    // The first run of it need not compile: leave its code in the cache.
    for e in Runtime::compile_ahead([&def]) {
        eprintln!("warning: {}", crate::text::escape_text(&e));
    }
    println!("{}", pulled.manifest);
    Ok(0)
}

/// Pulls `reference` into the plugin cache and returns a plugin that reads it.
pub fn pull_def(reference: &str) -> anyhow::Result<(PluginDef, Pulled)> {
    let r = OciRef::parse(reference)?;
    let state = std::path::absolute(".baton")?;
    let cache = BlobCache::from_env(&state);
    let pulled = registry::pull(&r, None, &cache, false).map_err(|e| anyhow::anyhow!("{r}: {e}"))?;
    if let Err(m) = check_component(&pulled.path) {
        let m = if m.starts_with("is ") { m } else { format!("is {m}") };
        bail!("{r}: registry {} serves a layer that {m}", r.registry);
    }
    let name = r.repository.rsplit('/').next().unwrap_or(&r.repository).to_string();
    let def = PluginDef {
        name,
        source: PluginSource::Oci { reference: r, blob: Some(pulled.path.clone()) },
        sha256: Some(pulled.component.trim_start_matches("sha256:").to_string()),
        trust: None,
    };
    Ok((def, pulled))
}

/// Signs the manifest digest `reference` names and pushes the signature
/// next to it (`sha256-<hex>.sig`); prints the signed digest.
pub fn sign(reference: &str, key: &Path, out: Output) -> anyhow::Result<u8> {
    let r = OciRef::parse(reference)?;
    let mut session = Session::new(&r, true)?;
    let (digest, bytes) = session.manifest(r.target())?;
    manifest::Manifest::parse_plugin(&bytes)
        .map_err(|e| anyhow::anyhow!("{r}: registry {} serves no plugin there: {e}", r.registry))?;
    let sig = signature::sign(key, &digest).map_err(anyhow::Error::msg)?;
    signature::push(&mut session, &digest, &sig)?;
    if !out.quiet {
        eprintln!("signed {r} ({digest}) as {}", signature::tag_for(&digest));
    }
    println!("{digest}");
    Ok(0)
}
