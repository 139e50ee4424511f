//! The top of the page: what ran and how it ended, why it took as long as
//! it did (the critical path and where its time went, queues by pool), and
//! the combined failure report.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::analysis::{self, breakdown, human};
use crate::report::xml::escape;
use crate::report::{Outcome, RunReport};
use crate::storage::runs::utc_datetime;

/// Steps of a long critical path listed at each end.
const PATH_ENDS: usize = 5;

pub fn header(out: &mut String, r: &RunReport) {
    let _ = writeln!(
        out,
        "<header><h1>{} <span class=\"badge s-{}\">{}</span>{}</h1>",
        escape(&r.pipeline),
        r.status.as_str(),
        r.status.as_str(),
        match r.kind {
            crate::plan::operator::RunKind::Try => " <span class=\"badge try\">try</span>",
            crate::plan::operator::RunKind::Untrusted => " <span class=\"badge untrusted\">untrusted</span>",
            crate::plan::operator::RunKind::Normal => "",
        }
    );
    let mut counts = Vec::new();
    for o in Outcome::ALL {
        let n = r.steps.iter().filter(|s| s.outcome() == o).count();
        if n > 0 {
            counts.push(format!("<span class=\"o-{}\">{n} {}</span>", o.as_str(), o.label()));
        }
    }
    let _ = writeln!(
        out,
        "<p class=\"facts\">run <code>{}</code> · started <time datetime=\"{}Z\">{} UTC</time> · took <b>{}</b> · {} jobs · {} steps: {}</p>",
        escape(&r.run_id),
        utc_datetime(r.started_unix).replace(' ', "T"),
        utc_datetime(r.started_unix),
        human(r.duration),
        r.jobs,
        r.steps.len(),
        counts.join(", ")
    );
    let mut more = format!("pipeline file <code>{}</code>", escape(&r.file));
    if let Some(prev) = &r.resumed_from {
        let _ = write!(more, " · resumed from run <code>{}</code>", escape(prev));
    }
    if let Some(t) = &r.try_run {
        let _ = write!(
            more,
            " · try of patch <code>sha256:{}</code> on <code>{}</code>, {} file(s) changed",
            escape(&t.patch_sha256),
            escape(&t.base),
            t.files.len()
        );
        if !t.ignored.is_empty() {
            let shown: Vec<String> = t.ignored.iter().map(|f| format!("<code>{}</code>", escape(f))).collect();
            let _ = write!(more, " · these changes to the pipeline are not used in a try run: {}", shown.join(", "));
        }
    }
    let _ = writeln!(out, "<p class=\"facts\">{more}</p></header>");
}

/// The critical path, where its time went, and queueing by pool.
pub fn why(out: &mut String, r: &RunReport) {
    out.push_str("<section id=\"why\"><h2>Why it took ");
    out.push_str(&human(r.duration));
    out.push_str("</h2>\n");
    let cp = analysis::critical_path(r);
    if cp.steps.is_empty() {
        out.push_str("<p>No step ran.</p></section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>The <b>critical path</b> (each step waiting on the one before it) took <b>{}</b>: {}.</p>",
        human(cp.total.total()),
        escape(&cp.explain())
    );
    out.push_str("<ol class=\"path\">\n");
    let n = cp.steps.len();
    for (i, (s, b)) in cp.steps.iter().enumerate() {
        if n > 2 * PATH_ENDS + 1 && i >= PATH_ENDS && i < n - PATH_ENDS {
            if i == PATH_ENDS {
                let _ = writeln!(
                    out,
                    "<li class=\"gap\">… {} more steps (the timeline's “critical path” filter shows them all)</li>",
                    n - 2 * PATH_ENDS
                );
            }
            continue;
        }
        let mut parts = vec![format!("ran {}", human(b.running))];
        if b.queued > 0.0005 {
            let pool = s.pool.as_deref().map(|p| format!(" (pool <code>{}</code>)", escape(p))).unwrap_or_default();
            parts.push(format!("queued {}{pool}", human(b.queued)));
        }
        if b.waiting > 0.0005 {
            let on: Vec<String> = s.waits.iter().flat_map(|w| w.on.iter().cloned()).collect();
            parts.push(format!("waited {} on <code>{}</code>", human(b.waiting), escape(&on.join(", "))));
        }
        if b.backoff > 0.0005 {
            parts.push(format!("{} in retry backoff", human(b.backoff)));
        }
        let _ = writeln!(
            out,
            "<li value=\"{}\"><a href=\"#step-{1}\" class=\"o-{2}\">{1}</a> {3}</li>",
            i + 1,
            escape(&s.id),
            s.outcome().as_str(),
            parts.join(", ")
        );
    }
    out.push_str("</ol>\n");
    queues(out, r);
    out.push_str("</section>\n");
}

/// Time steps spent queued, per pool, and in waits: where parallelism was lost.
fn queues(out: &mut String, r: &RunReport) {
    let mut by_pool: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    let mut waits = (0usize, 0.0f64);
    for s in &r.steps {
        let b = breakdown(s);
        if b.queued > 0.0005 {
            let e = by_pool.entry(s.pool.as_deref().unwrap_or("")).or_default();
            e.0 += 1;
            e.1 += b.queued;
        }
        if b.waiting > 0.0005 {
            waits.0 += 1;
            waits.1 += b.waiting;
        }
    }
    // Leave out what is too small to explain anything.
    let worth = (r.duration * 0.01).max(0.01);
    by_pool.retain(|_, (_, secs)| *secs >= worth);
    if waits.1 < worth {
        waits.0 = 0;
    }
    if by_pool.is_empty() && waits.0 == 0 {
        return;
    }
    out.push_str("<ul class=\"queues\">\n");
    for (pool, (n, secs)) in by_pool {
        let what = if pool.is_empty() {
            "a job slot (<code>jobs</code>)".to_string()
        } else {
            format!("a job slot or a slot of pool <code>{}</code>", escape(pool))
        };
        let _ = writeln!(
            out,
            "<li>{n} step{} queued {} in all for {what}</li>",
            if n == 1 { "" } else { "s" },
            human(secs)
        );
    }
    if waits.0 > 0 {
        let _ = writeln!(
            out,
            "<li>{} step{} waited {} in all on signals or artifacts (giving their job slots back)</li>",
            waits.0,
            if waits.0 == 1 { "" } else { "s" },
            human(waits.1)
        );
    }
    out.push_str("</ul>\n");
}

/// The combined failure report.
pub fn failures(out: &mut String, r: &RunReport) {
    if r.failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "<section id=\"failures\"><h2>Failures ({})</h2>", r.failures.len());
    for f in &r.failures {
        let class = if f.forgiven { "forgiven" } else { "failed" };
        let forgiven = if f.forgiven { " <span class=\"pill\">forgiven</span>" } else { "" };
        let kind = f.kind.map(|k| format!(" ({})", k.as_str())).unwrap_or_default();
        let _ = writeln!(
            out,
            "<div class=\"failure o-{class}\"><h3><a href=\"#step-{0}\">{0}</a> attempt {1}{kind}{forgiven}</h3><p class=\"error\">{2}</p>",
            escape(&f.step),
            f.attempt,
            escape(&f.error)
        );
        if !f.log_tail.is_empty() {
            out.push_str("<pre class=\"log\">");
            for line in &f.log_tail {
                out.push_str(&escape(line));
                out.push('\n');
            }
            out.push_str("</pre>");
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

/// What happened to the run that no attempt shows (see [`RunReport::notes`]).
pub fn notes(out: &mut String, r: &RunReport) {
    if r.notes.is_empty() {
        return;
    }
    let _ = writeln!(out, "<section id=\"notes\"><h2>Notes ({})</h2>\n<ul class=\"notes\">", r.notes.len());
    for n in &r.notes {
        let _ = writeln!(out, "<li>{}</li>", escape(n));
    }
    out.push_str("</ul></section>\n");
}

/// How each plugin was loaded.
pub fn plugins(out: &mut String, r: &RunReport) {
    if r.plugins.is_empty() {
        return;
    }
    out.push_str("<section id=\"plugins\"><h2>Plugins</h2><table><thead><tr><th>plugin</th><th>contract</th><th>size</th><th>digest</th><th>loaded</th></tr></thead><tbody>\n");
    for p in &r.plugins {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>baton:stage@{}</td><td>{}</td><td><code title=\"{}\">{}</code></td><td>{} in {}</td></tr>",
            escape(&p.name),
            escape(&p.contract),
            crate::units::Size(p.size),
            escape(&p.digest),
            escape(p.digest.get(..12).unwrap_or(&p.digest)),
            if p.cache == "hit" { "from the compile cache" } else { "compiled" },
            human(p.seconds)
        );
    }
    out.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{run, step};

    #[test]
    fn why_lists_the_path_and_where_steps_queued() {
        let mut a = step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")]);
        a.pool = Some("fg".into());
        let mut b = step("l.b", "ok", &[(1.0, 3.0, 4.0, "ok")]);
        b.pool = Some("fg".into());
        let r = run(vec![a, b], &["l.a", "l.b"], 4.0);
        let mut html = String::new();
        why(&mut html, &r);
        assert!(html.contains("<h2>Why it took 4s</h2>"), "{html}");
        assert!(html.contains("took <b>4s</b>: 2s running, 2s queued for a job slot or pool."), "{html}");
        assert!(html.contains("<li value=\"2\"><a href=\"#step-l.b\" class=\"o-ok\">l.b</a> ran 1s, queued 2s (pool <code>fg</code>)</li>"), "{html}");
        assert!(
            html.contains("<li>1 step queued 2s in all for a job slot or a slot of pool <code>fg</code></li>"),
            "{html}"
        );
    }

    #[test]
    fn a_long_critical_path_is_cut_in_the_middle() {
        let steps: Vec<_> =
            (0..30).map(|i| step(&format!("b.s{i}"), "ok", &[(i as f64, i as f64, i as f64 + 1.0, "ok")])).collect();
        let path: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let mut html = String::new();
        why(&mut html, &run(steps.clone(), &path, 30.0));
        assert_eq!(html.matches("<li value=").count(), 2 * PATH_ENDS);
        assert!(html.contains("<li class=\"gap\">… 20 more steps"), "{html}");
        assert!(html.contains("<li value=\"30\"><a href=\"#step-b.s29\""), "{html}");
    }
}
