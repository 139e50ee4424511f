//! `cli`: the `baton` command line, one file per subcommand. Raw arguments
//! are resolved into settings before any work starts; data goes to stdout,
//! progress and logs to stderr.

mod artifacts;
mod cache;
mod check;
mod clean;
mod explain;
mod gc;
mod graph;
mod locate;
mod lock;
mod logs;
mod plugin;
mod plugin_push;
mod plugin_wrap;
mod progress;
mod report_files;
mod run;
mod runs;
mod serve;
mod stop_signals;
mod timing;
mod try_run;
mod worker;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use locate::Locate;

use crate::plan::Plan;

/// baton: a build/test pipeline host running every step as a sandboxed
/// WebAssembly component.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None)]
pub struct Args {
    /// Print less (only the summary and errors).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more (each step's start, waits and progress).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub locate: Locate,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline.
    Run(run::RunArgs),
    /// Validate a pipeline file and its plugins without running anything.
    Check(check::CheckArgs),
    /// Print the expanded step graph (dot, mermaid, json or svg).
    Graph(graph::GraphArgs),
    /// List a run's artifacts, or copy one out (`baton artifacts get REF DEST`).
    Artifacts(artifacts::ArtifactsArgs),
    /// Remove old runs (with their workspaces) and the stored blobs no kept run refers to.
    Gc(gc::GcArgs),
    /// Remove everything under `.baton/` but the step durations: runs, workspaces, artifacts.
    Clean(clean::CleanArgs),
    /// Resolve the registry plugins' tags to digests and write baton.lock.
    Lock(lock::LockArgs),
    /// Inspect, push or pull a plugin (a .wasm file or an `oci://` reference).
    Plugin(plugin::PluginArgs),
    /// Show step logs of a run (the latest by default), or follow a running one.
    Logs(logs::LogsArgs),
    /// List past runs with their status and duration.
    Runs(runs::RunsArgs),
    /// Run a contributor's patch under the trusted pipeline, every step untrusted, no secrets.
    Try(try_run::TryArgs),
    /// Serve the project's runs as live web pages (runs, steps, logs, artifacts).
    Serve(serve::ServeArgs),
    /// Run steps for `baton run --nats` runs of a cluster over NATS JetStream, until SIGTERM.
    Worker(worker::WorkerArgs),
    /// List the live workers of a cluster: name, jobs, running steps, last heartbeat, labels.
    Workers(worker::WorkersArgs),
    /// Say why a step ran or came from the step cache in a run (the latest by default).
    Explain(explain::ExplainArgs),
    /// Manage the step cache (`baton cache gc --max-size 10GiB`).
    Cache(cache::CacheArgs),
}

/// Output settings shared by subcommands.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub quiet: bool,
    pub verbose: u8,
    pub color: bool,
}

/// Runs the command; returns the exit code.
pub fn main(args: Args) -> anyhow::Result<u8> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let out = Output { quiet: args.quiet, verbose: args.verbose, color };
    let at = &args.locate;
    match args.command {
        Command::Run(a) => run::main(a, out, at),
        Command::Try(a) => try_run::main(a, out, at),
        Command::Check(a) => check::main(a, out, at),
        Command::Graph(a) => graph::main(a, at),
        Command::Artifacts(a) => artifacts::main(a, at),
        Command::Gc(a) => gc::main(a, at),
        Command::Clean(a) => clean::main(a, at),
        Command::Lock(a) => lock::main(a, out, at),
        Command::Plugin(a) => plugin::main(a, out),
        Command::Logs(a) => logs::main(a, at),
        Command::Runs(a) => runs::main(a, out, at),
        Command::Serve(a) => serve::main(a, at),
        Command::Worker(a) => worker::main(a),
        Command::Workers(a) => worker::list(a),
        Command::Explain(a) => explain::main(a, at),
        Command::Cache(a) => cache::main(a, at),
    }
}

/// Loads a pipeline, printing every error in it; `None` means exit code 2.
pub fn load_plan(file: &std::path::Path) -> Option<Plan> {
    match Plan::load(file) {
        Ok(p) => Some(p),
        Err(errors) => {
            // Names and values in the file are user input: shown inert.
            eprint!("error: {}", crate::text::escape_text(&errors.to_string()));
            None
        }
    }
}

/// Loads a pipeline under the operator's settings, as [`load_plan`].
pub fn load_plan_with(file: &std::path::Path, op: &crate::plan::operator::Operator) -> Option<Plan> {
    match Plan::load_with(file, op) {
        Ok(p) => Some(p),
        Err(errors) => {
            eprint!("error: {}", crate::text::escape_text(&errors.to_string()));
            None
        }
    }
}

/// `.baton/` next to a pipeline file (the file need not be valid).
pub fn state_dir_of(file: &std::path::Path) -> PathBuf {
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    abs.parent().unwrap_or(std::path::Path::new(".")).join(".baton")
}

/// Every run under `state`, oldest first, or an error that says where to look.
pub fn runs_under(state: &std::path::Path) -> anyhow::Result<Vec<crate::storage::runs::RunDir>> {
    let all = crate::storage::runs::list(state);
    if all.is_empty() {
        anyhow::bail!(
            "no runs under {} (run `baton run` first, or point at the pipeline with --file FILE or -C DIR)",
            crate::storage::runs::runs_dir(state).display()
        );
    }
    Ok(all)
}
