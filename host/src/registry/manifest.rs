//! The CNCF "Wasm OCI Artifact" layout (as used by wkg and wasm-pkg-tools):
//! an OCI image manifest whose config is `application/vnd.wasm.config.v0+json`
//! and whose one layer is the component, `application/wasm`. Building it for
//! `baton plugin push` and checking what a registry serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_TYPE: &str = "application/wasm";
/// The largest component baton pulls (interpreted plugins are 12-18 MB).
pub const MAX_LAYER: u64 = 512 << 20;
/// The largest manifest or config baton reads.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// Annotation keys baton writes on the manifests it pushes.
pub const ANN_CONTRACT: &str = "dev.baton.stage.contract";
pub const ANN_CONFIG_SCHEMA: &str = "dev.baton.stage.config-schema";
pub const ANN_TITLE: &str = "org.opencontainers.image.title";
pub const ANN_VERSION: &str = "org.opencontainers.image.version";
pub const ANN_DESCRIPTION: &str = "org.opencontainers.image.description";
pub const ANN_CREATED: &str = "org.opencontainers.image.created";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What is wrong with a served manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(pub String);

impl Manifest {
    /// Parses a manifest and checks that it holds one wasm component:
    /// an OCI image manifest with exactly one `application/wasm` layer.
    pub fn parse_plugin(bytes: &[u8]) -> Result<Manifest, LayoutError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| LayoutError(format!("the manifest is not valid JSON: {e}")))?;
        let media = value["mediaType"].as_str().unwrap_or(MANIFEST_TYPE);
        if media != MANIFEST_TYPE {
            return Err(LayoutError(format!(
                "the manifest has media type `{media}`, not `{MANIFEST_TYPE}` (push a single component, not an image index or a container image)"
            )));
        }
        let m: Manifest =
            serde_json::from_value(value).map_err(|e| LayoutError(format!("the manifest is malformed: {e}")))?;
        if m.layers.len() != 1 {
            return Err(LayoutError(format!(
                "the manifest has {} layers; a plugin has exactly one `{LAYER_TYPE}` layer",
                m.layers.len()
            )));
        }
        let layer = &m.layers[0];
        if layer.media_type != LAYER_TYPE {
            return Err(LayoutError(format!(
                "the layer has media type `{}`, not `{LAYER_TYPE}` (push the component with `baton plugin push`)",
                layer.media_type
            )));
        }
        super::reference::check_digest(&layer.digest).map_err(LayoutError)?;
        if layer.size > MAX_LAYER {
            return Err(LayoutError(format!(
                "the component is {} bytes, more than baton pulls ({MAX_LAYER})",
                layer.size
            )));
        }
        Ok(m)
    }

    /// The component layer (checked by [`Manifest::parse_plugin`]).
    pub fn component(&self) -> &Descriptor {
        &self.layers[0]
    }
}

/// Builds the manifest of a component whose config blob is `config` and
/// layer `layer`, with `annotations`.
pub fn build(config: Descriptor, layer: Descriptor, annotations: BTreeMap<String, String>) -> Vec<u8> {
    let m = Manifest {
        schema_version: 2,
        // Set explicitly: registries and clients tell manifest kinds apart by it.
        media_type: Some(MANIFEST_TYPE.into()),
        config,
        layers: vec![layer],
        annotations,
    };
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The config blob of the CNCF layout.
pub fn config(created: &str, author: &str, layer_digest: &str, exports: &[String], imports: &[String]) -> Vec<u8> {
    let config = serde_json::json!({
        "created": created,
        "author": author,
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
        "component": { "exports": exports, "imports": imports, "target": null },
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Now, as RFC 3339 UTC (`2026-11-29T16:12:19Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(media: &str) -> Descriptor {
        Descriptor {
            media_type: media.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 3,
            annotations: None,
        }
    }

    #[test]
    fn built_manifests_pass_the_check() {
        let bytes = build(desc(CONFIG_TYPE), desc(LAYER_TYPE), BTreeMap::new());
        let m = Manifest::parse_plugin(&bytes).expect("valid");
        assert_eq!(m.media_type.as_deref(), Some(MANIFEST_TYPE));
        assert_eq!(m.component().media_type, LAYER_TYPE);
    }

    #[test]
    fn refuses_other_layouts_naming_what_is_wrong() {
        let two = Manifest {
            schema_version: 2,
            media_type: None,
            config: desc(CONFIG_TYPE),
            layers: vec![desc(LAYER_TYPE), desc(LAYER_TYPE)],
            annotations: BTreeMap::new(),
        };
        let e = Manifest::parse_plugin(&serde_json::to_vec(&two).expect("json")).expect_err("two layers");
        assert_eq!(e.0, "the manifest has 2 layers; a plugin has exactly one `application/wasm` layer");
        let e = Manifest::parse_plugin(&build(desc(CONFIG_TYPE), desc("application/octet-stream"), BTreeMap::new()))
            .expect_err("media type");
        assert!(e.0.starts_with("the layer has media type `application/octet-stream`"), "{e}");
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(Manifest::parse_plugin(index).expect_err("index").0.contains("image index"));
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
