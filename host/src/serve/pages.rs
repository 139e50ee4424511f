//! The server-rendered pages: complete without script (a finished run reads
//! the same with JavaScript off); `serve.js` only keeps them current from
//! the page's event stream. Every string a run produced (names, errors,
//! log lines, artifact names) goes through [`escape`]; what the script
//! needs travels in `data-` attributes, never in inline script.

use std::fmt::Write;

use super::junit::Case;
use super::model::{RunView, State};
use crate::report::analysis::human;
use crate::report::xml::escape;
use crate::status::StepStatus;
use crate::storage::run_info::{RunInfo, RunState};
use crate::storage::runs::utc_datetime;
use crate::text::escape_line;

/// Lines of a failed step's log shown under its failure.
pub const FAILURE_TAIL: usize = 20;

/// Runs per page of the history.
pub const PER_PAGE: usize = 50;

fn head(out: &mut String, title: &str, body_attrs: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<link rel=\"stylesheet\" href=\"/assets/page.css\">\n<script src=\"/assets/serve.js\" defer></script>\n</head>\n<body{body_attrs}>\n",
        escape(title)
    );
}

fn foot(out: &mut String) {
    let _ = write!(
        out,
        "<footer>baton {} · <a href=\"/\">all runs</a></footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
}

/// `/`: the runs, newest first; `where_` says local or cluster per run.
pub fn runs(infos: &[(RunInfo, &'static str)], page: usize, pages: usize) -> String {
    let mut out = String::with_capacity(8192);
    head(&mut out, "baton runs", "");
    out.push_str("<header><h1>Runs</h1>\n");
    let _ =
        writeln!(out, "<p class=\"facts\">newest first · page {} of {}</p></header>\n<main>", page + 1, pages.max(1));
    out.push_str("<table class=\"runs\"><thead><tr><th>run</th><th>pipeline</th><th>status</th><th>started (UTC)</th><th>duration</th><th>steps</th><th>where</th></tr></thead><tbody>\n");
    for (i, where_) in infos {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"/runs/{id}\">{id}</a></td><td>{}</td><td><span class=\"badge s-{st}\">{st}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{where_}</td></tr>",
            escape(&i.pipeline),
            i.started_unix.map(utc_datetime).unwrap_or_else(|| "-".into()),
            i.duration.map(human).unwrap_or_else(|| "-".into()),
            escape(&i.step_counts()),
            id = escape(&i.id),
            st = i.status.as_str(),
        );
    }
    out.push_str("</tbody></table>\n<p class=\"pager\">");
    if page > 0 {
        let _ = write!(out, "<a href=\"/?page={}\">newer</a> ", page - 1);
    }
    if page + 1 < pages {
        let _ = write!(out, "<a href=\"/?page={}\">older</a>", page + 1);
    }
    out.push_str("</p>\n</main>\n");
    foot(&mut out);
    out
}

fn live(v: &RunView) -> bool {
    v.status == RunState::Running
}

/// `/runs/{id}`: header, failures first with their log tails, the board ×
/// step grid, artifacts.
pub fn run(v: &RunView, tails: &[(String, Vec<String>)], tests: &[(String, Vec<Case>)]) -> String {
    let mut out = String::with_capacity(16 * 1024 + v.steps.len() * 200);
    let id = escape(&v.id);
    let attrs = format!(
        " class=\"s-{}\" data-run=\"{id}\" data-live=\"{}\" data-seq=\"{}\" data-start=\"{}\"",
        v.status.as_str(),
        u8::from(live(v)),
        v.seq,
        v.started_unix.unwrap_or(0.0)
    );
    head(&mut out, &format!("{} · run {} · {}", v.pipeline, v.id, v.status.as_str()), &attrs);
    header(&mut out, v);
    out.push_str("<main>\n");
    let failed: Vec<_> = v
        .steps
        .iter()
        .filter(|s| matches!(s.state, State::Done { status: StepStatus::Failed | StepStatus::Forgiven, .. }))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "<section id=\"failures\"><h2>Failures ({})</h2>", failed.len());
        for s in failed {
            let _ = write!(
                out,
                "<div class=\"failure\"><h3><a href=\"{}\">{}</a> <span class=\"o-{cls}\">{}</span></h3>",
                log_href(&v.id, &s.id),
                escape(&s.id),
                escape(&s.state.label()),
                cls = s.state.class()
            );
            if let Some(e) = &s.error {
                let _ = write!(out, "<p class=\"error\">{}</p>", escape(&escape_line(e)));
            }
            if let Some((_, lines)) = tails.iter().find(|(id, _)| *id == s.id) {
                out.push_str("<pre class=\"log\">");
                for l in lines {
                    out.push_str(&escape(l));
                    out.push('\n');
                }
                out.push_str("</pre>");
            }
            out.push_str("</div>\n");
        }
        out.push_str("</section>\n");
    }
    grid(&mut out, v);
    test_results(&mut out, tests);
    artifacts(&mut out, v);
    out.push_str("</main>\n");
    foot(&mut out);
    out
}

fn header(out: &mut String, v: &RunView) {
    let elapsed = v.duration.unwrap_or(v.last_at);
    let _ = write!(
        out,
        "<header><h1>{} <small>run {}</small> <span class=\"badge s-{st}\" id=\"status\">{st}</span></h1>\n<p class=\"facts\">started <b>{}</b> UTC · elapsed <b id=\"elapsed\">{}</b> · slots <b id=\"slots\">{}</b>",
        escape(&v.pipeline),
        escape(&v.id),
        v.started_unix.map(utc_datetime).unwrap_or_else(|| "-".into()),
        human(elapsed),
        slots(v),
        st = v.status.as_str(),
    );
    if !v.workers.is_empty() {
        let names: Vec<String> = v.workers.iter().map(|w| escape(w)).collect();
        let _ = write!(out, " · workers <b>{}</b>", names.join(", "));
    }
    out.push_str("</p>\n<p class=\"facts\" id=\"counts\">");
    out.push_str(&escape(&counts(v)));
    out.push_str("</p>\n</header>\n");
}

/// `2 of 4 in use`.
pub fn slots(v: &RunView) -> String {
    match v.jobs {
        Some(j) => format!("{} of {j} in use", v.running()),
        None => format!("{} in use", v.running()),
    }
}

/// `3 ok · 1 running · 2 waiting on deps`.
pub fn counts(v: &RunView) -> String {
    let words = |c: &str| {
        match c {
            "deps" => "waiting on deps",
            "waiting" => "waiting on a signal",
            "previously_done" => "previously done",
            other => other,
        }
        .to_string()
    };
    let mut parts: Vec<String> = v.counts().into_iter().map(|(c, n)| format!("{n} {}", words(c))).collect();
    if parts.is_empty() {
        parts.push("no steps yet".into());
    }
    parts.join(" · ")
}

pub fn log_href(run: &str, step: &str) -> String {
    format!("/runs/{}/log?step={}", escape(run), escape(&query_escape(step)))
}

/// Percent-encodes everything but unreserved characters.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The text a grid cell shows under the step's name.
pub fn cell_note(state: &State) -> String {
    match state {
        State::Running { .. } => "running".into(),
        other => other.label(),
    }
}

fn grid(out: &mut String, v: &RunView) {
    out.push_str("<section id=\"grid\"><h2>Steps</h2>\n<div class=\"grid\">\n");
    for board in v.boards() {
        let _ = write!(out, "<div class=\"gboard\"><div class=\"gname\">{}</div><div class=\"gcells\">", escape(board));
        for s in v.steps.iter().filter(|s| s.board == board) {
            let since = match &s.state {
                State::Running { since } | State::Waiting { since, .. } => format!(" data-since=\"{since}\""),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<a class=\"cell c-{}\" id=\"step-{}\" href=\"{}\" title=\"{}\"{since}><span class=\"cname\">{}</span><span class=\"cnote\">{}</span></a>",
                s.state.class(),
                escape(&s.id),
                log_href(&v.id, &s.id),
                escape(&s.id),
                escape(&s.name),
                escape(&cell_note(&s.state)),
            );
        }
        out.push_str("</div></div>\n");
    }
    out.push_str("</div>\n");
    if !v.complete {
        out.push_str(
            "<p class=\"note\">The pipeline file no longer loads: steps appear as the run reaches them.</p>\n",
        );
    }
    out.push_str("</section>\n");
}

/// One table per JUnit file the run published, failures first.
fn test_results(out: &mut String, tests: &[(String, Vec<Case>)]) {
    if tests.is_empty() {
        return;
    }
    out.push_str("<section id=\"tests\"><h2>Test results</h2>\n");
    for (reference, cases) in tests {
        let failed = cases.iter().filter(|c| matches!(c.outcome, "failed" | "error")).count();
        let _ = writeln!(
            out,
            "<h3>{} <span class=\"note\">{} tests, {failed} failed</span></h3>",
            escape(reference),
            cases.len()
        );
        out.push_str("<table class=\"tests\"><thead><tr><th>outcome</th><th>test</th><th>class</th><th>time</th><th>message</th></tr></thead><tbody>\n");
        for c in cases {
            let cls = match c.outcome {
                "failed" | "error" => "a-failed",
                "passed" => "a-ok",
                _ => "a-cancelled",
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"{cls}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.outcome,
                escape(&escape_line(&c.name)),
                escape(&escape_line(&c.class)),
                c.seconds.map(|s| format!("{s:.3}s")).unwrap_or_default(),
                escape(&escape_line(&c.message)),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</section>\n");
}

fn artifacts(out: &mut String, v: &RunView) {
    let _ = writeln!(out, "<section id=\"artifacts\"><h2>Artifacts ({})</h2>", v.artifacts.len());
    if v.artifacts.is_empty() {
        out.push_str("<p class=\"note\">none</p></section>\n");
        return;
    }
    out.push_str("<table><thead><tr><th>artifact</th><th>kind</th><th>size</th><th>digest</th></tr></thead><tbody>\n");
    for a in &v.artifacts {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"/runs/{}/artifact?ref={}\">{}</a></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&v.id),
            escape(&query_escape(&a.reference)),
            escape(&a.reference),
            if a.kind == crate::storage::artifacts::Kind::File { "file" } else { "directory (tar)" },
            crate::units::Size(a.size),
            escape(&a.digest),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

/// `/runs/{id}/log?step=…`: the last lines of a step's log (already masked
/// when written; control characters shown escaped, as `baton logs` does),
/// then live lines.
pub fn log(v: &RunView, step: &str, lines: &[String], cut: bool, offset: u64) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 4096);
    let state = v.step(step).map(|s| s.state.clone()).unwrap_or(State::WaitingDeps);
    let attrs = format!(
        " class=\"logpage\" data-run=\"{}\" data-live=\"{}\" data-seq=\"{}\" data-step=\"{}\" data-offset=\"{offset}\"",
        escape(&v.id),
        u8::from(live(v)),
        v.seq,
        escape(step)
    );
    head(&mut out, &format!("{step} · run {}", v.id), &attrs);
    let _ = write!(
        out,
        "<header><h1>{} <small>run <a href=\"/runs/{id}\">{id}</a></small> <span class=\"badge s-{}\" id=\"status\">{}</span></h1>\n<p class=\"facts\"><a href=\"/runs/{id}/raw?step={}\">raw log</a>",
        escape(step),
        state.class(),
        escape(&state.label()),
        escape(&query_escape(step)),
        id = escape(&v.id),
    );
    if cut {
        let _ = write!(out, " · only the last {} lines are shown here", lines.len());
    }
    out.push_str("</p></header>\n<main>\n<pre class=\"log live\" id=\"log\">");
    for l in lines {
        out.push_str(&escape(l));
        out.push('\n');
    }
    out.push_str("</pre>\n</main>\n");
    foot(&mut out);
    out
}

/// A page for a refusal or a missing thing (status set by the caller).
pub fn message(title: &str, text: &str) -> String {
    let mut out = String::new();
    head(&mut out, title, "");
    let _ = write!(out, "<header><h1>{}</h1></header>\n<main><p>{}</p></main>\n", escape(title), escape(text));
    foot(&mut out);
    out
}
