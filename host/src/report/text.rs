//! The end-of-run summary for people: a table of steps (status, attempts,
//! time queued, duration), the critical path with where its time went, and
//! one combined failure report with the tail of each failing log.
//!
//! Big runs get a short table: the steps worth a look (failed, retried, on
//! the critical path, skipped) up to `MAX_ROWS`, and a count of the rest.

use crate::status::RunStatus;
use std::fmt::Write;

use super::analysis::{self, breakdown, human};
use super::{Outcome, RunReport, StepReport};
use crate::text::{escape_line, escape_text};

/// Rows of the step table unless every step is asked for.
pub const MAX_ROWS: usize = 40;
/// Log lines quoted per failure.
pub const TAIL_LINES: usize = 10;
/// Steps of a long critical path shown at each end.
const PATH_ENDS: usize = 5;

/// How to render.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours on status words.
    pub color: bool,
    /// Every step in the table, however many.
    pub all_steps: bool,
}

/// Renders the summary without colour, short table.
pub fn summary(r: &RunReport) -> String {
    render(r, Style::default())
}

pub fn render(r: &RunReport, style: Style) -> String {
    let mut out = String::new();
    table(&mut out, r, style);
    critical_path(&mut out, r);
    failures(&mut out, r, style);
    notes(&mut out, r);
    if let Some(line) = cache_line(r) {
        let _ = write!(out, "\n{line}");
    }
    let _ = writeln!(
        out,
        "\nrun {} {} in {} ({})",
        r.run_id,
        paint(style, status_colour(r.status), r.status.as_str()),
        human(r.duration),
        counts(r)
    );
    let _ = writeln!(out, "logs: {}", r.log_dir);
    if let Some(t) = &r.try_run {
        let _ = writeln!(
            out,
            "try: patch sha256:{} on {}, {} file(s) changed: {}",
            t.patch_sha256,
            crate::text::escape_line(&t.base),
            t.files.len(),
            crate::text::escape_line(&t.files.join(", "))
        );
        if !t.ignored.is_empty() {
            let _ = writeln!(
                out,
                "try: these changes to the pipeline are not used in a try run: {}",
                crate::text::escape_line(&t.ignored.join(", "))
            );
        }
    }
    if r.status == RunStatus::Cancelled {
        let _ = writeln!(out, "resume with `baton run --resume`: steps that succeeded are not run again");
    }
    out
}

fn table(out: &mut String, r: &RunReport, style: Style) {
    let shown = rows(r, style.all_steps);
    let width = shown.iter().map(|s| s.id.len()).max().unwrap_or(4).max(4);
    let _ =
        writeln!(out, "{:<width$}  {:<15}  {:>8}  {:>8}  {:>9}", "step", "status", "attempts", "queued", "duration");
    for s in &shown {
        let o = s.outcome();
        let label = o.label();
        let status = format!("{label:<15}");
        let b = breakdown(s);
        let queued = if s.attempts.is_empty() { "-".to_string() } else { human(b.queued) };
        let dur = s.seconds().map(human).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<width$}  {}  {:>8}  {:>8}  {:>9}",
            s.id,
            paint(style, outcome_colour(o), &status),
            s.attempts.len(),
            queued,
            dur
        );
    }
    let hidden = r.steps.len() - shown.len();
    if hidden > 0 {
        let _ = writeln!(
            out,
            "… and {hidden} more step{} ({}; `-v` lists every step)",
            if hidden == 1 { "" } else { "s" },
            counts_of(r.steps.iter().filter(|s| !shown.iter().any(|x| x.id == s.id)))
        );
    }
}

/// The steps the table shows, in plan order.
fn rows(r: &RunReport, all: bool) -> Vec<&StepReport> {
    if all || r.steps.len() <= MAX_ROWS {
        return r.steps.iter().collect();
    }
    // Rank what is worth a look; keep the best MAX_ROWS; show them in plan order.
    let rank = |s: &StepReport| match s.outcome() {
        Outcome::Failed | Outcome::Cancelled => 0,
        Outcome::Forgiven => 1,
        _ if r.critical_path.contains(&s.id) => 2,
        _ if s.attempts.len() > 1 => 3,
        Outcome::Skipped => 4,
        _ => 5,
    };
    let mut order: Vec<usize> = (0..r.steps.len()).filter(|&i| rank(&r.steps[i]) < 5).collect();
    order.sort_by_key(|&i| rank(&r.steps[i]));
    order.truncate(MAX_ROWS);
    order.sort_unstable();
    order.into_iter().map(|i| &r.steps[i]).collect()
}

fn critical_path(out: &mut String, r: &RunReport) {
    let cp = analysis::critical_path(r);
    if cp.steps.is_empty() {
        return;
    }
    let ids: Vec<String> =
        cp.steps.iter().map(|(s, _)| format!("{} ({})", s.id, human(s.seconds().unwrap_or(0.0)))).collect();
    let chain = if ids.len() > 2 * PATH_ENDS + 1 {
        format!(
            "{} -> … {} more … -> {}",
            ids[..PATH_ENDS].join(" -> "),
            ids.len() - 2 * PATH_ENDS,
            ids[ids.len() - PATH_ENDS..].join(" -> ")
        )
    } else {
        ids.join(" -> ")
    };
    let _ = writeln!(out, "\ncritical path ({} of the {} run): {chain}", human(cp.total.total()), human(r.duration));
    let _ = writeln!(out, "  where its time went: {}", cp.explain());
}

fn failures(out: &mut String, r: &RunReport, style: Style) {
    if r.failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nfailures ({}):", r.failures.len());
    for f in &r.failures {
        let forgiven = if f.forgiven { " [forgiven]" } else { "" };
        let kind = f.kind.map(|k| format!(" {}", k.as_str())).unwrap_or_default();
        let colour = if f.forgiven { YELLOW } else { RED };
        // A stage's error and log are its own text: shown inert, whatever they hold.
        let error = escape_text(&f.error);
        let _ = writeln!(out, "  {} (attempt {}{kind}){forgiven}: {error}", paint(style, colour, &f.step), f.attempt);
        let skip = f.log_tail.len().saturating_sub(TAIL_LINES);
        if skip > 0 {
            let _ = writeln!(out, "      | … (last {TAIL_LINES} lines)");
        }
        for line in &f.log_tail[skip..] {
            let _ = writeln!(out, "      | {}", escape_line(line));
        }
        if let Some(log) = r.step(&f.step).and_then(|s| s.log.as_deref()) {
            let _ = writeln!(out, "      full log: {log}");
        }
    }
}

/// What happened to the run that no attempt shows (see [`RunReport::notes`]).
fn notes(out: &mut String, r: &RunReport) {
    if r.notes.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nnotes ({}):", r.notes.len());
    for n in &r.notes {
        let _ = writeln!(out, "  {}", escape_text(n));
    }
}

/// `12 steps: 9 cached (saved 3m12s), 3 ran`, when the step cache served any.
pub fn cache_line(r: &RunReport) -> Option<String> {
    let cached: Vec<&StepReport> = r.steps.iter().filter(|s| s.cached.is_some()).collect();
    if cached.is_empty() {
        return None;
    }
    let saved: f64 = cached.iter().filter_map(|s| s.cached.as_ref()).map(|c| c.saved).sum();
    let ran = r.steps.iter().filter(|s| !s.attempts.is_empty()).count();
    let counted = r.steps.iter().filter(|s| s.outcome() != Outcome::Excluded).count();
    Some(format!("{counted} steps: {} cached (saved {}), {ran} ran", cached.len(), human(saved)))
}

fn counts(r: &RunReport) -> String {
    counts_of(r.steps.iter())
}

fn counts_of<'a>(steps: impl Iterator<Item = &'a StepReport>) -> String {
    let mut n = [0usize; Outcome::ALL.len()];
    for s in steps {
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == s.outcome()) {
            n[i] += 1;
        }
    }
    Outcome::ALL
        .iter()
        .zip(n)
        .filter(|(_, k)| *k > 0)
        .map(|(o, k)| format!("{k} {}", o.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const MAGENTA: &str = "35";
const BLUE: &str = "34";
const DIM: &str = "2";

fn outcome_colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => GREEN,
        Outcome::Failed => RED,
        Outcome::Forgiven => YELLOW,
        Outcome::Cancelled => MAGENTA,
        Outcome::PreviouslyDone | Outcome::Cached => BLUE,
        Outcome::Skipped | Outcome::Excluded => DIM,
    }
}

fn status_colour(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Ok => GREEN,
        RunStatus::Cancelled => MAGENTA,
        RunStatus::Failed => RED,
    }
}

fn paint(style: Style, code: &str, text: &str) -> String {
    if style.color { format!("\u{1b}[{code}m{text}\u{1b}[0m") } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FailureReport;
    use crate::report::analysis::tests::{run, step};

    #[test]
    fn notes_follow_the_failures_each_on_a_line_and_inert() {
        let mut r = run(vec![step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")])], &["l.a"], 1.0);
        assert!(!summary(&r).contains("notes"), "no notes, no section");
        r.notes = vec!["worker w1 lost; board l moves".into(), "the replay of l.a \u{1b}[2J said".into()];
        let text = summary(&r);
        assert!(
            text.contains("\nnotes (2):\n  worker w1 lost; board l moves\n  the replay of l.a \\x1b[2J said\n"),
            "{text}"
        );
    }

    #[test]
    fn a_small_run_lists_every_step_the_path_and_the_failures() {
        let mut r = run(
            vec![
                step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")]),
                step("l.b", "failed", &[(1.0, 1.5, 2.0, "failed")]),
                step("w.c", "skipped", &[]),
            ],
            &["l.a", "l.b"],
            2.0,
        );
        r.failures.push(FailureReport {
            step: "l.b".into(),
            attempt: 1,
            error: "exit code 1".into(),
            kind: Some(crate::status::FailureKind::Stage),
            forgiven: false,
            log_tail: (0..15).map(|i| format!("stderr: line {i}")).collect(),
        });
        let text = summary(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "step  status           attempts    queued   duration");
        assert_eq!(lines[1], "l.a   ok                      1       0ms         1s");
        assert_eq!(lines[2], "l.b   failed                  1     500ms      500ms");
        assert_eq!(lines[3], "w.c   skipped                 0         -          -");
        assert!(text.contains("\ncritical path (2s of the 2s run): l.a (1s) -> l.b (500ms)\n"), "{text}");
        assert!(text.contains("  where its time went: 1.5s running, 500ms queued for a job slot or pool\n"), "{text}");
        assert!(
            text.contains("  l.b (attempt 1 stage): exit code 1\n      | … (last 10 lines)\n      | stderr: line 5\n"),
            "{text}"
        );
        assert!(text.contains("\nrun 20260101-000000-abcd failed in 2s (1 ok, 1 failed, 1 skipped)\n"), "{text}");
        assert!(!text.contains('\u{1b}'), "no colour unless asked");
    }

    #[test]
    fn a_big_run_shows_the_steps_worth_a_look() {
        let mut steps: Vec<StepReport> =
            (0..100).map(|i| step(&format!("b.s{i:03}"), "ok", &[(0.0, 0.0, 1.0, "ok")])).collect();
        steps[70] = step("b.s070", "failed", &[(0.0, 0.0, 1.0, "failed")]);
        let r = run(steps, &["b.s010", "b.s020"], 3.0);
        let text = summary(&r);
        let table: Vec<&str> = text.lines().skip(1).take_while(|l| l.starts_with("b.")).collect();
        let ids: Vec<&str> = table.iter().map(|l| l.split(' ').next().unwrap_or("")).collect();
        assert_eq!(ids, ["b.s010", "b.s020", "b.s070"], "failed and critical steps, in plan order");
        assert!(text.contains("… and 97 more steps (97 ok; `-v` lists every step)"), "{text}");
        let all = render(&r, Style { color: false, all_steps: true });
        assert_eq!(all.lines().filter(|l| l.starts_with("b.s")).count(), 100);
    }

    #[test]
    fn colour_marks_status_words_only_when_asked() {
        let r = run(vec![step("l.a", "failed", &[(0.0, 0.0, 1.0, "failed")])], &[], 1.0);
        let text = render(&r, Style { color: true, all_steps: false });
        assert!(text.contains("\u{1b}[31mfailed         \u{1b}[0m"), "{text:?}");
        assert!(text.contains("run 20260101-000000-abcd \u{1b}[31mfailed\u{1b}[0m in 1s"), "{text:?}");
    }
}
