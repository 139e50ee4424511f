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
    /// The boards' workspaces and the project, each opened once and shared
    /// by every attempt that sees it; closed when the run ends.
    pub handles: Handles,
}

/// Directory handles by path and writability; see [`LocalExecutor::handles`].
pub type Handles = Mutex<HashMap<(PathBuf, bool), Dir>>;

impl LocalExecutor {
    /// The handle of directory `path`, opened on first use. A workspace's
    /// is opened again if the directory it was opened on has been removed
    /// since (a process of a step deleted and remade it: the next attempt
    /// sees what a process would see there): one `fstat` of the handle per
    /// attempt instead of an open and a close. The project's is kept for
    /// the run, as its `/src` view is the run's input.
    fn handle(&self, path: &Path, perms: FsPerms) -> Result<Dir, String> {
        use std::os::unix::fs::MetadataExt;
        let writable = perms == FsPerms::ReadWrite;
        let key = (path.to_path_buf(), writable);
        let mut open = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = open.get(&key)
            && (!writable || dir.dir.metadata().is_ok_and(|m| m.nlink() > 0))
        {
            return Ok(dir.clone());
        }
        let dir = open_dir(path, perms).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        open.insert(key, dir.clone());
        Ok(dir)
    }

    /// The handles an attempt in `workspace` sees.
    fn handles_for(&self, workspace: &Path) -> Result<(Dir, Option<Dir>), String> {
        let src = match &self.src {
            Some(src) => Some(self.handle(&src.root, FsPerms::ReadOnly)?),
            None => None,
        };
        Ok((self.handle(workspace, FsPerms::ReadWrite)?, src))
    }
}

impl Executor for LocalExecutor {
    fn capacity(&self) -> usize {
        self.max_stages
    }

    fn finish(&self) {
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).clear();
        crate::sandbox::scratch::release_pool();
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
        let handles = match self.handles_for(&attempt.workspace) {
            Ok(handles) => handles,
            Err(message) => return reporter.ended(AttemptOutcome::failed(FailureKind::Host, message), Vec::new()),
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
        tokio::spawn(async move {
            let cancelled = async {
                let _ = cancel.await;
            };
            let log = ctx.log.clone();
            let outcome = invoke::run_attempt(&plugin, ctx, handles, cancelled).await;
            let tail = if outcome == AttemptOutcome::Succeeded { Vec::new() } else { log.tail() };
            reporter.ended(outcome, tail);
        });
    }
}
