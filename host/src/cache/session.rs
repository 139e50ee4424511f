//! One run's use of the step cache: build a step's manifest, look its key
//! up in the namespaces it may read, check that every blob an entry names
//! is in the store, restore outputs and the log, and record what a passing
//! step left. Whatever goes wrong here makes a miss (the step runs), never a
//! failed run: a pipeline must be correct with an empty cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::entries::{Created, EntryStore};
use super::inputs::HostFacts;
use super::manifest::{DepOutputs, Inputs, Manifest};
use super::{CachedBlob, Entry, Namespaces, RunKind, VERSION};
use crate::plan::{Plan, StepDef};
use crate::storage::artifacts::{ArtifactRecord, ArtifactStore, Job};

/// The cache as one run uses it.
pub struct Session {
    pub entries: Arc<dyn EntryStore>,
    pub store: ArtifactStore,
    /// The project (`/src`).
    pub project: PathBuf,
    pub kind: RunKind,
    /// `false` with `--no-cache`: look nothing up, still record.
    pub read: bool,
    /// `runs/<id>/cache/`: why each cached step missed, for `baton explain`.
    pub explain_dir: PathBuf,
    pub run_id: String,
    pub facts: HostFacts,
}

/// What a step's look-up found.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub manifest: Manifest,
    pub key: String,
    pub namespaces: Namespaces,
    /// The namespace and entry of a hit whose blobs are all there.
    pub hit: Option<(String, Entry)>,
    /// Why an entry under the key was not used (a missing blob).
    pub unusable: Option<String>,
}

/// What recording a passing step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The same bytes were there already (another run made them first).
    Same,
    /// Another run made different bytes under the same key: not stored.
    NonDeterministic(String),
    /// Not cacheable this time, and why.
    Skipped(String),
}

/// `runs/<id>/cache/<step>.json`: a miss, explained.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Explanation {
    pub step: String,
    pub key: String,
    /// `miss` or `no-cache` (`--no-cache`).
    pub result: String,
    pub namespaces: Vec<String>,
    /// Why the entry under this key could not be used, if there was one.
    pub unusable: Option<String>,
    /// The last entry recorded for this step in a namespace it reads.
    pub previous: Option<Previous>,
    /// Fields of the manifest that differ from `previous`'s.
    pub changed: Vec<String>,
    pub manifest: Manifest,
}

/// The entry a miss is compared with.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    pub key: String,
    pub run: String,
    pub namespace: String,
}

impl Session {
    /// The manifest of step `i` (see [`Manifest`]).
    pub fn manifest(
        &self,
        plan: &Plan,
        def: &StepDef,
        plugin: &str,
        contract: &str,
        deps: BTreeMap<String, DepOutputs>,
    ) -> Manifest {
        let spec = def.cache.clone().unwrap_or_default();
        let with = serde_json::from_str(&def.config).unwrap_or(serde_json::Value::Null);
        let mut policy = serde_json::to_value(&def.policy).unwrap_or(serde_json::Value::Null);
        // Trust decides where an entry is read and written (the namespaces),
        // not what the step computes: an untrusted step defined like a
        // trusted one may read the trusted entry, never the reverse.
        if let Some(map) = policy.as_object_mut() {
            map.remove("trust");
        }
        let env = def.policy.env.iter().map(|n| (n.clone(), std::env::var(n).ok())).collect();
        let files =
            if spec.inputs.is_empty() { BTreeMap::new() } else { self.facts.files(&self.project, &spec.inputs) };
        let patterns =
            spec.inputs.iter().map(|p| if p.exclude { format!("!{}", p.text) } else { p.text.clone() }).collect();
        Manifest {
            v: VERSION,
            step: def.id.clone(),
            plugin: plugin.to_string(),
            contract: contract.to_string(),
            with: super::manifest::canonical(with),
            policy: super::manifest::canonical(policy),
            env,
            inputs: Inputs { patterns, files },
            deps,
            programs: def.policy.spawn.iter().map(|p| (p.clone(), self.facts.program(p))).collect(),
            outputs: def.outputs.clone(),
            salt: plan.cache_salt.clone(),
        }
    }

    /// Looks `manifest` up in the namespaces the step reads.
    pub fn lookup(&self, manifest: Manifest, namespaces: Namespaces) -> Lookup {
        let key = manifest.key();
        let mut unusable = None;
        let mut hit = None;
        if self.read {
            for ns in &namespaces.read {
                let Some(entry) = self.entries.get(ns, &key) else {
                    continue;
                };
                match self.check_blobs(&entry) {
                    Ok(()) => {
                        self.entries.touch(ns, &key);
                        hit = Some((ns.clone(), entry));
                        break;
                    }
                    Err(why) => unusable = Some(why),
                }
            }
        }
        Lookup { manifest, key, namespaces, hit, unusable }
    }

    /// Every artifact and output blob of `entry` is in the store with its
    /// digest. The log is not required: its bytes hold times, so a rerun
    /// after its blob was lost cannot bring that blob back, and a hit
    /// without it says so in the log instead.
    fn check_blobs(&self, entry: &Entry) -> Result<(), String> {
        if let Some(bad) = entry.artifacts.iter().find(|a| !crate::storage::artifacts::valid_name(&a.name)) {
            return Err(format!("it names an invalid artifact `{}`", crate::text::escape_line(&bad.name)));
        }
        for b in entry.artifacts.iter().chain(&entry.outputs) {
            self.store
                .copy_verified(&b.digest, &mut std::io::sink())
                .map_err(|e| format!("{} ({}) cannot be used: {e}", b.name, short_digest(&b.digest)))?;
        }
        Ok(())
    }

    /// Puts a hit's outputs back into `workspace` and its log at `log`.
    pub fn restore(&self, entry: &Entry, workspace: &Path, log: &Path) -> Result<(), String> {
        for o in &entry.outputs {
            let record = ArtifactRecord {
                reference: String::new(),
                step: entry.step.clone(),
                name: o.name.clone(),
                digest: o.digest.clone(),
                size: o.size,
                kind: o.kind,
            };
            self.store
                .get(&record, workspace, &o.name, &Job::unbounded())
                .map_err(|e| format!("cannot restore output `{}`: {e}", o.name))?;
        }
        if let Some(l) = &entry.log {
            if let Some(parent) = log.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("cannot replay the log: {e}"))?;
            }
            let mut out = std::fs::File::create(log).map_err(|e| format!("cannot replay the log: {e}"))?;
            if let Err(e) = self.store.copy_verified(&l.digest, &mut out) {
                use std::io::Write;
                let _ = out.set_len(0);
                let _ = writeln!(out, "baton: the log of run {} (the cached step's run) is gone: {e}", entry.run);
            }
        }
        Ok(())
    }

    /// Stores each of `outputs` (paths in `workspace`) as a blob.
    pub fn put_outputs(&self, workspace: &Path, outputs: &[String], limit: u64) -> Result<Vec<CachedBlob>, String> {
        let mut out = Vec::new();
        for path in outputs {
            let (digest, size, kind) = self
                .store
                .put(workspace, path, &Job::new(limit))
                .map_err(|e| format!("declared output `{path}` cannot be stored: {e}"))?;
            out.push(CachedBlob { name: path.clone(), digest, size, kind });
        }
        Ok(out)
    }

    /// Records what a passing step left under its key, write-once.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        lookup: &Lookup,
        step: &str,
        artifacts: Vec<CachedBlob>,
        outputs: Vec<CachedBlob>,
        log: &Path,
        duration: f64,
    ) -> Recorded {
        let log = match log.parent() {
            Some(dir) if log.exists() => {
                let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                match self.store.put(dir, &name, &Job::unbounded()) {
                    Ok((digest, size, kind)) => Some(CachedBlob { name: "log".into(), digest, size, kind }),
                    Err(e) => return Recorded::Skipped(format!("its log cannot be stored: {e}")),
                }
            }
            _ => None,
        };
        let entry = Entry {
            v: VERSION,
            key: lookup.key.clone(),
            step: step.to_string(),
            outcome: crate::status::StepStatus::Ok,
            artifacts,
            outputs,
            log,
            duration,
            run: self.run_id.clone(),
            created_unix: now_unix(),
            manifest: lookup.manifest.clone(),
        };
        let ns = &lookup.namespaces.write;
        match self.entries.create(ns, &entry) {
            Ok(Created::New) => {
                self.entries.set_last_key(ns, step, &entry.key);
                Recorded::New
            }
            Ok(Created::Exists(old)) if old.same_bytes(&entry) => Recorded::Same,
            Ok(Created::Exists(old)) => Recorded::NonDeterministic(format!(
                "step {step} is not deterministic: run {} made different outputs under the same cache key {} (kept \
                 the first; look for timestamps or randomness in what it publishes)",
                old.run,
                super::short(&entry.key)
            )),
            Err(e) => Recorded::Skipped(e),
        }
    }

    /// Writes why step `step` missed, for `baton explain`.
    pub fn explain_miss(&self, step: &str, lookup: &Lookup) {
        let mut previous = None;
        let mut changed = Vec::new();
        for ns in lookup.namespaces.read.iter().rev() {
            let Some(key) = self.entries.last_key(ns, step) else {
                continue;
            };
            if let Some(entry) = self.entries.get(ns, &key) {
                changed = lookup.manifest.diff(&entry.manifest, 200);
                previous = Some(Previous { key, run: entry.run, namespace: ns.clone() });
                break;
            }
        }
        let explanation = Explanation {
            step: step.to_string(),
            key: lookup.key.clone(),
            result: if self.read { "miss" } else { "no-cache" }.into(),
            namespaces: lookup.namespaces.read.clone(),
            unusable: lookup.unusable.clone(),
            previous,
            changed,
            manifest: lookup.manifest.clone(),
        };
        if std::fs::create_dir_all(&self.explain_dir).is_ok()
            && let Ok(bytes) = serde_json::to_vec_pretty(&explanation)
        {
            let path = explain_file(&self.explain_dir, step);
            let _ = crate::storage::atomic::write(&path, &bytes, crate::storage::atomic::Sync::Derived);
        }
    }
}

/// The explanation file of `step` in a run's `cache/` directory.
pub fn explain_file(dir: &Path, step: &str) -> PathBuf {
    if step.len() <= 200 {
        return dir.join(format!("{step}.json"));
    }
    use sha2::{Digest, Sha256};
    dir.join(format!("{}.json", hex::encode(&Sha256::digest(step.as_bytes())[..16])))
}

/// An artifact record as an entry keeps it.
pub fn blob_of(r: &ArtifactRecord) -> CachedBlob {
    CachedBlob { name: r.name.clone(), digest: r.digest.clone(), size: r.size, kind: r.kind }
}

/// An entry's artifact as step `step` re-publishes it.
pub fn record_of(step: &str, b: &CachedBlob) -> ArtifactRecord {
    ArtifactRecord {
        reference: format!("{step}/{}", b.name),
        step: step.to_string(),
        name: b.name.clone(),
        digest: b.digest.clone(),
        size: b.size,
        kind: b.kind,
    }
}

fn short_digest(d: &str) -> &str {
    &d[..d.len().min(19)]
}

fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
