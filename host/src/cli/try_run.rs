//! `baton try --patch FILE|-`: runs a contributor's patch under the trusted
//! pipeline. Run in the trusted checkout: the pipeline, `baton.lock`,
//! plugins and policy come from its committed tree (`HEAD`), or the
//! directory as it is when it is no git repository; the patch only changes
//! the copy the steps see at `/src`. Every step is untrusted and no step is
//! given a secret. The run's state stays in the checkout's `.baton/`, so
//! `baton runs` lists try runs; the checkout itself is not written.

use std::path::{Path, PathBuf};

use clap::Args;

use super::report_files::Format;
use super::run::{RunArgs, execute, operator};
use super::{Locate, Output, load_plan_with};
use crate::plan::PluginSource;
use crate::plan::operator::RunKind;
use crate::scheduler::Priority;
use crate::trybot;

#[derive(Debug, Args)]
pub struct TryArgs {
    /// The patch, a unified diff as `git diff --binary` or `git format-patch`
    /// write it; `-` reads it from stdin.
    #[arg(long, value_name = "FILE")]
    pub patch: PathBuf,
    /// The largest patch accepted.
    #[arg(long, value_name = "SIZE", default_value = "10MiB")]
    pub max_patch: String,
    /// An `ssh-keygen -Y sign -n baton-try` signature of the try message
    /// (needed when $BATON_TRY_SIGNERS names an allowed-signers file).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// Print only the message a signer signs for this patch and base, then exit.
    #[arg(long)]
    pub print_message: bool,
    /// The trusted pipeline file (default: the nearest baton.toml, here or up).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// An operator policy file, as `baton run --policy` (default: $BATON_POLICY).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Max steps running at once.
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Print the run report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Reports to produce, as `baton run --report`.
    #[arg(long, value_enum, value_name = "FORMAT", value_delimiter = ',')]
    pub report: Vec<Format>,
    /// Also write the requested reports into DIR.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Make no network call: registry plugins must be locked and cached.
    #[arg(long)]
    pub offline: bool,
    /// Run the steps on the workers of the cluster at this NATS server
    /// (default: $BATON_NATS).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_security: super::worker::NatsSecurity,
    /// Run every step, even those the step cache holds (as `baton run --no-cache`).
    #[arg(long)]
    pub no_cache: bool,
}

pub fn main(args: TryArgs, out: Output, at: &Locate) -> anyhow::Result<u8> {
    args.nats_security.apply();
    let timing = super::timing::Timing::new();
    match prepare(&args, at) {
        Ok(Ready::Message(m)) => {
            print!("{m}");
            Ok(0)
        }
        Ok(Ready::Run(plan, file, prepared)) => {
            let run = RunArgs {
                file: None,
                jobs: args.jobs,
                json: args.json,
                report: args.report,
                report_dir: args.report_dir,
                resume: false,
                only: Vec::new(),
                skip: Vec::new(),
                from: Vec::new(),
                priority: Priority::CriticalPath,
                locked: false,
                offline: args.offline,
                nats: args.nats,
                nats_security: args.nats_security,
                no_cache: args.no_cache,
                serve: None,
                ci_format: None,
                untrusted: true,
                policy: None,
            };
            let code = execute(*plan, &file, run, out, timing);
            drop(prepared);
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(2)
        }
    }
}

enum Ready {
    Message(String),
    Run(Box<crate::plan::Plan>, PathBuf, trybot::Prepared),
}

/// Everything before the first step: patch, signature, trees, plan.
fn prepare(args: &TryArgs, at: &Locate) -> Result<Ready, String> {
    let max = crate::units::parse_size(&args.max_patch).map_err(|e| format!("--max-patch: {e}"))?;
    let patch = trybot::read_patch(&args.patch, max)?;
    let file = at.pipeline(None).map_err(|e| e.to_string())?;
    let file = match &args.file {
        Some(f) => at.pipeline(Some(f)).map_err(|e| e.to_string())?,
        None => file,
    };
    let file = std::path::absolute(&file).map_err(|e| format!("cannot resolve {}: {e}", file.display()))?;
    let checkout = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = file.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("baton.toml"));
    let digest = trybot::sha256(&patch);
    if args.print_message || std::env::var_os(crate::env_vars::TRY_SIGNERS).is_some_and(|v| !v.is_empty()) {
        let base = trybot::base_of(&checkout)?;
        let message = trybot::signing::message(&digest, &base);
        if args.print_message {
            return Ok(Ready::Message(message));
        }
        trybot::signing::check(&message, args.signature.as_deref())?;
    }
    let prepared = trybot::prepare(&checkout, &patch)?;
    let mut op = operator(true, args.policy.clone())?;
    op.kind = RunKind::Try;
    let config_file = prepared.config_dir.join(&name);
    if !config_file.is_file() {
        return Err(format!(
            "the trusted tree ({}) has no {}: commit the pipeline file first",
            prepared.info.base,
            name.display()
        ));
    }
    let Some(mut plan) = load_plan_with(&config_file, &op) else {
        return Err("the trusted pipeline does not load (see above)".into());
    };
    let plugin_files: Vec<PathBuf> = plan
        .plugins
        .iter()
        .filter_map(|p| match &p.source {
            PluginSource::File(path) => path.strip_prefix(&prepared.config_dir).ok().map(Path::to_path_buf),
            _ => None,
        })
        .collect();
    let mut info = prepared.info.clone();
    info.ignored = trybot::config_files(&info.files, &name, &plugin_files);
    plan.src_dir = prepared.src_dir.clone();
    plan.state = checkout.join(".baton");
    eprintln!(
        "baton: try run of patch sha256:{} on {}: {} file{} changed",
        info.patch_sha256,
        info.base,
        info.files.len(),
        if info.files.len() == 1 { "" } else { "s" }
    );
    if !info.ignored.is_empty() {
        let shown: Vec<String> = info.ignored.iter().map(|f| crate::text::escape_line(f).into_owned()).collect();
        eprintln!(
            "baton: these changes to the pipeline are not used in a try run: {} (the trusted versions run)",
            shown.join(", ")
        );
    }
    plan.try_info = Some(info);
    Ok(Ready::Run(Box::new(plan), file, prepared))
}
