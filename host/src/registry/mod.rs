//! `registry`: stage plugins shipped through OCI registries.
//!
//! `reference` parses `oci://registry/repository:tag@digest`; `manifest` is
//! the CNCF wasm layout; `client` speaks the distribution API (with `auth`'s
//! credentials); `cache` keeps what was pulled by digest, verified on every
//! read; `lock` is `baton.lock`; `signature` signs and checks manifest
//! digests. [`pull`] puts them together: a reference
//! (and the manifest digest the lock pins, if any) in, a verified component
//! in the cache out, without a network call when the cache has it.
//! Nothing here knows about pipelines: `cli::lock` resolves a plan's
//! registry plugins with it before the plan runs.

pub mod auth;
pub mod cache;
pub mod client;
pub mod lock;
pub mod manifest;
pub mod reference;
pub mod signature;

use std::path::PathBuf;

use cache::{BlobCache, CacheError};
use client::{RegistryError, Session};
use manifest::{LayoutError, MAX_LAYER, MAX_MANIFEST, Manifest};
use reference::OciRef;

/// A component pulled (or found in the cache).
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Manifest digest.
    pub manifest: String,
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Component digest and size.
    pub component: String,
    pub size: u64,
    /// The component in the cache.
    pub path: PathBuf,
    /// Whether the registry was contacted.
    pub network: bool,
}

/// Why a plugin could not be pulled. Each message names the registry.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("registry {registry} serves no plugin there: {source}")]
    Layout { registry: String, source: LayoutError },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("--offline, and the {what} is not cached (registry {registry} was not contacted)")]
    Offline { registry: String, what: String },
}

/// Gets the component `reference` names, pinned to `pinned` (a manifest
/// digest) when given: from the cache when it has every piece, else from the
/// registry (unless `offline`). Everything fetched is verified against its
/// digest before it is cached.
pub fn pull(reference: &OciRef, pinned: Option<&str>, cache: &BlobCache, offline: bool) -> Result<Pulled, PullError> {
    let pinned = pinned.or(reference.digest.as_deref());
    let mut slot: Option<Session> = None;
    let cached_manifest = match pinned {
        Some(d) => read_cached(cache, d)?,
        None => None,
    };
    let (manifest_digest, manifest_bytes) = match (pinned, cached_manifest) {
        (Some(d), Some(bytes)) => (d.to_string(), bytes),
        (Some(d), None) => connect(&mut slot, reference, offline, &format!("manifest {d}"))?.manifest(d)?,
        (None, _) => {
            connect(&mut slot, reference, offline, &format!("manifest of tag {} (not locked)", reference.target()))?
                .manifest(reference.target())?
        }
    };
    let layout = |source| PullError::Layout { registry: reference.registry.clone(), source };
    let m = Manifest::parse_plugin(&manifest_bytes).map_err(layout)?;
    if manifest_bytes.len() as u64 <= MAX_MANIFEST && !cache.contains(&manifest_digest) {
        cache.write(&manifest_digest, &manifest_bytes)?;
    }
    let layer = m.component().clone();
    let have = read_cached(cache, &layer.digest)?.is_some();
    if !have {
        let bytes = connect(&mut slot, reference, offline, &format!("component {}", layer.digest))?
            .blob(&layer.digest, MAX_LAYER.min(layer.size))?;
        cache.write(&layer.digest, &bytes)?;
    }
    let path = cache.path(&layer.digest);
    let actual = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if actual != layer.size {
        let reason = format!("the manifest says the component is {} bytes, it is {actual}", layer.size);
        return Err(layout(LayoutError(reason)));
    }
    Ok(Pulled {
        manifest: manifest_digest,
        annotations: m.annotations.clone(),
        component: layer.digest.clone(),
        size: layer.size,
        path,
        network: slot.is_some(),
    })
}

/// The session to the registry, opened on first use; an error when offline.
fn connect<'a>(
    slot: &'a mut Option<Session>,
    reference: &OciRef,
    offline: bool,
    what: &str,
) -> Result<&'a mut Session, PullError> {
    if offline {
        return Err(PullError::Offline { registry: reference.registry.clone(), what: what.into() });
    }
    let session = match slot.take() {
        Some(s) => s,
        None => Session::new(reference, false)?,
    };
    Ok(slot.insert(session))
}

/// A cache entry, verified; a damaged one counts as missing (and is removed).
fn read_cached(cache: &BlobCache, digest: &str) -> Result<Option<Vec<u8>>, CacheError> {
    match cache.read(digest) {
        Err(CacheError::Corrupt { .. }) => Ok(None),
        other => other,
    }
}
