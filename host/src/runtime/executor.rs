//! The local executor: each attempt runs in this process, in a fresh
//! wasmtime `Store` instantiated from its plugin's `InstancePre`
//! ([`invoke::run_attempt`]), on a task of its own.
//!
//! It implements [`Executor`], the boundary the scheduler hands attempts
//! to: it resolves the attempt's plugin (a plugin that failed to load fails
//! the attempt, as does a plugin asking for capabilities the step's policy
//! refuses), opens the step log, builds the [`StepContext`] whose
//! [`Reporter`] carries the stage's requests to the scheduler, and reports
//! the end with the log's last lines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::Dir;

use crate::executor::{Attempt, AttemptOutcome, Executor, FailureKind, Reporter};
use crate::plan::Plan;
use crate::runtime::context::{RunServices, StepContext};
use crate::runtime::host::process::ProcessGroups;
use crate::runtime::host::src_view::SourceDir;
use crate::runtime::invoke;
use crate::runtime::plugin::LoadedPlugin;
use crate::sandbox::policy::check_capabilities;
use crate::sandbox::wasi::open_dir;
use crate::storage::step_log::StepLog;

/// Per plan plugin: loaded, or why not (`None`: no selected step uses it).
pub type Plugins = Vec<Option<Result<Arc<LoadedPlugin>, String>>>;

/// Runs the attempts of one run of `plan` in this process.
pub struct LocalExecutor {
    pub engine: wasmtime::Engine,
    /// Most stores alive at once (the engine's instance pool).
    pub max_stages: usize,
    pub plan: Arc<Plan>,
    pub plugins: Plugins,
    pub services: Arc<RunServices>,
    /// The pipeline's directory, offered read-only at `/src`.
    pub src: Option<SourceDir>,
    /// Where step logs go: the run's `logs/` directory.
    pub log_of: Box<dyn Fn(&str) -> PathBuf + Send + Sync>,
    /// The start of the run (log lines are timed from it).
    pub epoch: Instant,
    /// The boards' workspaces, each opened once (by path) and shared by
    /// every attempt in it.
    pub workspaces: Workspaces,
}

/// Workspace handles by path; see [`LocalExecutor::workspaces`].
pub type Workspaces = Mutex<HashMap<PathBuf, Dir>>;

impl LocalExecutor {
    /// The handle of `workspace`, opened on first use.
    fn workspace(&self, workspace: &Path) -> std::io::Result<Dir> {
        let mut open = self.workspaces.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = open.get(workspace) {
            return Ok(dir.clone());
        }
        let dir = open_dir(workspace, FsPerms::ReadWrite)?;
        open.insert(workspace.to_path_buf(), dir.clone());
        Ok(dir)
    }
}

impl Executor for LocalExecutor {
    fn capacity(&self) -> usize {
        self.max_stages
    }

    fn start(&self, attempt: Attempt, reporter: Reporter, cancel: oneshot::Receiver<()>) {
        let def = &self.plan.steps[attempt.step];
        let plugin = match self.plugins.get(attempt.plugin.index).cloned().flatten() {
            Some(Ok(p)) => p,
            // A plugin that cannot load fails its steps, at once and for good.
            Some(Err(message)) => {
                return reporter.ended(AttemptOutcome::failed(FailureKind::Host, message), Vec::new());
            }
            None => {
                let outcome = AttemptOutcome::failed(FailureKind::Host, "plugin not loaded");
                return reporter.ended(outcome, Vec::new());
            }
        };
        if let Err(message) = check_capabilities(&def.policy, &def.id, &plugin.name, &plugin.capabilities) {
            // Refused before it runs, for good: retrying cannot change it.
            return reporter.ended(AttemptOutcome::failed(FailureKind::Host, message), Vec::new());
        }
        let workspace = match self.workspace(&attempt.workspace) {
            Ok(dir) => dir,
            Err(e) => {
                let message = format!("cannot open the workspace {}: {e}", attempt.workspace.display());
                return reporter.ended(AttemptOutcome::failed(FailureKind::Host, message), Vec::new());
            }
        };
        let log = StepLog::new((self.log_of)(&def.id), def.policy.log_limit, self.epoch)
            .masking(self.services.secrets.clone());
        if attempt.number > 1 {
            log.line("baton", &format!("--- attempt {} ---", attempt.number));
        }
        let ctx = Arc::new(StepContext {
            index: attempt.step,
            id: def.id.clone(),
            board: self.plan.boards[def.board].clone(),
            name: def.name.clone(),
            attempt: attempt.number,
            config: def.config.clone(),
            workspace: attempt.workspace,
            src: self.src.clone(),
            policy: def.policy.clone(),
            log,
            run: self.services.clone(),
            reporter: reporter.clone(),
            processes: ProcessGroups::default(),
            denied: Default::default(),
        });
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let cancelled = async {
                let _ = cancel.await;
            };
            let log = ctx.log.clone();
            let outcome = invoke::run_attempt(&engine, &plugin, ctx, workspace, cancelled).await;
            let tail = if outcome == AttemptOutcome::Succeeded { Vec::new() } else { log.tail() };
            reporter.ended(outcome, tail);
        });
    }
}
