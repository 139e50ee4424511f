//! The key manifest: everything a cached step's result may depend on that
//! baton can see, as one canonical document. The key is the SHA-256 of its
//! JSON with every object's keys sorted (an unsorted map once made
//! Turborepo hit and miss at random), so equal manifests give equal keys on
//! any machine. Secrets are keyed by name only: a key is compared by less
//! trusted readers, and a value must never be guessable from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// See the module doc; every field is part of the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`super::VERSION`].
    pub v: u32,
    /// `board.step` (a stage is told its name, so it may depend on it).
    pub step: String,
    /// sha256 of the plugin component.
    pub plugin: String,
    /// The `baton:stage` version the plugin was built against.
    pub contract: String,
    /// The resolved `with` table.
    pub with: Value,
    /// The resolved policy: spawn list, env and secret names, limits,
    /// timeout (trust is not here: it picks the namespaces).
    pub policy: Value,
    /// Values of the variables in `env` (`null`: unset on the host).
    pub env: BTreeMap<String, Option<String>>,
    /// `inputs` as written, and the digest of each file they match.
    pub inputs: Inputs,
    /// Per dependency (sync points looked through): what it left.
    pub deps: BTreeMap<String, DepOutputs>,
    /// Per spawn-list entry: sha256 of the program it resolves to, or `missing`.
    pub programs: BTreeMap<String, String>,
    /// The declared `outputs`.
    pub outputs: Vec<String>,
    /// `[pipeline] cache_salt`.
    pub salt: String,
}

/// The files a step declared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub patterns: Vec<String>,
    /// Path relative to the project → `sha256:<hex>` (`link:<target>` for a symlink).
    pub files: BTreeMap<String, String>,
}

/// What one dependency left for the step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepOutputs {
    /// Artifact name → digest.
    pub artifacts: BTreeMap<String, String>,
    /// Declared output path → digest (`missing` if it did not exist).
    pub outputs: BTreeMap<String, String>,
}

impl Manifest {
    /// The key: hex SHA-256 of the canonical JSON.
    pub fn key(&self) -> String {
        let value = canonical(serde_json::to_value(self).unwrap_or(Value::Null));
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// The fields that differ from `old`, one line each, as `baton explain`
    /// prints them (at most `limit` lines, then a count of the rest).
    pub fn diff(&self, old: &Manifest, limit: usize) -> Vec<String> {
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        flatten("", &serde_json::to_value(old).unwrap_or(Value::Null), &mut a);
        flatten("", &serde_json::to_value(self).unwrap_or(Value::Null), &mut b);
        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            let line = match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) if x == y => continue,
                (Some(x), Some(y)) => format!("{k}: {} -> {}", shown(x), shown(y)),
                (Some(x), None) => format!("{k}: removed (was {})", shown(x)),
                (None, Some(y)) => format!("{k}: added ({})", shown(y)),
                (None, None) => continue,
            };
            out.push(line);
        }
        if out.len() > limit {
            let rest = out.len() - limit;
            out.truncate(limit);
            out.push(format!("… and {rest} more"));
        }
        out
    }
}

/// `value` with every object's keys sorted, recursively.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Leaves of `v` by dotted path (`inputs.files.src/a.py`).
fn flatten(path: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    let join = |k: &str| if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(|i| !i.is_object()) => {
            out.insert(path.to_string(), v.to_string());
        }
        Value::Array(items) if !items.is_empty() => {
            for (k, v) in items.iter().enumerate() {
                flatten(&join(&k.to_string()), v, out);
            }
        }
        other => {
            out.insert(path.to_string(), other.to_string());
        }
    }
}

/// A value as a line shows it: digests shortened, long values cut.
fn shown(v: &str) -> String {
    let v = v.trim_matches('"');
    let v = match v.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None => v.to_string(),
    };
    let cut: String = v.chars().take(120).collect();
    crate::text::escape_line(&cut).into_owned()
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            v: 1,
            step: "b.s".into(),
            plugin: "ab".into(),
            contract: "0.1.0".into(),
            with: serde_json::json!({"run": "make", "env": {"B": "2", "A": "1"}}),
            policy: serde_json::json!({"timeout": 60}),
            env: BTreeMap::from([("CC".into(), Some("gcc".into()))]),
            inputs: Inputs {
                patterns: vec!["src/**".into()],
                files: BTreeMap::from([("src/a.c".into(), "sha256:01".into())]),
            },
            deps: BTreeMap::new(),
            programs: BTreeMap::from([("sh".into(), "sha256:02".into())]),
            outputs: vec![],
            salt: String::new(),
        }
    }

    /// An entry of the sample manifest whose one artifact has `digest`.
    pub(crate) fn sample_entry(digest: &str) -> crate::cache::Entry {
        let manifest = sample();
        crate::cache::Entry {
            v: crate::cache::VERSION,
            key: manifest.key(),
            step: "b.s".into(),
            outcome: crate::status::StepStatus::Ok,
            artifacts: vec![crate::cache::CachedBlob {
                name: "out".into(),
                digest: digest.into(),
                size: 1,
                kind: crate::storage::artifacts::Kind::File,
            }],
            outputs: vec![],
            log: None,
            duration: 1.5,
            run: "r1".into(),
            created_unix: 0.0,
            manifest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample;

    #[test]
    fn key_ignores_map_order_and_sees_every_field() {
        let a = sample();
        let mut b = sample();
        b.with = serde_json::json!({"env": {"A": "1", "B": "2"}, "run": "make"});
        assert_eq!(a.key(), b.key());
        let mut c = sample();
        c.salt = "x".into();
        assert_ne!(a.key(), c.key());
        assert_eq!(c.diff(&a, 10), vec!["salt: \"\" -> \"x\"".replace('"', "")]);
    }

    #[test]
    fn diff_names_the_changed_file() {
        let a = sample();
        let mut b = sample();
        b.inputs.files.insert("src/a.c".into(), "sha256:03".into());
        b.inputs.files.insert("src/b.c".into(), "sha256:04".into());
        let d = b.diff(&a, 10);
        assert_eq!(d, vec!["inputs.files.src/a.c: sha256:01 -> sha256:03", "inputs.files.src/b.c: added (sha256:04)"]);
    }
}
