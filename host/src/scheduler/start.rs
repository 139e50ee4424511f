//! A run's set-up around the scheduler: the selection, the run it resumes,
//! secrets, pre-flight (every plugin loaded and every step checked, or
//! nothing starts), the run directory and workspaces, priorities, and the
//! local executor the attempts run on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::{Observer, Priority, RunError, RunOptions, Scheduler, Setup, UiEvent, io, priority, resume};
use crate::plan::Plan;
use crate::report::RunReport;
use crate::runtime::Runtime;
use crate::runtime::context::RunServices;
use crate::runtime::executor::LocalExecutor;
use crate::runtime::preflight;
use crate::sandbox::confine::Confinement;
use crate::storage::artifacts::ArtifactStore;
use crate::storage::durations;
use crate::storage::runs;

/// Runs `plan`; `cancel` turning true cancels the run.
pub async fn run(
    plan: Arc<Plan>,
    runtime: Arc<Runtime>,
    opts: RunOptions,
    mut observer: Observer,
    mut cancel: watch::Receiver<bool>,
) -> Result<RunReport, RunError> {
    let selected = opts.selection.apply(&plan).map_err(RunError::Usage)?;
    let state_dir = plan.state_dir();
    let previous = if opts.resume {
        Some(runs::find(&state_dir, None).ok_or_else(|| {
            RunError::Usage(format!("--resume: no earlier run of this pipeline under {}", state_dir.display()))
        })?)
    } else {
        None
    };
    if let Some(prev) = &previous
        && crate::storage::journal::in_use(&prev.journal())
    {
        return Err(RunError::Usage(format!(
            "--resume: run {} is still going (its workspaces are in use); wait for it to end or cancel it",
            prev.id
        )));
    }
    // Before anything is created: a missing secret is the user's to fix.
    let secrets = crate::sandbox::secrets::resolve(&plan, &selected).map_err(|errors| {
        RunError::Usage(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\nerror: "))
    })?;
    // As root, untrusted processes see the project as the sandbox user:
    // one it cannot read is refused now, not at the first process.
    let untrusted =
        plan.steps.iter().enumerate().any(|(i, s)| selected[i] && s.policy.trust == crate::plan::Trust::Untrusted);
    if untrusted && let Ok(Some(who)) = crate::sandbox::identity::Identity::for_sandbox() {
        crate::sandbox::identity::check_readable(&plan.src_dir, who).map_err(|m| RunError::Preflight(vec![m]))?;
    }
    let t0 = Instant::now();
    // Pre-flight: every plugin loaded and every step checked, or nothing starts.
    // A plugin that compiles says so: that takes seconds for big ones.
    let mut notice = |name: &str, c: crate::runtime::plugin::Compiling| {
        observer(&UiEvent::PluginCompiling { name, size: c.size, cached: c.cached });
    };
    let checked = preflight::check(&runtime, &plan, Some(&selected), &mut notice).await;
    if !checked.errors.is_empty() {
        return Err(RunError::Preflight(checked.errors));
    }
    // The server first: a run that cannot reach it leaves no run directory.
    let cluster = match &opts.nats {
        Some(url) => Some(crate::cluster::Cluster::connect(url).await.map_err(|e| RunError::Usage(e.to_string()))?),
        None => None,
    };
    let run = runs::create(&state_dir).map_err(io(format!("create a run directory under {}", state_dir.display())))?;

    // Workspaces of the boards that take part: empty for a new run, the
    // resumed run's for `--resume`.
    if let Some(prev) = &previous {
        run.adopt_workspaces(prev).map_err(io(format!(
            "take over the workspaces of run {} ({})",
            prev.id,
            prev.workspaces().display()
        )))?;
    }
    let workspaces: Vec<PathBuf> = plan.boards.iter().map(|b| run.workspace_of(b)).collect();
    for (b, ws) in workspaces.iter().enumerate() {
        if plan.steps.iter().enumerate().any(|(i, s)| selected[i] && s.board == b) {
            std::fs::create_dir_all(ws).map_err(io(format!("create workspace {}", ws.display())))?;
        }
    }
    let digests: Vec<Option<String>> = checked.plugins.iter().map(|p| p.as_ref().map(|l| l.digest.clone())).collect();
    let step_digests: Vec<Option<String>> =
        plan.steps.iter().map(|s| s.plugin.and_then(|p| digests[p].clone())).collect();
    let n = plan.steps.len();
    let prio = match opts.priority {
        Priority::CriticalPath => {
            priority::priorities(&plan, &priority::estimates(&plan, &durations::load(&state_dir)))
        }
        Priority::List => (0..n).map(|i| (n - i) as u64).collect(),
    };
    let epoch = Instant::now();
    let services = Arc::new(RunServices {
        run_id: run.id.clone(),
        store: ArtifactStore::new(state_dir.join("store")),
        confinement: Confinement::detect(),
        secrets: secrets.clone(),
    });
    let logs = run.clone();
    // Steps a killed coordinator's workers passed or still run (cluster runs).
    let mut elsewhere: (Vec<usize>, Vec<usize>) = Default::default();
    let mut cluster_run = None;
    let executor: Arc<dyn crate::executor::Executor> = match cluster {
        Some(cluster) => {
            let resumes = previous.as_ref().map(|p| p.id.as_str());
            let log_of = Box::new(move |id: &str| logs.log_of(id));
            let local = crate::cluster::remote::RunLocal {
                store: services.store.clone(),
                secrets: secrets.clone(),
                log_of,
                sized_by_cluster: opts.jobs.is_none(),
            };
            let remote = remote_executor(cluster, &plan, &run.id, local, resumes).await?;
            elsewhere = (remote.adopted().to_vec(), remote.taken_over());
            let remote = Arc::new(remote);
            cluster_run = Some(remote.clone());
            remote
        }
        None => Arc::new(LocalExecutor {
            engine: runtime.engine.clone(),
            max_stages: runtime.max_stages,
            plan: plan.clone(),
            plugins: checked.plugins.into_iter().map(|p| p.map(Ok)).collect(),
            services,
            src: crate::runtime::host::src_view::SourceDir::new(&plan.src_dir),
            log_of: Box::new(move |id| logs.log_of(id)),
            epoch,
            handles: Default::default(),
        }),
    };
    let carried = match &previous {
        Some(prev) => resume::previously_done(&plan, prev, &step_digests, (&elsewhere.0, &elsewhere.1))
            .map_err(io(format!("read the journal of run {}", prev.id)))?,
        None => resume::Carried::default(),
    };
    let cache = step_cache(&plan, &opts, &run);
    let setup = Setup {
        cache,
        run,
        // On a cluster, the workers' slots bound the attempts (see cluster::slots).
        jobs: match (opts.jobs, &opts.nats) {
            (Some(j), _) => j,
            (None, Some(_)) => plan.steps.len(),
            (None, None) => plan.jobs,
        }
        .max(1),
        prio,
        selected,
        carried,
        resumed_from: previous.map(|p| p.id),
        secrets,
        workspaces,
        digests,
        plugin_loads: checked.loads,
        epoch,
    };
    let mut sched = Scheduler::new(plan, executor, observer, setup)?;
    let t1 = Instant::now();
    sched.main_loop(&mut cancel).await;
    if let Some(remote) = cluster_run {
        remote.let_go().await;
    }
    let t2 = Instant::now();
    if std::env::var_os(crate::env_vars::TIMING).is_some() {
        eprintln!("baton timing: set-up (plugins, workspaces, journal): {:.1}ms", (t1 - t0).as_secs_f64() * 1e3);
        eprintln!("baton timing: steps: {:.1}ms", (t2 - t1).as_secs_f64() * 1e3);
    }
    // Processes were killed with their steps; let their supervisors read the
    // last output and close the pipes before the report samples the host.
    crate::runtime::host::process::supervisors_done(std::time::Duration::from_secs(3)).await;
    Ok(sched.finish_run())
}

/// The step cache of this run, if any step caches or declares outputs
/// (others pay nothing for it). Entries live in `.baton/cache/`, next to
/// the store whose blobs they name (docs/caching.md). A cluster run does
/// not use it yet: its workspaces and blobs live on the workers, and
/// entries there belong in a NATS KV bucket behind `EntryStore`.
fn step_cache(plan: &Plan, opts: &RunOptions, run: &runs::RunDir) -> Option<Arc<crate::cache::session::Session>> {
    if opts.nats.is_some() || !plan.steps.iter().any(|s| s.cache.is_some() || !s.outputs.is_empty()) {
        return None;
    }
    let state_dir = plan.state_dir();
    Some(Arc::new(crate::cache::session::Session {
        entries: Arc::new(crate::cache::entries::LocalEntries::new(state_dir.join("cache"))),
        store: ArtifactStore::new(state_dir.join("store")),
        project: plan.src_dir.clone(),
        kind: opts.run_kind.clone(),
        read: !opts.no_cache,
        explain_dir: run.path.join("cache"),
        run_id: run.id.clone(),
        facts: Default::default(),
    }))
}

/// The executor of `baton run --nats URL`: attempts go to the cluster's workers.
async fn remote_executor(
    cluster: crate::cluster::Cluster,
    plan: &Plan,
    run_id: &str,
    local: crate::cluster::remote::RunLocal,
    resumes: Option<&str>,
) -> Result<crate::cluster::remote::RemoteExecutor, RunError> {
    let usage = |e: crate::cluster::ClusterError| RunError::Usage(e.to_string());
    let text = std::fs::read_to_string(&plan.file)
        .map_err(|e| RunError::Usage(format!("cannot read {}: {e}", plan.file.display())))?;
    // Workers resolve the plan as this run did: under the operator's settings.
    let text = plan.operator.wire_text(&text);
    crate::cluster::remote::RemoteExecutor::new(cluster, run_id, plan, &text, local, resumes).await.map_err(usage)
}
