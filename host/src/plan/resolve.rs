//! From the parsed file to the expanded, validated step graph.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::cycles::find_cycle;
use super::error::{Errors, PlanError};
use super::schema::*;
use super::{Plan, PluginDef, PluginSource, PoolDef, StepDef, valid_name};
use crate::plan::bundled;
use crate::plan::operator::Operator;
use crate::plan::policy::StepPolicy;
use crate::registry::reference::OciRef;
use crate::text::suggest::hint;
use crate::units::{parse_duration, parse_size};
use plugins::resolve_plugins;
use values::{parse_value, section};

/// A step entry with where it came from.
struct Entry {
    entry: StepEntry,
    /// Key path of the entry, e.g. `boards.linux.steps[2]`.
    path: String,
}

pub(super) fn resolve(text: &str, file: &Path, op: &Operator) -> Result<Plan, Vec<PlanError>> {
    let table: toml::Table = toml::from_str(text).map_err(|e| vec![PlanError::new("", syntax_error(&e))])?;
    let mut errs = Errors::default();

    for key in table.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            errs.push(key.clone(), format!("unknown section{}", hint(key, TOP_LEVEL_KEYS)));
        }
    }

    let pipeline: PipelineSection = section(&table, "pipeline", &mut errs).unwrap_or_default();
    let policy: PolicySection = section(&table, "policy", &mut errs).unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();

    let plugins = resolve_plugins(&table, &dir, &mut errs);
    let pools = resolve_pools(&table, &mut errs);
    let templates = parse_templates(&table, &mut errs);

    // Shown on terminals and in reports: no control characters.
    if let Some(name) = &pipeline.name
        && crate::text::escape_line(name) != name.as_str()
    {
        errs.push(
            "pipeline.name",
            format!("`{}` holds control characters (remove them)", crate::text::escape_line(name)),
        );
    }

    let wasm_stack = match &policy.stack {
        None => crate::plan::policy::DEFAULT_WASM_STACK as u64,
        Some(text) => match parse_size(text) {
            Ok(n) if (64 << 10..=64 << 20).contains(&n) => n,
            Ok(_) => {
                errs.push("policy.stack", "must be between 64KiB and 64MiB");
                crate::plan::policy::DEFAULT_WASM_STACK as u64
            }
            Err(m) => {
                errs.push("policy.stack", m);
                crate::plan::policy::DEFAULT_WASM_STACK as u64
            }
        },
    };
    let jobs = match pipeline.jobs {
        Some(0) => {
            errs.push("pipeline.jobs", "must be at least 1");
            1
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };

    // Pipeline-wide policies, checked once.
    let mut policy_errors = Vec::new();
    let mut trusted_base = StepPolicy::builtin(Trust::Trusted);
    trusted_base.apply(&policy.defaults(), &mut policy_errors);
    policy_errors.extend(trusted_base.conflicts());
    for (key, message) in policy_errors.drain(..) {
        errs.push(format!("policy.{key}"), message);
    }
    trusted_base.stack = wasm_stack;
    let mut untrusted_caps = StepPolicy::builtin(Trust::Untrusted);
    untrusted_caps.stack = wasm_stack;
    if let Some(u) = &policy.untrusted {
        untrusted_caps.apply(u, &mut policy_errors);
        policy_errors.extend(untrusted_caps.conflicts());
        for (key, message) in policy_errors.drain(..) {
            errs.push(format!("policy.untrusted.{key}"), message);
        }
    }
    // The operator's ceiling: the pipeline's [policy.untrusted] narrows it,
    // never widens it; what it asks beyond it is dropped and said.
    let ceiling = op.ceiling();
    let mut notes = Vec::new();
    let holds = op.ceiling_source();
    if let Some(ceiling) = &ceiling {
        let mut caps = ceiling.clone();
        caps.stack = wasm_stack;
        if let Some(u) = &policy.untrusted {
            caps.apply(u, &mut Vec::new());
        }
        for (key, message) in caps.clamp(ceiling) {
            notes.push(format!("policy.untrusted.{key}: {message}; {holds} holds"));
        }
        untrusted_caps = caps;
    }
    if op.kind.forces_untrusted() {
        untrusted_caps.secrets.clear();
    }
    let file_untrusted_secrets = policy.untrusted.as_ref().and_then(|u| u.secrets.clone()).unwrap_or_default();

    // Expand boards (templates first, then the board's own steps).
    let mut boards: Vec<String> = Vec::new();
    let mut runs_on = Vec::new();
    let mut entries: Vec<(usize, Entry)> = Vec::new();
    if let Some(value) = table.get("boards") {
        match value.as_table() {
            None => errs.push("boards", "must be a table of boards"),
            Some(board_tables) => {
                for (bname, bvalue) in board_tables {
                    let bpath = format!("boards.{bname}");
                    if !valid_name(bname) {
                        errs.push(&bpath, format!("invalid board name `{bname}` (use letters, digits, `_` and `-`)"));
                    }
                    let Some(board) = parse_value::<BoardSection>(bvalue, &bpath, &mut errs) else {
                        continue;
                    };
                    let b = boards.len();
                    boards.push(bname.clone());
                    for key in board.runs_on.keys() {
                        if !valid_name(key) {
                            errs.push(
                                format!("{bpath}.runs_on"),
                                format!("invalid label `{key}` (use letters, digits, `_` and `-`)"),
                            );
                        }
                    }
                    runs_on.push(board.runs_on.clone());
                    if let Some(tname) = &board.template {
                        match templates.iter().find(|(n, _)| n == tname) {
                            Some((_, tsteps)) => {
                                for (path, entry) in tsteps.iter().flatten() {
                                    let path = format!("{path} (board {bname})");
                                    entries.push((b, Entry { entry: entry.clone(), path }));
                                }
                            }
                            None => errs.push(
                                format!("{bpath}.template"),
                                format!(
                                    "unknown template `{tname}`{}",
                                    hint(tname, templates.iter().map(|(n, _)| n.as_str()))
                                ),
                            ),
                        }
                    }
                    for (i, v) in board.steps.iter().enumerate() {
                        let path = format!("{bpath}.steps[{i}]");
                        if let Some(entry) = parse_value::<StepEntry>(v, &path, &mut errs) {
                            entries.push((b, Entry { entry, path }));
                        }
                    }
                    if board.template.is_none() && board.steps.is_empty() {
                        errs.push(&bpath, format!("board `{bname}` has no steps (add steps or a template)"));
                    }
                }
            }
        }
    }
    if boards.is_empty() && !table.contains_key("boards") {
        errs.push("boards", "the pipeline has no boards (add `[[boards.<name>.steps]]`)");
    }

    // Ids and duplicates.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut ids = Vec::with_capacity(entries.len());
    for (i, (b, e)) in entries.iter().enumerate() {
        let id = format!("{}.{}", boards[*b], e.entry.name);
        if !valid_name(&e.entry.name) {
            errs.push(
                format!("{}.name", e.path),
                format!("invalid step name `{}` (use letters, digits, `_` and `-`)", e.entry.name),
            );
        }
        if let Some(&first) = index.get(&id) {
            errs.push(
                format!("{}.name", e.path),
                format!("duplicate step {id} (first defined at {})", entries[first].1.path),
            );
        } else {
            index.insert(id.clone(), i);
        }
        ids.push(id);
    }

    // Resolve each step.
    let mut steps = Vec::with_capacity(entries.len());
    for (i, (b, e)) in entries.iter().enumerate() {
        let id = &ids[i];
        let bname = &boards[*b];
        let entry = &e.entry;
        let at = |key: &str| format!("{}.{key}", e.path);

        // Dependencies: `after`, or the previous step of the same board.
        let mut deps = Vec::new();
        match &entry.after {
            Some(after) => {
                for (k, dep) in after.iter().enumerate() {
                    let full = if dep.contains('.') { dep.clone() } else { format!("{bname}.{dep}") };
                    match index.get(&full) {
                        Some(&d) if !deps.contains(&d) => deps.push(d),
                        Some(_) => errs.push(at(&format!("after[{k}]")), format!("step {id}: {full} is listed twice")),
                        None => errs.push(
                            at(&format!("after[{k}]")),
                            format!(
                                "step {id}: unknown dependency {full}{}",
                                hint(&full, ids.iter().map(String::as_str))
                            ),
                        ),
                    }
                }
            }
            None => {
                if let Some(prev) = (0..i).rev().find(|&j| entries[j].0 == *b) {
                    deps.push(prev);
                }
            }
        }

        // Plugin.
        let plugin = match (&entry.plugin, &entry.with) {
            (Some(name), _) => match plugins.iter().position(|p| &p.name == name) {
                Some(p) => Some(p),
                None => {
                    let known: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
                    errs.push(at("plugin"), format!("step {id}: unknown plugin `{name}`{}", hint(name, known)));
                    None
                }
            },
            (None, Some(_)) => {
                errs.push(at("with"), format!("step {id}: has `with` but no `plugin`"));
                None
            }
            (None, None) => None,
        };

        let pool = entry.pool.as_ref().and_then(|name| match pools.iter().position(|p| &p.name == name) {
            Some(p) => Some(p),
            None => {
                errs.push(
                    at("pool"),
                    format!("step {id}: unknown pool `{name}`{}", hint(name, pools.iter().map(|p| p.name.as_str()))),
                );
                None
            }
        });

        let mut emits = Vec::new();
        for (k, name) in entry.emits.iter().flatten().enumerate() {
            if !valid_name(name) {
                errs.push(
                    at(&format!("emits[{k}]")),
                    format!("step {id}: invalid signal name `{name}` (use letters, digits, `_` and `-`)"),
                );
            } else if emits.contains(name) {
                errs.push(at(&format!("emits[{k}]")), format!("step {id}: signal `{name}` is listed twice"));
            } else {
                emits.push(name.clone());
            }
        }

        if entry.stack.is_some() {
            errs.push(
                at("stack"),
                format!("step {id}: the wasm stack is set for the whole pipeline, in [policy] stack (one engine runs every step)"),
            );
        }
        let backoff = match &entry.backoff {
            None => Duration::from_secs(1),
            Some(text) => parse_duration(text).unwrap_or_else(|m| {
                errs.push(at("backoff"), format!("step {id}: {m}"));
                Duration::from_secs(1)
            }),
        };

        // Policy: untrusted if the plugin or the step says so.
        let plugin_trust = plugin.and_then(|p| plugins[p].trust);
        let step_trust = entry.trust.or(policy.trust);
        if plugin_trust == Some(Trust::Untrusted) && entry.trust == Some(Trust::Trusted) {
            errs.push(
                at("trust"),
                format!(
                    "step {id}: plugin `{}` is untrusted in [plugins]; a step cannot make it trusted",
                    entry.plugin.as_deref().unwrap_or_default()
                ),
            );
        }
        let declared_untrusted = plugin_trust == Some(Trust::Untrusted) || step_trust == Some(Trust::Untrusted);
        let untrusted = declared_untrusted || op.kind.forces_untrusted();
        // A forced run gives no secret: a step that would get one is skipped.
        let wants_secrets = match &entry.secrets {
            Some(listed) => !listed.is_empty(),
            None if declared_untrusted => !file_untrusted_secrets.is_empty(),
            None => !trusted_base.secrets.is_empty(),
        };
        let withheld = if wants_secrets { op.kind.withheld_reason().map(str::to_string) } else { None };
        let mut step_errors = Vec::new();
        let policy = if untrusted {
            let mut p = untrusted_caps.clone();
            p.apply(&entry.policy(), &mut step_errors);
            if ceiling.is_some() || op.kind.forces_untrusted() {
                for (key, message) in p.clamp(&untrusted_caps) {
                    if !(key == "secrets" && withheld.is_some()) {
                        notes.push(format!("step {id}: {message}; narrowed ({holds} holds)"));
                    }
                }
            } else {
                for (key, message) in p.exceeds(&untrusted_caps) {
                    errs.push(at(key), format!("step {id}: {message}"));
                }
            }
            p
        } else {
            let mut p = trusted_base.clone();
            p.apply(&entry.policy(), &mut step_errors);
            p
        };
        if entry.env.is_some() || entry.secrets.is_some() {
            step_errors.extend(policy.conflicts());
        }
        for (key, message) in step_errors {
            errs.push(at(key), format!("step {id}: {message}"));
        }

        let (cache, outputs) = cache_keys(id, entry, plugin.is_some(), &mut |k, m| errs.push(at(&k), m));
        let config = serde_json::to_string(&entry.with.clone().unwrap_or_default()).unwrap_or_else(|_| "{}".into());
        let fingerprint = fingerprint(bname, entry, &deps, &ids, &policy);
        steps.push(StepDef {
            id: id.clone(),
            board: *b,
            name: entry.name.clone(),
            plugin,
            config,
            deps,
            pool,
            on_failure: entry.on_failure.unwrap_or_default(),
            always: entry.always,
            retries: entry.retries,
            backoff,
            emits,
            policy,
            fingerprint,
            source: e.path.clone(),
            cache,
            outputs,
            withheld,
        });
    }

    for (b, board) in boards.iter().enumerate() {
        if let Some(message) = mixed_trust(board, steps.iter().filter(|s| s.board == b)) {
            let first = steps.iter().find(|s| s.board == b).map(|s| s.source.clone()).unwrap_or_default();
            errs.push(first, message);
        }
    }

    if errs.is_empty() {
        let deps: Vec<Vec<usize>> = steps.iter().map(|s| s.deps.clone()).collect();
        if let Some(cycle) = find_cycle(&deps) {
            let shown: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
            errs.push(&steps[cycle[0]].source, format!("dependency cycle: {}", shown.join(" -> ")));
        }
    }

    if !errs.is_empty() {
        return Err(errs.0);
    }
    Ok(Plan {
        name: pipeline.name.unwrap_or_else(|| default_name(file)),
        file: file.to_path_buf(),
        src_dir: dir.clone(),
        state: dir.join(".baton"),
        dir,
        kind: op.kind,
        notes,
        try_info: None,
        operator: op.clone(),
        jobs,
        wasm_stack,
        plugins,
        pools,
        boards,
        runs_on,
        steps,
        cache_salt: pipeline.cache_salt.unwrap_or_default(),
    })
}

/// `cache`, `inputs` and `outputs` of one step, checked.
fn cache_keys(
    id: &str,
    entry: &StepEntry,
    has_plugin: bool,
    err: &mut dyn FnMut(String, String),
) -> (Option<super::CacheSpec>, Vec<String>) {
    let mut outputs: Vec<String> = Vec::new();
    for (k, o) in entry.outputs.iter().flatten().enumerate() {
        match crate::storage::rel_path::relative(o) {
            Ok(p) if p.as_os_str().is_empty() => err(
                format!("outputs[{k}]"),
                format!("step {id}: output `{o}` is the whole workspace (name a directory or file in it)"),
            ),
            Ok(p) => {
                let p = p.to_string_lossy().into_owned();
                if outputs.contains(&p) {
                    err(format!("outputs[{k}]"), format!("step {id}: output `{o}` is listed twice"));
                } else {
                    outputs.push(p);
                }
            }
            Err(m) => err(format!("outputs[{k}]"), format!("step {id}: output {m}")),
        }
    }
    let cached = entry.cache == Some(true);
    if entry.inputs.is_some() && !cached {
        err("inputs".into(), format!("step {id}: `inputs` only key a cached step: add `cache = true` or remove them"));
    }
    if cached && !has_plugin {
        err("cache".into(), format!("step {id}: a sync point runs nothing and cannot be cached (remove `cache`)"));
    }
    let mut inputs = Vec::new();
    for (k, text) in entry.inputs.iter().flatten().enumerate() {
        match super::inputs::Pattern::parse(text) {
            Ok(p) => inputs.push(p),
            Err(m) => err(format!("inputs[{k}]"), format!("step {id}: {m}")),
        }
    }
    if !inputs.is_empty() && inputs.iter().all(|p| p.exclude) {
        err("inputs".into(), format!("step {id}: `inputs` only excludes files: add what to include, e.g. `src/**`"));
    }
    ((cached && has_plugin).then_some(super::CacheSpec { inputs }), outputs)
}

/// A board's steps share one workspace, so a trusted step could run what an
/// untrusted one planted there: a board is trusted or untrusted as a whole
/// (sync points, which run nothing, go with either).
fn mixed_trust<'a>(board: &str, steps: impl Iterator<Item = &'a StepDef>) -> Option<String> {
    let (mut trusted, mut untrusted) = (Vec::new(), Vec::new());
    for s in steps.filter(|s| s.plugin.is_some()) {
        match s.policy.trust {
            Trust::Trusted => trusted.push(s.id.as_str()),
            Trust::Untrusted => untrusted.push(s.id.as_str()),
        }
    }
    if trusted.is_empty() || untrusted.is_empty() {
        return None;
    }
    Some(format!(
        "board {board} mixes trusted steps ({}) and untrusted steps ({}); they would share one workspace, where a \
         trusted step could run what an untrusted one planted: move the untrusted steps to a board of their own \
         and pass files through artifacts",
        trusted.join(", "),
        untrusted.join(", ")
    ))
}

fn syntax_error(e: &toml::de::Error) -> String {
    format!("not valid TOML: {}", e.to_string().trim_end())
}

fn default_name(file: &Path) -> String {
    file.parent()
        .and_then(|d| d.file_name())
        .map(|n| crate::text::escape_line(&n.to_string_lossy()).into_owned())
        .unwrap_or_else(|| "pipeline".into())
}

fn resolve_pools(table: &toml::Table, errs: &mut Errors) -> Vec<PoolDef> {
    let mut out = Vec::new();
    let Some(value) = table.get("pools") else {
        return out;
    };
    let Some(t) = value.as_table() else {
        errs.push("pools", "must be a table of `name = capacity`");
        return out;
    };
    for (name, v) in t {
        let path = format!("pools.{name}");
        if !valid_name(name) {
            errs.push(&path, format!("invalid pool name `{name}`"));
        }
        match v.as_integer() {
            Some(n) if n >= 1 => out.push(PoolDef { name: name.clone(), capacity: n as usize }),
            _ => errs.push(&path, "capacity must be a whole number of at least 1"),
        }
    }
    out
}

type TemplateSteps = Vec<Option<(String, StepEntry)>>;

fn parse_templates(table: &toml::Table, errs: &mut Errors) -> Vec<(String, TemplateSteps)> {
    let mut out = Vec::new();
    let Some(value) = table.get("templates") else {
        return out;
    };
    let Some(t) = value.as_table() else {
        errs.push("templates", "must be a table of templates");
        return out;
    };
    for (name, v) in t {
        let path = format!("templates.{name}");
        let Some(tpl) = parse_value::<TemplateSection>(v, &path, errs) else {
            continue;
        };
        let steps = tpl
            .steps
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let spath = format!("{path}.steps[{i}]");
                parse_value::<StepEntry>(v, &spath, errs).map(|e| (spath, e))
            })
            .collect();
        out.push((name.clone(), steps));
    }
    out
}

fn fingerprint(board: &str, entry: &StepEntry, deps: &[usize], ids: &[String], policy: &StepPolicy) -> String {
    #[derive(serde::Serialize)]
    struct Key<'a> {
        board: &'a str,
        entry: &'a StepEntry,
        deps: Vec<&'a str>,
        policy: &'a StepPolicy,
    }
    let key = Key { board, entry, deps: deps.iter().map(|&d| ids[d].as_str()).collect(), policy };
    let json = serde_json::to_vec(&key).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

mod plugins;
#[cfg(test)]
mod tests;
mod values;
