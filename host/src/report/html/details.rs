//! What folds out under a step's bar: its facts, attempts, waits,
//! artifacts and (an excerpt of) its log.

use std::fmt::Write;

use crate::report::analysis::human;
use crate::report::xml::escape;
use crate::report::{Outcome, RunReport, StepReport};
use crate::storage::log_excerpt::LogExcerpt;
use crate::units::Size;

/// A step's log as the page embeds it.
#[derive(Debug, Clone)]
pub enum EmbeddedLog {
    Excerpt(LogExcerpt),
    /// The page's budget for logs was used up by earlier steps.
    OverBudget,
    Unreadable(String),
}

pub fn render(out: &mut String, r: &RunReport, s: &StepReport, log: Option<&EmbeddedLog>) {
    out.push_str("<div class=\"more\">\n");
    facts(out, r, s);
    if let Some(e) = &s.error {
        let _ = writeln!(out, "<p class=\"error o-{}\">{}</p>", s.outcome().as_str(), escape(e));
    }
    attempts(out, s);
    waits(out, s);
    log_section(out, s, log);
    out.push_str("</div>\n");
}

fn facts(out: &mut String, r: &RunReport, s: &StepReport) {
    let mut facts = vec![format!("<b class=\"o-{}\">{}</b>", s.outcome().as_str(), s.outcome().label())];
    if let (Some(a), Some(b)) = (s.start, s.end) {
        facts.push(format!("ran from +{a:.2}s to +{b:.2}s"));
    }
    if let Some(p) = &s.pool {
        facts.push(format!("pool <code>{}</code>", escape(p)));
    }
    if s.on_failure != "halt" {
        facts.push(format!("on_failure = <code>{}</code>", escape(&s.on_failure)));
    }
    if s.always {
        facts.push("always".into());
    }
    if s.outcome() == Outcome::PreviouslyDone
        && let Some(prev) = &r.resumed_from
    {
        facts.push(format!("done in run {}", escape(prev)));
    }
    if let Some(c) = &s.cached {
        facts.push(escape(&c.describe()).to_string());
    }
    let _ = writeln!(out, "<p class=\"facts\">{}</p>", facts.join(" · "));
    if !s.deps.is_empty() {
        let deps: Vec<String> = s.deps.iter().map(|d| format!("<a href=\"#step-{0}\">{0}</a>", escape(d))).collect();
        let _ = writeln!(out, "<p class=\"facts\">after {}</p>", deps.join(", "));
    }
    if !s.artifacts.is_empty() {
        let arts: Vec<String> = s.artifacts.iter().map(|a| format!("<code>{}</code>", escape(a))).collect();
        let _ = writeln!(out, "<p class=\"facts\">published {}</p>", arts.join(", "));
    }
}

fn attempts(out: &mut String, s: &StepReport) {
    if s.attempts.is_empty() {
        return;
    }
    out.push_str(
        "<table class=\"attempts\"><thead><tr><th>attempt</th><th>ready</th><th>queued</th><th>started</th><th>ended</th><th>ran</th><th>status</th><th>error</th></tr></thead><tbody>\n",
    );
    for a in &s.attempts {
        let end = a.end.map(|e| format!("+{e:.2}s")).unwrap_or_else(|| "-".into());
        let ran = a.end.map(|e| human(e - a.start)).unwrap_or_else(|| "-".into());
        let kind = a.kind.map(|k| format!(" ({})", k.as_str())).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>+{:.2}s</td><td>{}</td><td>+{:.2}s</td><td>{end}</td><td>{ran}</td><td class=\"a-{}\">{}{kind}</td><td>{}</td></tr>",
            a.attempt,
            a.queued,
            human(a.start - a.queued),
            a.start,
            a.status.as_str(),
            a.status.as_str(),
            escape(a.error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table>\n");
}

fn waits(out: &mut String, s: &StepReport) {
    if s.waits.is_empty() {
        return;
    }
    out.push_str("<ul class=\"waits\">\n");
    for w in &s.waits {
        let until = match w.end {
            Some(e) => format!("until +{e:.2}s ({})", human(e - w.start)),
            None => "until the end".into(),
        };
        let error =
            w.error.as_deref().map(|e| format!(": <span class=\"o-failed\">{}</span>", escape(e))).unwrap_or_default();
        let _ = writeln!(
            out,
            "<li>waited on <code>{}</code> from +{:.2}s {until}{}{error}</li>",
            escape(&w.on.join(", ")),
            w.start,
            if w.slot_released { ", its job slot given back" } else { "" }
        );
    }
    out.push_str("</ul>\n");
}

fn log_section(out: &mut String, s: &StepReport, log: Option<&EmbeddedLog>) {
    let path = s.log.as_deref().map(escape);
    let path_note = path.as_ref().map(|p| format!(" Full log: <code>{p}</code>")).unwrap_or_default();
    match (log, &path) {
        (None, None) => {
            if !s.attempts.is_empty() {
                out.push_str("<p class=\"note\">The step wrote no log.</p>\n");
            }
        }
        (None, Some(_)) | (Some(EmbeddedLog::OverBudget), _) => {
            let _ = writeln!(
                out,
                "<p class=\"note\">Log not embedded: this page's room for logs is used up.{path_note}</p>"
            );
        }
        (Some(EmbeddedLog::Unreadable(e)), _) => {
            let _ = writeln!(out, "<p class=\"note\">Log not embedded: {}.{path_note}</p>", escape(e));
        }
        (Some(EmbeddedLog::Excerpt(x)), _) => {
            out.push_str("<pre class=\"log\">");
            out.push_str(&escape(&x.head));
            if x.cut_bytes > 0 {
                let _ = writeln!(
                    out,
                    "<span class=\"cut\">[… {} of {} cut here …]</span>",
                    Size(x.cut_bytes),
                    Size(x.total_bytes)
                );
                out.push_str(&escape(&x.tail));
            }
            out.push_str("</pre>\n");
            if x.cut_bytes > 0 {
                let _ = writeln!(
                    out,
                    "<p class=\"note\">Showing the first and last lines: {} of {} cut.{path_note}</p>",
                    Size(x.cut_bytes),
                    Size(x.total_bytes)
                );
            } else if let Some(p) = &path {
                let _ = writeln!(out, "<p class=\"note\">Log: <code>{p}</code></p>");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{run, step};

    fn details(s: &StepReport, log: Option<&EmbeddedLog>) -> String {
        let r = run(vec![s.clone()], &[], 5.0);
        let mut out = String::new();
        render(&mut out, &r, s, log);
        out
    }

    #[test]
    fn the_log_is_escaped_and_says_how_much_was_cut() {
        let mut s = step("l.a", "failed", &[(0.0, 0.0, 1.0, "failed")]);
        s.log = Some("/runs/x/logs/l.a.log".into());
        let log = EmbeddedLog::Excerpt(LogExcerpt {
            head: "    0.001 stdout | <b>bold</b>\n".into(),
            tail: "    0.900 stderr | done & dusted\n".into(),
            total_bytes: 3 * 1024 * 1024,
            cut_bytes: 3 * 1024 * 1024 - 64,
        });
        let html = details(&s, Some(&log));
        assert!(html.contains("stdout | &lt;b&gt;bold&lt;/b&gt;\n<span class=\"cut\">[… "), "{html}");
        assert!(html.contains("stderr | done &amp; dusted\n</pre>"), "{html}");
        assert!(
            html.contains("of 3MiB cut.") && html.contains("Full log: <code>/runs/x/logs/l.a.log</code>"),
            "{html}"
        );
        assert!(html.contains("<p class=\"error o-failed\">l.a went wrong</p>"), "{html}");
    }

    #[test]
    fn attempts_and_waits_are_listed() {
        let mut s = step("l.a", "ok", &[(0.0, 0.5, 1.0, "failed"), (2.0, 2.0, 3.0, "ok")]);
        s.waits.push(crate::report::WaitReport {
            on: vec!["w.x/ready".into()],
            start: 2.25,
            end: Some(2.75),
            error: None,
            slot_released: true,
        });
        let html = details(&s, None);
        assert_eq!(html.matches("<tr><td>").count(), 2, "{html}");
        assert!(html.contains("<tr><td>1</td><td>+0.00s</td><td>500ms</td><td>+0.50s</td><td>+1.00s</td><td>500ms</td><td class=\"a-failed\">failed (stage)</td><td>attempt 1 of l.a failed</td></tr>"), "{html}");
        assert!(
            html.contains(
                "waited on <code>w.x/ready</code> from +2.25s until +2.75s (500ms), its job slot given back</li>"
            ),
            "{html}"
        );
        assert!(html.contains("The step wrote no log."));
    }

    #[test]
    fn a_log_over_the_budget_points_to_the_file() {
        let mut s = step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")]);
        s.log = Some("/l.a.log".into());
        let html = details(&s, Some(&EmbeddedLog::OverBudget));
        assert!(html.contains("room for logs is used up. Full log: <code>/l.a.log</code>"), "{html}");
    }
}
