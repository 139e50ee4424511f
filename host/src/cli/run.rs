//! `baton run [FILE]`: runs a pipeline; progress on stderr, the summary at
//! the end with the paths of the reports, `--json` (or `--report json`)
//! puts the report on stdout.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::sync::watch;

use super::report_files::{self, Format};
use super::{Locate, Output, load_plan_with, lock, progress};
use crate::plan::Plan;
use crate::plan::operator::{Operator, RunKind};
use crate::report::ci_format::CiFormat;
use crate::report::text;
use crate::runtime::Runtime;
use crate::scheduler::{self, Priority, RunOptions, Selection};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (default: the nearest baton.toml, here or up).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Max steps running at once (overrides `[pipeline] jobs`).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Print the run report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Reports to produce (repeatable): `html` (report.html in the run
    /// directory; always written), `junit` (junit.xml), `json` (on stdout, as --json).
    #[arg(long, value_enum, value_name = "FORMAT", value_delimiter = ',')]
    pub report: Vec<Format>,
    /// Also write the requested reports into DIR, as report.html, junit.xml and report.json.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Continue the last run: steps that succeeded there are not run again.
    #[arg(long)]
    pub resume: bool,
    /// Run only these steps (`board.step`) or boards, and what they need.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave these steps or boards out (they count as done).
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Run these steps and everything after them; leave the rest out.
    #[arg(long, value_delimiter = ',')]
    pub from: Vec<String>,
    /// Which ready step goes first when job slots are short.
    #[arg(long, value_enum, default_value_t = Priority::CriticalPath)]
    pub priority: Priority,
    /// Refuse to run when baton.lock is missing or out of date with the file (CI).
    #[arg(long)]
    pub locked: bool,
    /// Make no network call: registry plugins must be locked and cached.
    #[arg(long)]
    pub offline: bool,
    /// Run the steps on the workers of the cluster at this NATS server
    /// (`nats://host:port`; default: $BATON_NATS; see `baton worker`).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_security: super::worker::NatsSecurity,
    /// Run every step, even those the step cache holds (their entries are
    /// still written; see docs/caching.md).
    #[arg(long)]
    pub no_cache: bool,
    /// Make every step untrusted whatever the file says (untrusted limits,
    /// `[policy.untrusted]`, the sandbox user, no network); steps that list
    /// secrets are skipped. For CI jobs on changes from strangers.
    #[arg(long)]
    pub untrusted: bool,
    /// An operator policy file outside the project (default: $BATON_POLICY):
    /// its `[policy.untrusted]` is the ceiling the pipeline can narrow, never
    /// widen; `trust = "untrusted"` in its `[policy]` acts as --untrusted.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Serve this run as a live web page while it runs (default address
    /// 127.0.0.1:8090; another than loopback needs $BATON_SERVE_TOKEN); the URL is printed at the start.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true, default_missing_value = super::serve::DEFAULT_ADDR)]
    pub serve: Option<std::net::SocketAddr>,
    /// Report to the CI system: `github` (annotations, log groups, job summary), `gitlab`
    /// (collapsible sections) or `none` (default: from GITHUB_ACTIONS / GITLAB_CI, or $BATON_CI_FORMAT).
    #[arg(long, value_name = "FORMAT")]
    pub ci_format: Option<String>,
}

/// The operator's settings from `--untrusted`, `--policy` and `$BATON_POLICY`;
/// an error names the policy file.
pub(super) fn operator(untrusted: bool, policy: Option<PathBuf>) -> Result<Operator, String> {
    let mut op = Operator::default();
    if untrusted {
        op.kind = RunKind::Untrusted;
    }
    let policy =
        policy.or_else(|| std::env::var_os(crate::env_vars::POLICY).filter(|v| !v.is_empty()).map(PathBuf::from));
    if let Some(path) = policy {
        op.read_policy(&path)?;
    }
    Ok(op)
}

pub fn main(args: RunArgs, out: Output, at: &Locate) -> anyhow::Result<u8> {
    args.nats_security.apply();
    let timing = super::timing::Timing::new();
    let file = at.pipeline(args.file.as_deref())?;
    let op = match operator(args.untrusted, args.policy.clone()) {
        Ok(op) => op,
        Err(e) => {
            eprintln!("error: {}", crate::text::escape_text(&e));
            return Ok(2);
        }
    };
    let Some(plan) = load_plan_with(&file, &op) else {
        return Ok(2);
    };
    execute(plan, &file, args, out, timing)
}

/// Runs a loaded plan (`baton run`, `baton try`): the lock, the engine, the
/// scheduler, the reports and the exit code.
pub(super) fn execute(
    mut plan: Plan,
    file: &std::path::Path,
    args: RunArgs,
    out: Output,
    mut timing: super::timing::Timing,
) -> anyhow::Result<u8> {
    let ci_word =
        args.ci_format.clone().or_else(|| std::env::var(crate::env_vars::CI_FORMAT).ok()).filter(|w| !w.is_empty());
    let ci = match ci_word {
        None => CiFormat::detect(|k| std::env::var(k).ok()),
        Some(w) => match CiFormat::parse(&w) {
            Some(f) => f,
            None => {
                eprintln!("error: unknown CI format `{}`: use none, github or gitlab", crate::text::escape_text(&w));
                return Ok(2);
            }
        },
    };
    // Secrets and registry credentials leave baton's environment before any
    // thread starts: a process that reads `/proc/<baton>/environ` finds none.
    let withheld = plan.steps.iter().flat_map(|s| s.policy.secrets.iter().map(String::as_str));
    let registry = [crate::env_vars::REGISTRY_PASSWORD, crate::env_vars::REGISTRY_TOKEN];
    // SAFETY: no thread has been started yet (the runtime is built below).
    unsafe { crate::env_vars::withhold(withheld.chain(registry)) };
    if !out.quiet || plan.kind != RunKind::Normal {
        for n in &plan.notes {
            eprintln!("baton: {}", crate::text::escape_line(n));
        }
    }
    if args.jobs == Some(0) {
        eprintln!("error: --jobs must be at least 1");
        return Ok(2);
    }
    // A try run reads the trusted lock from its copy and writes none.
    let write = !args.locked && plan.kind != RunKind::Try;
    let resolve = lock::Resolve { offline: args.offline, locked: args.locked, write, update: None };
    let Some(notes) = lock::resolve_or_report(&mut plan, &resolve) else {
        return Ok(2);
    };
    if !out.quiet {
        for n in &notes {
            eprintln!("{}", crate::text::escape_text(n));
        }
    }
    let opts = RunOptions {
        jobs: args.jobs,
        resume: args.resume,
        selection: Selection { only: args.only, skip: args.skip, from: args.from },
        priority: args.priority,
        nats: args.nats.or_else(|| std::env::var(crate::env_vars::NATS).ok().filter(|v| !v.is_empty())),
        no_cache: args.no_cache,
        // A try run reads `trusted` and writes only a namespace of its own,
        // named by its patch: entries it makes reach no other run.
        run_kind: match (&plan.kind, &plan.try_info) {
            (RunKind::Try, Some(t)) => crate::cache::RunKind::Try { id: t.patch_sha256.clone() },
            (RunKind::Try, None) => crate::cache::RunKind::Try { id: plan.name.clone() },
            _ => crate::cache::RunKind::Normal,
        },
    };
    // As many threads as steps may run at once, up to the cores: with one
    // job, the scheduler and its attempts share a thread and hand each other
    // work without waking another one (a futex and an eventfd write per step).
    let jobs = opts.jobs.unwrap_or(plan.jobs).max(1);
    let threads = jobs.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .event_interval(4)
        .thread_name("baton-worker")
        .build()?;
    timing.phase("plan");
    let stages = plan.steps.len();
    let state_dir = plan.state_dir();
    let serve_addr = args.serve;
    let wasm_stack = plan.wasm_stack as usize;
    let timing_ref = &mut timing;
    let (cancel_tx, cancel_rx) = watch::channel(false);
    // Held here too: the run is not cancelled if the watcher cannot start.
    let cancel_tx = Arc::new(cancel_tx);
    let _held = cancel_tx.clone();
    super::stop_signals::watch(move || {
        eprintln!("\nbaton: cancelling; `always` steps still run (interrupt again to exit at once)");
        let _ = cancel_tx.send(true);
    });
    let result = rt.block_on(async move {
        let timing = timing_ref;
        let runtime = Arc::new(
            Runtime::with_stack(stages, wasm_stack)
                .map_err(|e| anyhow::anyhow!("cannot start the wasm engine: {e:#}"))?,
        );
        timing.phase("engine");
        let mut observer = progress::observer(out);
        if let Some(addr) = serve_addr {
            let bound = super::serve::bind(state_dir, addr, super::serve::token(None)).await?;
            let (base, login) = (bound.base.clone(), bound.login.clone());
            tokio::spawn(crate::serve::serve(bound.listener, bound.router));
            let mut inner = observer;
            observer = Box::new(move |e: &scheduler::UiEvent<'_>| {
                if let scheduler::UiEvent::RunStarted { run_id, .. } = e {
                    eprintln!("baton: watch this run at {base}/runs/{run_id}");
                    if let Some(l) = &login {
                        eprintln!("baton: log in first at {l} (the link works once)");
                    }
                }
                inner(e)
            });
        }
        // The scheduler runs on a worker thread, not on this one: the attempts
        // it spawns then start on the same worker's queue, and their ends
        // wake it without a cross-thread handoff.
        let run = tokio::spawn(scheduler::run(Arc::new(plan), runtime, opts, observer, cancel_rx));
        let result = run.await?;
        if serve_addr.is_some() {
            // Let the pages' streams read the end record and say so.
            tokio::time::sleep(crate::serve::stream::TICK * 8).await;
        }
        Ok::<_, anyhow::Error>(result)
    });
    // Nothing of the run may keep baton alive once it has ended: a blocking
    // thread still stuck in the kernel (whatever put it there) is left
    // behind instead of waited for, and ends with the process.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    crate::sandbox::cgroup::cleanup_cgroups();
    crate::sandbox::scratch::cleanup();
    let report = match result? {
        Ok(r) => r,
        Err(scheduler::RunError::Usage(m)) => {
            eprintln!("error: {}", crate::text::escape_text(&m));
            return Ok(2);
        }
        Err(scheduler::RunError::Preflight(errors)) => {
            let n = errors.len();
            let s = if n == 1 { "" } else { "s" };
            eprintln!("error: {}: {n} error{s} before the first step; no step was started", file.display());
            for m in &errors {
                eprintln!("  - {}", crate::text::escape_text(m));
            }
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    timing.phase("run (plugins, steps, report)");
    let (written, errors) = report_files::write(&report, &args.report, args.report_dir.as_deref());
    timing.phase("report files");
    if !out.quiet || report.status != crate::status::RunStatus::Ok {
        let style = text::Style { color: out.color, all_steps: out.verbose > 0 };
        eprint!("\n{}", text::render(&report, style));
        for w in &written {
            eprintln!("{}: {}", w.what, w.path.display());
        }
    } else {
        eprintln!("run {} ok in {:.1}s", report.run_id, report.duration);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    let json = args.json || args.report.contains(&Format::Json);
    if ci != CiFormat::None {
        // Workflow commands go to stdout, unless stdout carries the JSON report.
        let summary = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()).map(PathBuf::from);
        let written = if json {
            crate::report::ci_format::write(&report, ci, &mut std::io::stderr().lock(), summary.as_deref())
        } else {
            crate::report::ci_format::write(&report, ci, &mut std::io::stdout().lock(), summary.as_deref())
        };
        if let Err(e) = written {
            eprintln!("warning: cannot write the CI report: {e}");
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(match report.exit_code() {
        // A run that went well but whose reports could not be written is a host error.
        0 if !errors.is_empty() => 2,
        code => code as u8,
    })
}
