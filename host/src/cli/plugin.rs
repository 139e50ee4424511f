//! `baton plugin inspect PLUGIN`: the world and contract version a plugin
//! targets, the capabilities it imports, its `describe()` metadata, size and
//! digest, and whether this host can run it. `baton plugin push` and
//! `baton plugin pull` and `baton plugin sign` (in `plugin_push.rs`) move
//! plugins to and from registries.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Output;
use super::plugin_push as push;
use crate::plan::bundled;
use crate::plan::policy::CAPABILITIES;
use crate::plan::{PluginDef, PluginSource};
use crate::runtime::Runtime;
use crate::runtime::inspect::Inspection;
use crate::units::Size;

#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Shows what a plugin (a .wasm path, a bundled name or an `oci://`
    /// reference) is and asks for.
    Inspect {
        plugin: PathBuf,
        /// Print the inspection as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Publishes a component to a registry (CNCF wasm layout); prints its manifest digest.
    Push {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Where to push it: `oci://registry/repository:tag`.
        reference: String,
    },
    /// Pulls a plugin into the plugin cache; prints its manifest digest.
    Pull {
        /// `oci://registry/repository:tag` or `…@sha256:…`.
        reference: String,
    },
    /// Makes a stage component of a wasm32-wasi core module (C: `clang
    /// --target=wasm32-wasi -mexec-model=reactor`), with the WASI adapter
    /// built into baton: no npm, no cargo.
    Wrap {
        /// The core module.
        module: PathBuf,
        /// Where to write the component.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Signs a pushed plugin's manifest digest with an ssh key and pushes the signature.
    Sign {
        /// `oci://registry/repository:tag` or `…@sha256:…`.
        reference: String,
        /// The ssh private key (`ssh-keygen -Y sign -f KEY`).
        #[arg(long)]
        key: PathBuf,
    },
}

pub fn main(args: PluginArgs, out: Output) -> anyhow::Result<u8> {
    match args.command {
        PluginCommand::Inspect { plugin, json } => inspect(&plugin, json),
        PluginCommand::Wrap { module, output } => {
            let size = super::plugin_wrap::wrap(&module, &output)?;
            println!("wrote {} ({})", output.display(), Size(size));
            Ok(0)
        }
        PluginCommand::Push { file, reference } => push::push(&file, &reference, out),
        PluginCommand::Pull { reference } => push::pull(&reference, out),
        PluginCommand::Sign { reference, key } => push::sign(&reference, &key, out),
    }
}

fn inspect(plugin: &std::path::Path, json: bool) -> anyhow::Result<u8> {
    let name = plugin.to_string_lossy().into_owned();
    let (def, pulled) = if name.starts_with("oci://") {
        let (def, pulled) = push::pull_def(&name)?;
        (def, Some(pulled))
    } else {
        let source = match bundled::find(&name) {
            Some(b) if !plugin.exists() => PluginSource::Bundled(b),
            _ => PluginSource::File(std::path::absolute(plugin)?),
        };
        let stem = plugin.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or(name);
        (PluginDef { name: stem, source, sha256: None, trust: None }, None)
    };
    let runtime = Runtime::new(1).map_err(|e| anyhow::anyhow!("cannot start the wasm engine: {e:#}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let found = rt.block_on(runtime.inspect(&def)).map_err(anyhow::Error::msg)?;
    crate::sandbox::scratch::cleanup();
    if json {
        let mut value = serde_json::to_value(&found)?;
        if let (Some(p), Some(obj)) = (&pulled, value.as_object_mut()) {
            obj.insert("manifest".into(), p.manifest.clone().into());
            obj.insert("annotations".into(), serde_json::to_value(&p.annotations)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if let Some(p) = &pulled {
            println!("manifest  {}", p.manifest);
        }
        // describe() is the plugin's own text: shown inert.
        print!("{}", crate::text::escape_text(&render(&found)));
    }
    Ok(if found.refused.is_some() { 1 } else { 0 })
}

fn render(i: &Inspection) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "plugin    {}", i.plugin);
    let _ = writeln!(out, "size      {} ({} bytes)", Size(i.size), i.size);
    let _ = writeln!(out, "sha256    {}", i.sha256);
    let _ = writeln!(out, "kind      {}", i.kind);
    match &i.contract {
        Some(v) => {
            let _ = writeln!(out, "world     baton:stage/stage, built against baton:stage@{v}");
        }
        None if i.kind == "component" => {
            let _ = writeln!(out, "world     not a baton stage (exports: {})", i.exports.join(", "));
        }
        None => {}
    }
    match &i.refused {
        None => {
            let _ = writeln!(out, "host      can run it (this host speaks {})", i.host_contract);
        }
        Some(why) => {
            let _ = writeln!(out, "host      cannot run it: {why}");
        }
    }
    if let Some(d) = &i.describe {
        let _ = writeln!(out, "describe  {} {}: {}", d.name, d.version, d.description);
        if let Some(schema) = &d.config_schema {
            let compact: String = schema.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "config    {compact}");
        }
    }
    if let Some(e) = &i.describe_error {
        let _ = writeln!(out, "describe  {e}");
    }
    if !i.imports.is_empty() {
        let _ = writeln!(out, "capabilities:");
        for cap in CAPABILITIES.iter().copied().chain(["unknown"]) {
            let names: Vec<&str> =
                i.imports.iter().filter(|m| m.capability == Some(cap)).map(|m| m.name.as_str()).collect();
            if !names.is_empty() {
                let _ = writeln!(out, "  {cap:<11} {}", names.join(", "));
            }
        }
    }
    if !i.exports.is_empty() {
        let _ = writeln!(out, "exports   {}", i.exports.join(", "));
    }
    out
}
