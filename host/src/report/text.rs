//! The end-of-run summary for people: a table of steps, the critical path,
//! and one combined failure report with the tail of each failing log.

use std::fmt::Write;

use super::RunReport;
use crate::plan::units::Human;

fn secs(s: f64) -> String {
    Human(std::time::Duration::from_secs_f64(s.max(0.0))).to_string()
}

/// Renders the summary (no colour; callers may add it).
pub fn summary(r: &RunReport) -> String {
    let mut out = String::new();
    let width = r.steps.iter().map(|s| s.id.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(out, "{:<width$}  {:<8}  {:>8}  {:>9}", "step", "status", "attempts", "duration");
    for s in &r.steps {
        let status = if s.previously_done {
            "done*"
        } else if s.forgiven {
            "forgiven"
        } else {
            s.status.as_str()
        };
        let dur = match (s.start, s.end) {
            (Some(a), Some(b)) => secs(b - a),
            _ => "-".into(),
        };
        let _ = writeln!(out, "{:<width$}  {:<8}  {:>8}  {:>9}", s.id, status, s.attempts.len(), dur);
    }
    if r.steps.iter().any(|s| s.previously_done) {
        let _ = writeln!(out, "(* previously done in run {})", r.resumed_from.as_deref().unwrap_or("?"));
    }
    if !r.critical_path.is_empty() {
        let _ = writeln!(out, "critical path ({}): {}", secs(r.critical_path_seconds), r.critical_path.join(" -> "));
    }
    if !r.failures.is_empty() {
        let _ = writeln!(out, "\nfailures ({}):", r.failures.len());
        for f in &r.failures {
            let forgiven = if f.forgiven { " [forgiven]" } else { "" };
            let _ = writeln!(out, "  {} (attempt {}){forgiven}: {}", f.step, f.attempt, f.error);
            for line in &f.log_tail {
                let _ = writeln!(out, "      | {line}");
            }
        }
    }
    let counts = count(r);
    let _ = writeln!(out, "\nrun {} {} in {} ({counts})", r.run_id, r.status, secs(r.duration));
    let _ = writeln!(out, "logs: {}", r.log_dir);
    out
}

fn count(r: &RunReport) -> String {
    let mut parts = Vec::new();
    for (label, pred) in [
        (
            "ok",
            &(|s: &super::StepReport| s.status == "ok" && !s.previously_done) as &dyn Fn(&super::StepReport) -> bool,
        ),
        ("previously done", &|s| s.previously_done),
        ("failed", &|s| s.status == "failed" && !s.forgiven),
        ("forgiven", &|s| s.forgiven),
        ("skipped", &|s| s.status == "skipped"),
    ] {
        let n = r.steps.iter().filter(|s| pred(s)).count();
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    parts.join(", ")
}
