//! Signatures over a plugin's manifest digest, made and checked with
//! `ssh-keygen -Y` (namespace `baton-plugin`), the scheme git uses for ssh
//! signing: no key server, an `allowed_signers` file lists the keys an
//! operator accepts. A signature is stored next to the plugin as an OCI
//! artifact tagged `sha256-<hex>.sig` (one layer, the armored signature),
//! and cached by the digest it signs; it is verified again on every run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::cache::BlobCache;
use super::client::{RegistryError, Session};
use super::manifest::{self, Descriptor, MAX_MANIFEST};
use super::reference::OciRef;

/// When set, registry plugins that untrusted steps use must be signed by a
/// key in this `allowed_signers` file.
pub const ENV_ALLOWED_SIGNERS: &str = crate::env_vars::ALLOWED_SIGNERS;
pub const NAMESPACE: &str = "baton-plugin";
pub const LAYER_TYPE: &str = "application/vnd.dev.baton.ssh-signature.v1";
pub const EMPTY_CONFIG_TYPE: &str = "application/vnd.oci.empty.v1+json";
const MAX_SIGNATURE: u64 = 64 << 10;

/// The tag holding the signature of `manifest_digest`.
pub fn tag_for(manifest_digest: &str) -> String {
    format!("sha256-{}.sig", manifest_digest.trim_start_matches("sha256:"))
}

/// Signs `manifest_digest` with the ssh private key `key`; the armored signature.
pub fn sign(key: &Path, manifest_digest: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let message = dir.path().join("digest");
    std::fs::write(&message, manifest_digest).map_err(|e| e.to_string())?;
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", NAMESPACE, "-f"])
        .arg(key)
        .arg(&message)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ssh-keygen (install openssh-client): {e}"))?;
    if !out.status.success() {
        return Err(format!("ssh-keygen could not sign with {}: {}", key.display(), first_line(&out.stderr)));
    }
    std::fs::read(dir.path().join("digest.sig")).map_err(|e| format!("ssh-keygen wrote no signature: {e}"))
}

/// Pushes `signature` as the signature artifact of `manifest_digest`.
pub fn push(session: &mut Session, manifest_digest: &str, signature: &[u8]) -> Result<String, RegistryError> {
    let config = b"{}";
    let config = Descriptor {
        media_type: EMPTY_CONFIG_TYPE.into(),
        digest: session.push_blob(config)?,
        size: config.len() as u64,
        annotations: None,
    };
    let layer = Descriptor {
        media_type: LAYER_TYPE.into(),
        digest: session.push_blob(signature)?,
        size: signature.len() as u64,
        annotations: None,
    };
    let annotations = [("dev.baton.signature.signs".to_string(), manifest_digest.to_string())].into();
    session.push_manifest(&tag_for(manifest_digest), &manifest::build(config, layer, annotations))
}

/// Why a plugin's signature is missing or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("it has no signature ({tag}) in registry {registry}: sign it with `baton plugin sign`")]
    Missing { registry: String, tag: String },
    #[error("--offline, and its signature is not cached (registry {registry} was not contacted)")]
    Offline { registry: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("its signature (registry {registry}) is not by a key in {allowed}: {reason}")]
    Refused { registry: String, allowed: String, reason: String },
    #[error("{0}")]
    Local(String),
}

/// Checks that `manifest_digest` is signed by a key in `allowed`; returns
/// the signer's principal. The signature comes from the cache, else from
/// the registry (unless `offline`), and is verified every time.
pub fn check(
    reference: &OciRef,
    manifest_digest: &str,
    allowed: &Path,
    cache: &BlobCache,
    offline: bool,
) -> Result<String, SignatureError> {
    let cached = cached_path(cache, manifest_digest);
    let signature = match std::fs::read(&cached) {
        Ok(bytes) => bytes,
        Err(_) if offline => return Err(SignatureError::Offline { registry: reference.registry.clone() }),
        Err(_) => {
            let bytes = fetch(reference, manifest_digest)?;
            crate::storage::atomic::write(&cached, &bytes, crate::storage::atomic::Sync::Derived)
                .map_err(|e| SignatureError::Local(format!("cannot cache the signature: {e}")))?;
            bytes
        }
    };
    verify(allowed, manifest_digest, &signature).map_err(|reason| SignatureError::Refused {
        registry: reference.registry.clone(),
        allowed: allowed.display().to_string(),
        reason,
    })
}

fn cached_path(cache: &BlobCache, manifest_digest: &str) -> PathBuf {
    cache.dir().join("signatures").join(manifest_digest.trim_start_matches("sha256:"))
}

fn fetch(reference: &OciRef, manifest_digest: &str) -> Result<Vec<u8>, SignatureError> {
    let tag = tag_for(manifest_digest);
    let mut session = Session::new(reference, false)?;
    let (_, bytes) = match session.manifest(&tag) {
        Err(RegistryError::NotFound { .. }) => {
            return Err(SignatureError::Missing { registry: reference.registry.clone(), tag });
        }
        other => other?,
    };
    let m: manifest::Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        SignatureError::Local(format!(
            "registry {}: the signature manifest {tag} is malformed: {e}",
            reference.registry
        ))
    })?;
    let layer = m.layers.iter().find(|l| l.media_type == LAYER_TYPE).ok_or_else(|| {
        SignatureError::Local(format!("registry {}: {tag} holds no `{LAYER_TYPE}` layer", reference.registry))
    })?;
    Ok(session.blob(&layer.digest, MAX_SIGNATURE.min(MAX_MANIFEST))?)
}

/// `ssh-keygen -Y find-principals` then `-Y verify` against `allowed`.
fn verify(allowed: &Path, manifest_digest: &str, signature: &[u8]) -> Result<String, String> {
    verify_message(allowed, NAMESPACE, manifest_digest, signature)
}

/// Checks that `signature` signs `message` in `namespace` by a key of the
/// allowed-signers file `allowed`; the signer's principal, or why not.
pub fn verify_message(allowed: &Path, namespace: &str, message: &str, signature: &[u8]) -> Result<String, String> {
    let manifest_digest = message;
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let sig = dir.path().join("digest.sig");
    std::fs::write(&sig, signature).map_err(|e| e.to_string())?;
    let run = |args: &[&str], input: Option<&str>| -> Result<std::process::Output, String> {
        let mut child = Command::new("ssh-keygen")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run ssh-keygen (install openssh-client): {e}"))?;
        if let (Some(mut stdin), Some(text)) = (child.stdin.take(), input) {
            let _ = stdin.write_all(text.as_bytes());
        }
        child.wait_with_output().map_err(|e| e.to_string())
    };
    let (allowed_s, sig_s) = (allowed.display().to_string(), sig.display().to_string());
    let found = run(&["-Y", "find-principals", "-f", &allowed_s, "-s", &sig_s], None)?;
    let principal = String::from_utf8_lossy(&found.stdout).lines().next().unwrap_or("").trim().to_string();
    if !found.status.success() || principal.is_empty() {
        return Err("no allowed signer made it".into());
    }
    let args = ["-Y", "verify", "-f", &allowed_s, "-I", &principal, "-n", namespace, "-s", &sig_s];
    let verified = run(&args, Some(manifest_digest))?;
    if !verified.status.success() {
        return Err(format!("it does not verify: {}", first_line(&verified.stderr)));
    }
    Ok(principal)
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).lines().next().unwrap_or("").to_string()
}
