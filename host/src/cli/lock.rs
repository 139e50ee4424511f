//! `baton lock [FILE] [--update [NAME]]`, and the step that `run`, `check`
//! and `lock` take before anything runs: every registry plugin of the plan is
//! resolved through `baton.lock`, the plugin cache and (when needed) its
//! registry into a verified component in the cache. Problems here are
//! config errors (exit 2), each naming the plugin, its reference and its
//! registry.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use super::{Locate, Output, load_plan};
use crate::plan::{Plan, PluginSource, Trust};
use crate::registry::cache::BlobCache;
use crate::registry::client::RegistryError;
use crate::registry::lock::{self, Lock, Locked};
use crate::registry::{self, PullError, signature};

#[derive(Debug, Args)]
pub struct LockArgs {
    /// The pipeline file (default: the nearest baton.toml, here or up); the
    /// lock is written next to it (`baton.toml` -> `baton.lock`).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Resolve the tags again (of every registry plugin, or of NAME) instead
    /// of keeping the digests the lock pins.
    #[arg(long, value_name = "NAME", num_args = 0..=1)]
    pub update: Option<Option<String>>,
}

/// How registry plugins are resolved.
#[derive(Debug, Clone, Default)]
pub struct Resolve {
    /// No network: everything must be in the cache (and locked).
    pub offline: bool,
    /// Refuse a missing or out-of-date lock instead of updating it.
    pub locked: bool,
    /// Write the lock when it changed.
    pub write: bool,
    /// `--update` (every plugin) or `--update NAME`.
    pub update: Option<Option<String>>,
}

pub fn main(args: LockArgs, out: Output, at: &Locate) -> anyhow::Result<u8> {
    let file = at.pipeline(args.file.as_deref())?;
    let Some(mut plan) = load_plan(&file) else {
        return Ok(2);
    };
    let opts = Resolve { write: true, update: args.update, ..Resolve::default() };
    let Some(notes) = resolve_or_report(&mut plan, &opts) else {
        return Ok(2);
    };
    if !out.quiet {
        for n in &notes {
            eprintln!("{}", crate::text::escape_text(n));
        }
        let count = plan.plugins.iter().filter(|p| matches!(p.source, PluginSource::Oci { .. })).count();
        eprintln!("{}: {count} registry plugin{} locked", lock::path_for(&plan.file).display(), plural(count));
    }
    // The first run need not compile them: leave their code in the cache.
    let pulled = plan.plugins.iter().filter(|p| matches!(p.source, PluginSource::Oci { blob: Some(_), .. }));
    for e in crate::runtime::Runtime::compile_ahead(pulled) {
        eprintln!("warning: {}", crate::text::escape_text(&e));
    }
    Ok(0)
}

/// [`resolve`], printing its errors; `None` means exit code 2.
pub fn resolve_or_report(plan: &mut Plan, opts: &Resolve) -> Option<Vec<String>> {
    match resolve(plan, opts) {
        Ok(notes) => Some(notes),
        Err(errors) => {
            eprintln!("error: {}: {} error{}", plan.file.display(), errors.len(), plural(errors.len()));
            for e in &errors {
                eprintln!("  - {}", crate::text::escape_text(e));
            }
            None
        }
    }
}

/// Resolves every registry plugin of `plan` to a verified component in the
/// cache (setting its `blob` and pinning its sha256), through the lock.
/// Returns what changed, or every error.
pub fn resolve(plan: &mut Plan, opts: &Resolve) -> Result<Vec<String>, Vec<String>> {
    let names: Vec<String> =
        plan.plugins.iter().filter(|p| matches!(p.source, PluginSource::Oci { .. })).map(|p| p.name.clone()).collect();
    let lock_path = lock::path_for(&plan.file);
    let shown = lock_path.file_name().map_or_else(|| lock_path.display().to_string(), |n| n.to_string_lossy().into());
    let existing = Lock::load(&lock_path).map_err(|e| vec![e.to_string()])?;
    if names.is_empty() && existing.is_none() {
        return Ok(Vec::new());
    }
    let mut errors = Vec::new();
    if let Some(Some(name)) = &opts.update
        && !names.contains(name)
    {
        errors.push(format!(
            "--update: `{name}` is not a registry plugin of this pipeline (they are: {})",
            names.join(", ")
        ));
    }
    if opts.locked {
        match &existing {
            None if !names.is_empty() => {
                errors.push(format!("--locked: there is no {shown}: run `baton lock` and commit {shown}"));
            }
            Some(l) => {
                for stale in l.plugins.iter().filter(|p| !names.contains(&p.name)) {
                    errors.push(format!(
                        "--locked: {shown} locks plugin `{}`, which the pipeline no longer takes from a registry: run `baton lock`",
                        stale.name
                    ));
                }
            }
            None => {}
        }
    }
    let mut lock = existing.clone().unwrap_or_default();
    let cache = BlobCache::from_env(&plan.state_dir());
    let mut notes = Vec::new();
    let allowed = allowed_signers().map_err(|e| vec![e])?;
    // Registry plugins that untrusted steps use must be signed when the operator says so.
    let must_sign: Vec<bool> = (0..plan.plugins.len())
        .map(|p| {
            allowed.is_some()
                && (plan.plugins[p].trust == Some(Trust::Untrusted)
                    || plan.steps.iter().any(|s| s.plugin == Some(p) && s.policy.trust == Trust::Untrusted))
        })
        .collect();
    for (p, def) in plan.plugins.iter_mut().enumerate() {
        let PluginSource::Oci { reference, .. } = &def.source else {
            continue;
        };
        let reference = reference.clone();
        let name = def.name.clone();
        let what = format!("plugin `{name}` ({reference})");
        let updating = opts.update.as_ref().is_some_and(|u| u.as_ref().is_none_or(|n| *n == name));
        let entry = lock.get(&name).filter(|e| e.matches(&reference) && !updating).cloned();
        if opts.locked && entry.is_none() {
            errors.push(match lock.get(&name) {
                Some(old) => format!(
                    "--locked: {what}: {shown} locks it as {}; run `baton lock` to lock the new reference",
                    old.reference
                ),
                None => format!("--locked: {what} is not in {shown}: run `baton lock`"),
            });
            continue;
        }
        let pinned = entry.as_ref().map(|e| e.manifest.as_str());
        let pulled = match registry::pull(&reference, pinned, &cache, opts.offline) {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("{what}: {}", explain(&e, pinned.is_some() || reference.digest.is_some())));
                continue;
            }
        };
        if let Err(m) = check_component(&pulled.path) {
            let m = if m.starts_with("is ") { m } else { format!("is {m}") };
            errors.push(format!("{what}: registry {} serves a layer that {m}", reference.registry));
            continue;
        }
        if let (true, Some(allowed)) = (must_sign[p], &allowed)
            && let Err(e) = signature::check(&reference, &pulled.manifest, allowed, &cache, opts.offline)
        {
            errors.push(format!(
                "{what}: an untrusted step uses it and {} is set, but {e}",
                signature::ENV_ALLOWED_SIGNERS
            ));
            continue;
        }
        let locked = Locked {
            name: name.clone(),
            reference: reference.to_string(),
            manifest: pulled.manifest.clone(),
            component: pulled.component.clone(),
            size: pulled.size,
        };
        if lock.get(&name) != Some(&locked) {
            notes.push(format!("locked `{name}`: {reference} is {}", pulled.manifest));
            lock.set(locked);
        }
        def.sha256 = Some(pulled.component.trim_start_matches("sha256:").to_string());
        def.source = PluginSource::Oci { reference, blob: Some(pulled.path) };
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    lock.plugins.retain(|p| names.contains(&p.name));
    lock.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    let before = existing.map(|mut l| {
        l.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        l
    });
    if opts.write && before.as_ref() != Some(&lock) {
        lock.save(&lock_path).map_err(|e| vec![e.to_string()])?;
        notes.push(format!("wrote {}", lock_path.display()));
    }
    Ok(notes)
}

/// The operator's `allowed_signers` file, if signatures are required.
fn allowed_signers() -> Result<Option<PathBuf>, String> {
    let Some(path) = std::env::var_os(signature::ENV_ALLOWED_SIGNERS).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        return Err(format!(
            "{}={}: no such file (an ssh allowed_signers file: `principal ssh-ed25519 AAAA…` per line)",
            signature::ENV_ALLOWED_SIGNERS,
            path.display()
        ));
    }
    Ok(Some(path))
}

/// A pull error, with what to do about it.
fn explain(e: &PullError, locked: bool) -> String {
    match e {
        PullError::Registry(RegistryError::Unreachable { .. }) if locked => {
            format!(
                "{e}; the plugin is not cached, so it cannot run without the registry (pull it once while the registry is reachable)"
            )
        }
        PullError::Registry(RegistryError::Unreachable { .. }) => {
            format!(
                "{e}; the plugin is not locked, so no cached copy can stand in for its tag (run `baton lock` while the registry is reachable)"
            )
        }
        PullError::Offline { .. } => format!("{e}: run `baton lock` or `baton plugin pull` while online"),
        _ => e.to_string(),
    }
}

/// Refuses a cached file that is not a component (a core module, not wasm).
pub fn check_component(path: &std::path::Path) -> Result<(), String> {
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("cannot be read from the cache ({}): {e}", path.display()))?;
    crate::runtime::plugin::check_header(&head[..n])
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
