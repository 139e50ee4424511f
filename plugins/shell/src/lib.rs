//! The bundled `shell` stage: runs `run` with `sh -c` in the board
//! workspace. Before the command it fetches the artifacts in `fetch`; after
//! it succeeds it publishes the paths in `publish`. A non-zero exit fails
//! the step with the exit code and the tail of stderr.
//!
//! ```toml
//! [[boards.linux.steps]]
//! name = "L3"
//! plugin = "shell"
//! with = { run = "tar cf gen.tar gen/", publish = ["gen.tar"], fetch = ["linux.L2/src"] }
//! ```
//!
//! `run` may also be a list whose items are commands, `{ emit = "name" }`
//! (raise a signal the step declares in `emits`) or `{ wait = ["ref", …] }`
//! (wait for signals or steps), carried out in order:
//!
//! ```toml
//! with = { run = ["./generate.sh", { emit = "generated" }, "./lint.sh"] }
//! ```

use std::collections::BTreeMap;

use baton_sdk::{Command, Error, Meta, Stage, Step, artifacts, signals};
use serde::Deserialize;

/// Lines of stderr quoted in a failure message.
const STDERR_TAIL_LINES: usize = 10;

/// The `with` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The command line, run with `sh -c`, or a list of commands and signals.
    pub run: Script,
    /// Extra environment variables for the command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the workspace.
    pub cwd: Option<String>,
    /// Artifacts to fetch before the command.
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    /// Paths to publish after the command succeeds.
    #[serde(default)]
    pub publish: Vec<Publish>,
    /// The shell (default `sh`); it must be on the step's spawn allow-list.
    pub shell: Option<String>,
}

/// One command line, or a list of items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Script {
    One(String),
    Many(Vec<Item>),
}

/// An item of a `run` list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Item {
    Command(String),
    Emit(EmitItem),
    Wait(WaitItem),
}

/// `{ emit = "name" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitItem {
    emit: String,
}

/// `{ wait = ["board.step/signal", "board.step", …] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitItem {
    wait: Vec<String>,
}

impl Script {
    fn items(&self) -> Vec<&Item> {
        match self {
            Script::One(_) => Vec::new(),
            Script::Many(items) => items.iter().collect(),
        }
    }
}

/// `"board.step/name"` (into `name`) or `{ from = "...", to = "path" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Fetch {
    Reference(String),
    Table(FetchTable),
}

/// `{ from = "board.step/name", to = "path" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchTable {
    from: String,
    to: String,
}

/// `"path"` (published as its file name) or `{ path = "...", name = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Publish {
    Path(String),
    Table(PublishTable),
}

/// `{ path = "out/app.jar", name = "jar" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishTable {
    path: String,
    name: String,
}

impl Fetch {
    fn parts(&self) -> (&str, String) {
        match self {
            Fetch::Reference(r) => (r, r.rsplit('/').next().unwrap_or(r).to_string()),
            Fetch::Table(t) => (&t.from, t.to.clone()),
        }
    }
}

impl Publish {
    fn parts(&self) -> (&str, String) {
        match self {
            Publish::Path(p) => (p, p.trim_end_matches('/').rsplit('/').next().unwrap_or(p).to_string()),
            Publish::Table(t) => (&t.path, t.name.clone()),
        }
    }
}

struct Shell;

/// The whole `with` table, checked by `baton check` before anything runs.
const SCHEMA: &str = r#"{
  "type": "object",
  "required": ["run"],
  "additionalProperties": false,
  "properties": {
    "run": {"oneOf": [
      {"type": "string", "description": "a command line, run with the shell"},
      {"type": "array", "items": {"oneOf": [
        {"type": "string"},
        {"type": "object", "required": ["emit"], "additionalProperties": false,
         "properties": {"emit": {"type": "string"}}},
        {"type": "object", "required": ["wait"], "additionalProperties": false,
         "properties": {"wait": {"type": "array", "items": {"type": "string"}}}}
      ]}}
    ]},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "cwd": {"type": "string"},
    "shell": {"type": "string"},
    "fetch": {"type": "array", "items": {"oneOf": [
      {"type": "string"},
      {"type": "object", "required": ["from", "to"], "additionalProperties": false,
       "properties": {"from": {"type": "string"}, "to": {"type": "string"}}}
    ]}},
    "publish": {"type": "array", "items": {"oneOf": [
      {"type": "string"},
      {"type": "object", "required": ["path", "name"], "additionalProperties": false,
       "properties": {"path": {"type": "string"}, "name": {"type": "string"}}}
    ]}}
  }
}"#;

impl Stage for Shell {
    fn describe() -> Meta {
        Meta::new("shell", env!("CARGO_PKG_VERSION"))
            .description("runs a command line with sh -c in the board workspace; fetches and publishes artifacts")
            .config_schema(SCHEMA)
    }

    fn run(step: &Step) -> Result<(), Error> {
        let config: Config = step.config()?;
        for f in &config.fetch {
            let (reference, dest) = f.parts();
            let a = artifacts::get(reference, &dest)?;
            baton_sdk::info!("fetched {} into {dest}", a.reference);
        }
        match &config.run {
            Script::One(line) => command(&config, line)?,
            Script::Many(_) => {
                for item in config.run.items() {
                    match item {
                        Item::Command(line) => command(&config, line)?,
                        Item::Emit(e) => {
                            signals::emit(&e.emit)?;
                            baton_sdk::info!("emitted {}", e.emit);
                        }
                        Item::Wait(w) => {
                            let names: Vec<&str> = w.wait.iter().map(String::as_str).collect();
                            baton_sdk::info!("waiting for {}", w.wait.join(", "));
                            signals::wait(&names)?;
                        }
                    }
                }
            }
        }
        for p in &config.publish {
            let (path, name) = p.parts();
            let a = artifacts::put(&name, path)?;
            baton_sdk::info!("published {} ({} bytes)", a.reference, a.size);
        }
        Ok(())
    }
}

/// Runs one command line of the script.
fn command(config: &Config, line: &str) -> Result<(), Error> {
    let shell = config.shell.clone().unwrap_or_else(|| "sh".into());
    // The host gives every process BATON_STEP, BATON_BOARD, BATON_ATTEMPT,
    // BATON_RUN_ID, BATON_WORKSPACE and BATON_SRC.
    let mut cmd = Command::new(&shell).arg("-c").arg(line);
    for (k, v) in &config.env {
        cmd = cmd.env(k, v);
    }
    if let Some(dir) = &config.cwd {
        cmd = cmd.cwd(dir);
    }
    let out = cmd.run()?;
    if !out.success() {
        return Err(Error::failed(format!("`{line}` {}{}", out.describe(), stderr_tail(&out.stderr_text()))));
    }
    Ok(())
}

/// `: <last lines of stderr>` or nothing.
pub fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    format!(": {}", lines[start..].join(" / "))
}

baton_sdk::export_stage!(Shell);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_forms() {
        let c: Config = serde_json::from_str(
            r#"{"run":"make","fetch":["linux.L3/gen.tar",{"from":"a.b/x","to":"y"}],"publish":["out/app.jar",{"path":"d","name":"n"}]}"#,
        )
        .expect("valid");
        assert_eq!(c.fetch[0].parts(), ("linux.L3/gen.tar", "gen.tar".to_string()));
        assert_eq!(c.fetch[1].parts(), ("a.b/x", "y".to_string()));
        assert_eq!(c.publish[0].parts(), ("out/app.jar", "app.jar".to_string()));
        assert_eq!(c.publish[1].parts(), ("d", "n".to_string()));
        assert!(serde_json::from_str::<Config>(r#"{"run":"x","rn":"y"}"#).is_err());
        let c: Config = serde_json::from_str(r#"{"run":["a",{"emit":"x"},{"wait":["b.c/y"]},"d"]}"#).expect("list");
        assert_eq!(c.run.items().len(), 4);
        assert!(matches!(c.run.items()[1], Item::Emit(_)));
        assert!(serde_json::from_str::<Config>(r#"{"run":[{"emitt":"x"}]}"#).is_err());
    }

    #[test]
    fn the_schema_is_json_and_names_every_key() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        let keys: Vec<&str> =
            schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
        assert_eq!(keys, ["cwd", "env", "fetch", "publish", "run", "shell"]);
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        assert_eq!(stderr_tail(""), "");
        assert_eq!(stderr_tail("a\n\nb\n"), ": a / b");
    }
}
