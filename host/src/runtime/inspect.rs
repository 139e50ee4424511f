//! `baton plugin inspect`: what a component is, what it targets, what it
//! asks for, what it says about itself, and whether this host can run it.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Runtime;
use super::context::{RunServices, StepContext};
use super::contract::{self, capability_of};
use super::host::process::ProcessGroups;
use super::plugin::{LoadedPlugin, check_header, first_line};
use super::state::new_store;
use crate::plan::policy::StepPolicy;
use crate::plan::{PluginDef, PluginSource, Trust};
use crate::sandbox::confine::Confinement;
use crate::sandbox::scratch::Scratch;
use crate::sandbox::wasi::Preopens;
use crate::storage::artifacts::ArtifactStore;
use crate::storage::step_log::StepLog;

/// What `describe()` returned.
#[derive(Debug, Clone, Serialize)]
pub struct Described {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_schema: Option<String>,
}

/// One import and the capability it asks for.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub name: String,
    /// `None` for type-only interfaces.
    pub capability: Option<&'static str>,
}

/// Everything inspect finds out.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub plugin: String,
    pub size: u64,
    pub sha256: String,
    /// `component`, `core module` or `not wasm`.
    pub kind: String,
    pub exports: Vec<String>,
    pub imports: Vec<Import>,
    /// The `baton:stage` version it was built against, if it exports a stage.
    pub contract: Option<String>,
    /// This host's contract version.
    pub host_contract: String,
    /// `None` if this host can run it, else why not.
    pub refused: Option<String>,
    pub describe: Option<Described>,
    /// Why `describe()` failed, if it ran and failed.
    pub describe_error: Option<String>,
}

impl Runtime {
    /// Inspects a plugin given by a path or a bundled name.
    pub async fn inspect(&self, def: &PluginDef) -> Result<Inspection, String> {
        let bytes = super::plugin::read(def).map_err(|e| e.to_string())?;
        let shown = match &def.source {
            PluginSource::File(p) => p.display().to_string(),
            PluginSource::Bundled(n) => format!("bundled:{n}"),
            PluginSource::Oci { reference, .. } => reference.to_string(),
        };
        let mut out = Inspection {
            plugin: shown,
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            kind: "component".into(),
            exports: Vec::new(),
            imports: Vec::new(),
            contract: None,
            host_contract: format!("{}@{}", contract::PACKAGE, contract::VERSION),
            refused: None,
            describe: None,
            describe_error: None,
        };
        if let Err(e) = check_header(&bytes) {
            out.kind = if e.contains("core WebAssembly module") { "core module" } else { "not wasm" }.into();
            out.refused = Some(e);
            return Ok(out);
        }
        let mut none = |_| {};
        let compiled = match self.tiers.compile(&out.sha256, &bytes, &mut none) {
            Ok(c) => c,
            Err(e) => {
                out.refused = Some(format!("not a valid component: {}", first_line(&e)));
                return Ok(out);
            }
        };
        let ty = compiled.component.component_type();
        out.exports = ty.exports(&compiled.engine).map(|(n, _)| n.to_string()).collect();
        out.imports = ty
            .imports(&compiled.engine)
            .map(|(n, _)| Import { name: n.to_string(), capability: capability_of(n) })
            .collect();
        out.contract = out.exports.iter().find_map(|e| {
            let (pkg, iface, v) = contract::split_name(e);
            (pkg == contract::PACKAGE && iface == "plugin").then(|| v.unwrap_or("").to_string())
        });
        match self.load(def) {
            Err(e) => out.refused = Some(e.message),
            Ok(loaded) => match describe(&loaded).await {
                Ok(d) => out.describe = Some(d),
                Err(e) => out.describe_error = Some(e),
            },
        }
        Ok(out)
    }
}

/// The context of a stage run with nothing: untrusted limits, no pipeline,
/// no services; its log and artifact store under `scratch` (for
/// `describe()`, and for the benchmark's floor: `examples/step_floor.rs`).
pub fn bare_context(workspace: &Scratch, scratch: &Scratch, id: &str) -> Arc<StepContext> {
    let (tx, _) = tokio::sync::mpsc::unbounded_channel();
    let policy = StepPolicy::builtin(Trust::Untrusted);
    let log = StepLog::new(scratch.path().join("describe.log"), 1 << 16, std::time::Instant::now());
    let (board, name) = id.split_once('.').unwrap_or((id, id));
    Arc::new(StepContext {
        index: 0,
        id: id.into(),
        board: board.into(),
        name: name.into(),
        attempt: 1,
        config: "{}".into(),
        workspace: workspace.path().to_path_buf(),
        src: None,
        policy,
        log,
        run: Arc::new(RunServices {
            run_id: "inspect".into(),
            store: ArtifactStore::new(scratch.path().join("store")),
            confinement: Confinement::detect(),
            secrets: Default::default(),
        }),
        reporter: crate::executor::Reporter::new(0, 1, tx),
        processes: ProcessGroups::default(),
        denied: Default::default(),
    })
}

/// Calls `describe()` in a sandbox with nothing: untrusted limits, an empty
/// workspace, no services.
pub async fn describe(plugin: &LoadedPlugin) -> Result<Described, String> {
    let workspace = Scratch::new().map_err(|e| format!("cannot create a workspace: {e}"))?;
    let scratch = Scratch::new().map_err(|e| format!("cannot create a scratch dir: {e}"))?;
    let ctx = bare_context(&workspace, &scratch, "inspect.describe");
    let preopens = Preopens { workspace: workspace.dir().clone(), tmp: scratch.dir().clone(), src: None };
    let code = plugin.code();
    let mut store = new_store(&code.engine, ctx, preopens, None).map_err(|e| e.to_string())?;
    let call = async {
        let stage = code.pre.instantiate_async(&mut store).await?;
        stage.baton_stage_plugin().call_describe(&mut store).await
    };
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Err(_) => Err("describe() did not return within 10s".into()),
        Ok(Err(e)) => Err(format!("describe() failed: {}", first_line(&e))),
        Ok(Ok(m)) => Ok(Described {
            name: m.name,
            version: m.version,
            description: m.description,
            config_schema: m.config_schema,
        }),
    }
}
