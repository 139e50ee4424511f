//! The report files `baton run` leaves in the run directory, next to
//! `report.json` (which the scheduler always writes): `report.html` for runs
//! of up to [`AUTO_HTML_STEPS`] steps (what a person opens first) and for any
//! run when asked for, `junit.xml` when asked for. With
//! `--report-dir`, the requested reports are also copied to that directory,
//! under fixed names that CI configurations can point at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::report::html::{self, EmbeddedLog};
use crate::report::{RunReport, junit};
use crate::storage::atomic;
use crate::storage::log_excerpt;

/// Start and end of each step log embedded in the page…
const LOG_HEAD: usize = 8 * 1024;
const LOG_TAIL: usize = 24 * 1024;
/// …and all logs together at most (later steps' logs are not embedded).
const LOG_BUDGET: usize = 16 * 1024 * 1024;

/// Runs with more steps get `report.html` only with `--report html`: the page
/// grows by about 1 KiB per step (10 MB for 10,000 steps), costs about 12 µs
/// per step to render, and a browser takes seconds to lay it out.
pub const AUTO_HTML_STEPS: usize = 2000;

/// A report `--report` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The JSON report on stdout (as `--json`); `report.json` is always written.
    Json,
    /// `junit.xml`: one test case per step, for CI systems.
    Junit,
    /// `report.html`: the timeline, graph, failures and logs (written by
    /// default for runs of up to 2,000 steps).
    Html,
}

/// A report file written.
#[derive(Debug)]
pub struct Written {
    pub what: &'static str,
    pub path: PathBuf,
}

/// Writes the reports of `r`; returns what was written, and one message per
/// report that could not be.
pub fn write(r: &RunReport, formats: &[Format], copy_to: Option<&Path>) -> (Vec<Written>, Vec<String>) {
    let run_dir = Path::new(&r.log_dir).parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut files: Vec<(&'static str, &'static str, String)> = Vec::new();
    if formats.contains(&Format::Html) || r.steps.len() <= AUTO_HTML_STEPS {
        files.push(("html report", "report.html", html::render(r, &embedded_logs(r))));
    }
    if formats.contains(&Format::Junit) {
        files.push(("junit report", "junit.xml", junit::render(r)));
    }
    let mut written = Vec::new();
    let mut errors = Vec::new();
    for (what, name, text) in &files {
        let path = run_dir.join(name);
        match atomic::write(&path, text.as_bytes(), atomic::Sync::Derived) {
            Ok(()) => written.push(Written { what, path }),
            Err(e) => errors.push(format!("cannot write {}: {e}", path.display())),
        }
    }
    if let Some(dir) = copy_to {
        let mut copies: Vec<(&'static str, &'static str, &[u8])> = Vec::new();
        for (what, name, text) in &files {
            let asked = match *name {
                "report.html" => formats.contains(&Format::Html),
                _ => true,
            };
            if asked {
                copies.push((what, name, text.as_bytes()));
            }
        }
        let json = std::fs::read(run_dir.join("report.json"));
        if formats.contains(&Format::Json) {
            match &json {
                Ok(bytes) => copies.push(("json report", "report.json", bytes)),
                Err(e) => errors.push(format!("cannot read {}: {e}", run_dir.join("report.json").display())),
            }
        }
        for (what, name, bytes) in copies {
            let path = dir.join(name);
            match atomic::write(&path, bytes, atomic::Sync::Derived) {
                Ok(()) => written.push(Written { what, path }),
                Err(e) => errors.push(format!("--report-dir: cannot write {}: {e}", path.display())),
            }
        }
    }
    (written, errors)
}

/// An excerpt of each step's log, within the page's budget.
fn embedded_logs(r: &RunReport) -> HashMap<String, EmbeddedLog> {
    let mut logs = HashMap::new();
    let mut used = 0usize;
    for s in &r.steps {
        let Some(path) = &s.log else { continue };
        let entry = if used >= LOG_BUDGET {
            EmbeddedLog::OverBudget
        } else {
            match log_excerpt::read(Path::new(path), LOG_HEAD, LOG_TAIL) {
                Ok(x) => {
                    used += x.len();
                    EmbeddedLog::Excerpt(x)
                }
                Err(e) => EmbeddedLog::Unreadable(e.to_string()),
            }
        };
        logs.insert(s.id.clone(), entry);
    }
    logs
}
