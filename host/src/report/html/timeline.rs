//! The Gantt chart: one row per step, grouped by board. Each row is a
//! `<details>` whose summary holds the step's bar and whose body holds the
//! step's attempts, waits and log, so that the log folds out under its bar
//! without any script.
//!
//! A bar (`.bar[data-step]`) spans from when the step first became ready to
//! its end; inside it, per attempt, a light segment for the time queued for
//! a job slot or pool and a coloured one for the run (a thin line between
//! attempts for the retry backoff), with hatched segments for signal and
//! artifact waits. Steps on the critical path are outlined. On a cluster,
//! a legend names the workers, each bar says which worker ran the step
//! (`data-worker`), and each attempt is underlined in its worker's colour
//! (see [`super::workers`]).
//! Positions are percentages of the run's length, so the chart needs no
//! script to lay out.

use crate::status::AttemptStatus;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use super::details::{self, EmbeddedLog};
use super::workers::Workers;
use crate::report::analysis::{breakdown, human};
use crate::report::xml::escape;
use crate::report::{AttemptReport, Outcome, RunReport, StepReport};

/// Ticks on the time axis: at most this many.
const MAX_TICKS: f64 = 12.0;

/// The timeline section.
pub fn render(out: &mut String, r: &RunReport, logs: &HashMap<String, EmbeddedLog>) {
    let scale = Scale::of(r);
    let critical: HashSet<&str> = r.critical_path.iter().map(String::as_str).collect();
    let workers = Workers::of(r);
    workers.legend(out, r);
    let _ = writeln!(out, "<div class=\"timeline\" data-show=\"all\" style=\"--tick: {:.4}%\">", scale.pct(scale.tick));
    axis(out, &scale);
    let mut boards: Vec<&str> = Vec::new();
    for s in &r.steps {
        if !boards.contains(&s.board.as_str()) {
            boards.push(&s.board);
        }
    }
    for board in boards {
        let steps: Vec<&StepReport> = r.steps.iter().filter(|s| s.board == board).collect();
        board_header(out, board, &steps);
        for s in steps {
            row(out, r, s, &scale, critical.contains(s.id.as_str()), logs, &workers);
        }
    }
    out.push_str("</div>\n");
}

/// Maps run seconds to percentages of the chart's width.
struct Scale {
    /// Seconds the chart spans.
    span: f64,
    /// Seconds between ticks.
    tick: f64,
}

impl Scale {
    fn of(r: &RunReport) -> Scale {
        let last = r.steps.iter().filter_map(|s| s.end).fold(r.duration, f64::max).max(0.001);
        let tick = [
            0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
            3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
        ]
        .into_iter()
        .find(|t| last / t <= MAX_TICKS)
        .unwrap_or(last / MAX_TICKS);
        Scale { span: last, tick }
    }

    fn pct(&self, seconds: f64) -> f64 {
        (seconds / self.span * 100.0).clamp(0.0, 100.0)
    }
}

fn axis(out: &mut String, scale: &Scale) {
    out.push_str("<div class=\"axis\"><span class=\"name\">step</span><span class=\"track\">");
    let mut t = 0.0;
    while t <= scale.span + 1e-9 {
        let _ = write!(
            out,
            "<span class=\"tick\" style=\"left:{:.4}%\">{}</span>",
            scale.pct(t),
            if t == 0.0 { "0".to_string() } else { human(t) }
        );
        t += scale.tick;
    }
    out.push_str("</span><span class=\"dur\">duration</span></div>\n");
}

fn board_header(out: &mut String, board: &str, steps: &[&StepReport]) {
    let failed = steps.iter().filter(|s| s.outcome().fails_run()).count();
    let busy: f64 = steps.iter().map(|s| breakdown(s).running).sum();
    let _ = writeln!(
        out,
        "<div class=\"board\"><span class=\"name\">{}</span><span class=\"facts\">{} step{}{} · running {}</span></div>",
        escape(board),
        steps.len(),
        if steps.len() == 1 { "" } else { "s" },
        if failed > 0 { format!(" · <b class=\"o-failed\">{failed} failed</b>") } else { String::new() },
        human(busy)
    );
}

fn row(
    out: &mut String,
    r: &RunReport,
    s: &StepReport,
    scale: &Scale,
    crit: bool,
    logs: &HashMap<String, EmbeddedLog>,
    workers: &Workers,
) {
    let outcome = s.outcome();
    let problem = matches!(outcome, Outcome::Failed | Outcome::Cancelled | Outcome::Forgiven) || s.attempts.len() > 1;
    let mut classes = vec!["row".to_string(), format!("o-{}", outcome.as_str())];
    if crit {
        classes.push("crit".into());
    }
    if problem {
        classes.push("problem".into());
    }
    let open = if matches!(outcome, Outcome::Failed | Outcome::Cancelled) { " open" } else { "" };
    let _ = write!(
        out,
        "<details class=\"{}\" id=\"step-{}\"{open}><summary><span class=\"name\" title=\"{}\">",
        classes.join(" "),
        escape(&s.id),
        escape(&s.id)
    );
    let _ = write!(out, "{}", escape(s.name()));
    if crit {
        out.push_str(" <span class=\"pill crit\" title=\"on the critical path\">critical</span>");
    }
    if s.attempts.len() > 1 {
        let _ = write!(out, " <span class=\"pill\">{} attempts</span>", s.attempts.len());
    }
    // On a cluster: where it ran (`baton run --nats`).
    if let Some(worker) = s.attempts.last().and_then(|a| a.worker.as_deref()) {
        let class = workers.class(worker);
        let _ = write!(out, " <span class=\"pill worker {class}\" title=\"cluster worker\">{}</span>", escape(worker));
    }
    out.push_str("</span><span class=\"track\">");
    bar(out, r, s, scale, crit, workers);
    let dur = s.seconds().map(human).unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "</span><span class=\"dur\">{dur}</span></summary>");
    details::render(out, r, s, logs.get(&s.id));
    out.push_str("</details>\n");
}

fn bar(out: &mut String, r: &RunReport, s: &StepReport, scale: &Scale, crit: bool, workers: &Workers) {
    let outcome = s.outcome();
    let crit_class = if crit { " crit" } else { "" };
    let (Some(first), Some(end)) = (s.attempts.first(), s.end) else {
        // Did not run: the bar is a labelled placeholder across the track.
        let why = match outcome {
            Outcome::PreviouslyDone => format!("previously done in run {}", r.resumed_from.as_deref().unwrap_or("?")),
            Outcome::Cached => s.cached.as_ref().map_or("cached".into(), |c| c.describe()),
            Outcome::Ok => "sync point".into(),
            _ => format!("{}: {}", outcome.label(), s.error.as_deref().unwrap_or("not run")),
        };
        // A sync point has a start and end but no attempt: mark its instant.
        let left = s.start.map(|t| scale.pct(t)).unwrap_or(0.0);
        let _ = write!(
            out,
            "<span class=\"bar none o-{}{crit_class}\" data-step=\"{}\" style=\"left:{left:.4}%\" title=\"{}\">{}</span>",
            outcome.as_str(),
            escape(&s.id),
            escape(&format!("{}: {why}", s.id)),
            escape(&why)
        );
        return;
    };
    let from = first.queued.min(first.start);
    let width = (end - from).max(0.0);
    let b = breakdown(s);
    let mut title = format!("{}: {}, {} (ran {}", s.id, outcome.label(), human(width), human(b.running));
    if b.queued > 0.0005 {
        let _ = write!(title, ", queued {}", human(b.queued));
        if let Some(p) = &s.pool {
            let _ = write!(title, " for a job slot or pool {p}");
        }
    }
    if b.waiting > 0.0005 {
        let _ = write!(title, ", waited {}", human(b.waiting));
    }
    title.push(')');
    let on = match s.attempts.last().and_then(|a| a.worker.as_deref()) {
        Some(w) => format!(" data-worker=\"{}\"", escape(w)),
        None => String::new(),
    };
    let _ = write!(
        out,
        "<span class=\"bar o-{}{crit_class}\" data-step=\"{}\"{on} style=\"left:{:.4}%;width:{:.4}%\" title=\"{}\">",
        outcome.as_str(),
        escape(&s.id),
        scale.pct(from),
        scale.pct(from + width) - scale.pct(from),
        escape(&title)
    );
    // Segments are placed in percent of the bar.
    let inner = |t: f64| {
        if width > 0.0 { ((t - from) / width * 100.0).clamp(0.0, 100.0) } else { 0.0 }
    };
    let last = s.attempts.len();
    for (n, a) in s.attempts.iter().enumerate() {
        let a_end = a.end.unwrap_or(end);
        if let Some(next) = s.attempts.get(n + 1)
            && next.queued > a_end
        {
            segment(out, "backoff", inner(a_end), inner(next.queued), "retry backoff");
        }
        if a.start > a.queued {
            segment(out, "queued", inner(a.queued), inner(a.start), "queued for a job slot or pool");
        }
        let mut class = format!("run a-{}", attempt_class(s, a, last));
        if let Some(w) = &a.worker {
            let _ = write!(class, " {}", workers.class(w));
        }
        let what = match &a.error {
            Some(e) => format!("attempt {}: {e}", a.attempt),
            None => format!("attempt {}: {}", a.attempt, a.status.as_str()),
        };
        let what = match &a.worker {
            Some(w) => format!("{what} (on worker {w})"),
            None => what,
        };
        segment(out, &class, inner(a.start), inner(a_end), &what);
    }
    for w in &s.waits {
        let w_end = w.end.unwrap_or(end);
        segment(
            out,
            "wait",
            inner(w.start),
            inner(w_end),
            &format!("waiting on {} ({}; job slot given back)", w.on.join(", "), human(w_end - w.start)),
        );
    }
    out.push_str("</span>");
}

/// The colour of one attempt: its own status, except that the failing last
/// attempt of a forgiven step shows as forgiven.
fn attempt_class(s: &StepReport, a: &AttemptReport, attempts: usize) -> &'static str {
    match a.status {
        AttemptStatus::Ok => "ok",
        AttemptStatus::Cancelled => "cancelled",
        AttemptStatus::Failed if s.forgiven && a.attempt as usize == attempts => "forgiven",
        AttemptStatus::Failed => "failed",
    }
}

fn segment(out: &mut String, class: &str, from: f64, to: f64, title: &str) {
    let _ = write!(
        out,
        "<span class=\"seg {class}\" style=\"left:{from:.3}%;width:{:.3}%\" title=\"{}\"></span>",
        (to - from).max(0.0),
        escape(title)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::WaitReport;
    use crate::report::analysis::tests::{run, step};

    fn page(r: &RunReport) -> String {
        let mut out = String::new();
        render(&mut out, r, &HashMap::new());
        out
    }

    #[test]
    fn one_bar_per_step_grouped_by_board_in_order() {
        let mut skipped = step("w.b", "skipped", &[]);
        skipped.error = Some("dependency l.a failed".into());
        let r = run(
            vec![
                step("l.a", "failed", &[(0.0, 0.0, 1.0, "failed")]),
                skipped,
                step("l.c", "ok", &[(0.0, 0.5, 2.0, "ok")]),
            ],
            &["l.a"],
            2.0,
        );
        let html = page(&r);
        let bars: Vec<&str> = html.split("data-step=\"").skip(1).map(|s| s.split('"').next().unwrap_or("")).collect();
        assert_eq!(bars, ["l.a", "l.c", "w.b"], "grouped by board, then in plan order");
        assert!(html.contains("<span class=\"bar none o-skipped\" data-step=\"w.b\""), "{html}");
        assert!(html.contains(">skipped: dependency l.a failed</span>"), "{html}");
        assert!(html.contains("<details class=\"row o-failed crit problem\" id=\"step-l.a\" open>"), "{html}");
    }

    #[test]
    fn bars_sit_at_their_times_with_queued_run_and_wait_segments() {
        let mut s = step("l.a", "ok", &[(1.0, 2.0, 4.0, "ok")]);
        s.waits.push(WaitReport {
            on: vec!["w.x/sig".into()],
            start: 2.5,
            end: Some(3.0),
            error: None,
            slot_released: true,
        });
        s.pool = Some("fg".into());
        let html = page(&run(vec![s], &[], 4.0));
        assert!(
            html.contains("data-step=\"l.a\" style=\"left:25.0000%;width:75.0000%\" title=\"l.a: ok, 3s (ran 1.5s, queued 1s for a job slot or pool fg, waited 500ms)\""),
            "{html}"
        );
        assert!(html.contains("<span class=\"seg queued\" style=\"left:0.000%;width:33.333%\""), "{html}");
        assert!(html.contains("<span class=\"seg run a-ok\" style=\"left:33.333%;width:66.667%\""), "{html}");
        assert!(html.contains("<span class=\"seg wait\" style=\"left:50.000%;width:16.667%\" title=\"waiting on w.x/sig (500ms; job slot given back)\""), "{html}");
    }

    #[test]
    fn retried_and_forgiven_attempts_get_their_own_colours() {
        let s = step("l.a", "forgiven", &[(0.0, 0.0, 1.0, "failed"), (2.0, 2.0, 3.0, "failed")]);
        let html = page(&run(vec![s], &[], 3.0));
        assert_eq!(html.matches("seg run a-failed").count(), 1, "{html}");
        assert!(
            html.contains("<span class=\"seg backoff\" style=\"left:33.333%;width:33.333%\" title=\"retry backoff\">"),
            "{html}"
        );
        assert_eq!(html.matches("seg run a-forgiven").count(), 1, "{html}");
        assert!(html.contains("<span class=\"pill\">2 attempts</span>"));
    }

    #[test]
    fn a_cluster_run_names_each_worker_once_and_tags_each_bar_with_its_worker() {
        let on = |mut s: StepReport, workers: &[&str]| {
            for (a, w) in s.attempts.iter_mut().zip(workers) {
                a.worker = Some(w.to_string());
            }
            s
        };
        let r = run(
            vec![
                on(step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")]), &["w2"]),
                on(step("l.b", "ok", &[(0.0, 1.0, 2.0, "failed"), (2.0, 2.0, 3.0, "ok")]), &["w2", "w1"]),
                on(step("x.c", "ok", &[(0.0, 0.0, 2.0, "ok")]), &["w1"]),
            ],
            &[],
            3.0,
        );
        let html = page(&r);
        for (w, class) in [("w1", "wk wk-0"), ("w2", "wk wk-1")] {
            assert_eq!(html.matches(&format!("data-legend-worker=\"{w}\"")).count(), 1, "{html}");
            assert!(html.contains(&format!("<i class=\"sw {class}\"></i>{w}</span>")), "{html}");
        }
        // Each bar names the worker of its last attempt; each attempt is
        // coloured by its own worker.
        let bars: Vec<&str> = html.split("<span class=\"bar ").skip(1).collect();
        let tags: Vec<&str> = bars
            .iter()
            .map(|b| b.split("data-worker=\"").nth(1).and_then(|t| t.split('"').next()).unwrap_or(""))
            .collect();
        assert_eq!(tags, ["w2", "w1", "w1"], "{html}");
        assert!(html.contains("<span class=\"seg run a-failed wk wk-1\""), "{html}");
        assert!(html.contains("<span class=\"seg run a-ok wk wk-0\""), "{html}");
        assert!(html.contains("title=\"2 attempts on worker w1\""), "{html}");
    }

    #[test]
    fn a_local_run_has_no_worker_legend_or_tags() {
        let html = page(&run(vec![step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")])], &[], 1.0));
        assert!(!html.contains("workers:") && !html.contains("data-worker") && !html.contains(" wk"), "{html}");
    }

    #[test]
    fn ticks_are_round_numbers() {
        let r = run(vec![step("l.a", "ok", &[(0.0, 0.0, 7.3, "ok")])], &[], 7.3);
        let html = page(&r);
        assert!(html.contains(">1s</span>") && html.contains(">7s</span>") && !html.contains(">8s</span>"), "{html}");
    }
}
