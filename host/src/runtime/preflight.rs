//! Pre-flight: what `baton check` verifies beyond the file, and what
//! `baton run` verifies before its first step starts. Every plugin the
//! steps use is loaded (read, digest, kind, contract version, link), each
//! step's capabilities are checked against its plugin's imports, and each
//! step's `with` against the schema its plugin's `describe()` declares. A
//! run with any error starts nothing: a missing or broken plugin is exit 2
//! with the culprit named, never a failure seconds into real work.

use std::sync::Arc;
use std::time::Instant;

use crate::plan::Plan;
use crate::report::PluginLoad;
use crate::runtime::Runtime;
use crate::runtime::config_schema;
use crate::runtime::plugin::{Compiling, LoadedPlugin};
use crate::sandbox::policy::check_capabilities;

/// What pre-flight found.
#[derive(Default)]
pub struct Preflight {
    /// Per plan plugin: loaded, if a checked step uses it.
    pub plugins: Vec<Option<Arc<LoadedPlugin>>>,
    /// How each plugin was loaded, in load order.
    pub loads: Vec<PluginLoad>,
    /// Every problem, each naming its culprit.
    pub errors: Vec<String>,
}

/// Checks the plugins of the steps in `selected` (every step if `None`);
/// `compiling` hears of each plugin that must be compiled, before it is.
pub async fn check(
    runtime: &Arc<Runtime>,
    plan: &Arc<Plan>,
    selected: Option<&[bool]>,
    compiling: &mut (dyn FnMut(&str, Compiling) + Send),
) -> Preflight {
    let mut out = Preflight { plugins: vec![None; plan.plugins.len()], ..Preflight::default() };
    let chosen = |i: usize| selected.is_none_or(|s| s[i]);
    for (p, def) in plan.plugins.iter().enumerate() {
        let users: Vec<usize> =
            (0..plan.steps.len()).filter(|&i| chosen(i) && plan.steps[i].plugin == Some(p)).collect();
        if users.is_empty() {
            continue;
        }
        let t0 = Instant::now();
        let (rt, d) = (runtime.clone(), def.clone());
        let (compiling_tx, compiling_rx) = tokio::sync::oneshot::channel();
        let mut task = tokio::task::spawn_blocking(move || {
            rt.load_noting(&d, move |c| {
                let _ = compiling_tx.send(c);
            })
        });
        let loaded = tokio::select! {
            r = &mut task => r,
            Ok(c) = compiling_rx => {
                compiling(&def.name, c);
                task.await
            }
        };
        let loaded = match loaded {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                let ids: Vec<&str> = users.iter().map(|&i| plan.steps[i].id.as_str()).collect();
                out.errors.push(format!("{e} (used by {})", ids.join(", ")));
                continue;
            }
            Err(e) => {
                out.errors.push(format!("plugin `{}`: loading failed: {e}", def.name));
                continue;
            }
        };
        out.loads.push(PluginLoad {
            name: def.name.clone(),
            digest: loaded.digest.clone(),
            contract: loaded.contract.clone(),
            size: loaded.size,
            cache: loaded.cache.name().into(),
            seconds: t0.elapsed().as_secs_f64(),
            compiler: loaded.tier.name().into(),
            fallback: loaded.fallback.clone(),
            code: loaded.log.clone(),
        });
        for &i in &users {
            let s = &plan.steps[i];
            if let Err(m) = check_capabilities(&s.policy, &s.id, &def.name, &loaded.capabilities) {
                out.errors.push(format!("{}: {m}", s.source));
            }
        }
        check_configs(runtime, plan, &loaded, &users, &mut out.errors).await;
        out.plugins[p] = Some(loaded);
    }
    out
}

/// Checks each step's `with` against the schema `plugin` declares (learnt
/// from `describe()` once per component, then from the compile cache). A
/// plugin that declares none, or whose `describe()` fails (its steps will
/// say so), accepts any table.
async fn check_configs(
    runtime: &Runtime,
    plan: &Plan,
    plugin: &LoadedPlugin,
    users: &[usize],
    errors: &mut Vec<String>,
) {
    let declared = match runtime.cache.schema(&plugin.digest) {
        Some(known) => known,
        None => {
            let t0 = Instant::now();
            let described = crate::runtime::inspect::describe(plugin).await;
            if std::env::var_os(crate::env_vars::TIMING).is_some() {
                eprintln!("baton timing: describe() of {}: {:.1}ms", plugin.name, t0.elapsed().as_secs_f64() * 1e3);
            }
            let Ok(meta) = described else {
                return;
            };
            runtime.cache.remember_schema(&plugin.digest, meta.config_schema.as_deref());
            meta.config_schema
        }
    };
    let Some(text) = declared else {
        return;
    };
    let schema: serde_json::Value = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            errors.push(format!(
                "plugin `{}` declares a config schema that is not JSON ({e}); fix the plugin",
                plugin.name
            ));
            return;
        }
    };
    for &i in users {
        let s = &plan.steps[i];
        let Ok(config) = serde_json::from_str::<serde_json::Value>(&s.config) else {
            continue;
        };
        for e in config_schema::check(&schema, &config) {
            errors
                .push(format!("{}.with{}: step {}: {} (plugin `{}`)", s.source, e.path, s.id, e.message, plugin.name));
        }
    }
}
