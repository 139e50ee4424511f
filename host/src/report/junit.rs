//! The run as JUnit XML (`junit.xml`), so that CI systems show baton steps
//! natively: one `<testsuite>` per board, one `<testcase>` per step.
//!
//! A failed step is a `<failure>` (its error as the message, the tail of its
//! log as the body), a cancelled one an `<error>`; steps that did not run
//! this time (skipped, left out, previously done) are `<skipped>` with the
//! reason. A forgiven failure (`on_failure = "ignore"`) does not fail the
//! run, so it is a passing test case whose `<system-out>` says what failed.

use std::fmt::Write;

use super::xml::{escape, seconds};
use super::{Outcome, RunReport, StepReport};
use crate::storage::runs::utc_datetime;

/// Renders the JUnit XML document for `r`.
pub fn render(r: &RunReport) -> String {
    let mut boards: Vec<&str> = Vec::new();
    for s in &r.steps {
        if !boards.contains(&s.board.as_str()) {
            boards.push(&s.board);
        }
    }
    let all = Counts::of(r.steps.iter());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        escape(&r.pipeline),
        all.tests,
        all.failures,
        all.errors,
        all.skipped,
        seconds(r.duration),
        timestamp(r.started_unix),
    );
    for board in boards {
        let steps: Vec<&StepReport> = r.steps.iter().filter(|s| s.board == board).collect();
        let c = Counts::of(steps.iter().copied());
        let time: f64 = steps.iter().filter_map(|s| s.seconds()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
            escape(board),
            c.tests,
            c.failures,
            c.errors,
            c.skipped,
            seconds(time),
            timestamp(r.started_unix),
        );
        let _ = writeln!(
            out,
            "    <properties>\n      <property name=\"baton.run\" value=\"{}\"/>\n    </properties>",
            escape(&r.run_id)
        );
        for s in steps {
            testcase(&mut out, r, s);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn testcase(out: &mut String, r: &RunReport, s: &StepReport) {
    let _ = writeln!(
        out,
        "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{}\">",
        escape(&r.pipeline),
        escape(&s.board),
        escape(s.name()),
        seconds(s.seconds().unwrap_or(0.0)),
    );
    let outcome = s.outcome();
    let mut props =
        vec![("baton.outcome", outcome.as_str().to_string()), ("baton.attempts", s.attempts.len().to_string())];
    if let Some(p) = &s.pool {
        props.push(("baton.pool", p.clone()));
    }
    out.push_str("      <properties>\n");
    for (k, v) in props {
        let _ = writeln!(out, "        <property name=\"{k}\" value=\"{}\"/>", escape(&v));
    }
    out.push_str("      </properties>\n");
    let error = s.error.as_deref().unwrap_or("");
    match outcome {
        Outcome::Ok => {}
        Outcome::Cached => {
            let why = s.cached.as_ref().map_or("cached".into(), |c| c.describe());
            skipped(out, &why)
        }
        Outcome::PreviouslyDone => {
            skipped(out, &format!("previously done in run {} (--resume)", r.resumed_from.as_deref().unwrap_or("?")))
        }
        Outcome::Skipped | Outcome::Excluded => skipped(out, error),
        Outcome::Failed => {
            let kind = s.attempts.last().and_then(|a| a.kind).map_or("stage", |k| k.as_str());
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                escape(error),
                escape(kind),
                escape(&details(s))
            );
        }
        Outcome::Cancelled => {
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"cancelled\">{}</error>",
                escape(error),
                escape(&details(s))
            );
        }
        Outcome::Forgiven => {
            let _ = writeln!(
                out,
                "      <system-out>failed, forgiven (on_failure = \"ignore\"): {}\n{}</system-out>",
                escape(error),
                escape(&details(s))
            );
        }
    }
    out.push_str("    </testcase>\n");
}

fn skipped(out: &mut String, message: &str) {
    let _ = writeln!(out, "      <skipped message=\"{}\"/>", escape(message));
}

/// Earlier attempts' errors, the last attempt's log tail and the log's path.
fn details(s: &StepReport) -> String {
    let mut text = String::new();
    let n = s.attempts.len();
    for a in s.attempts.iter().take(n.saturating_sub(1)) {
        if let Some(e) = &a.error {
            let _ = writeln!(text, "attempt {} of {n} failed: {e}", a.attempt);
        }
    }
    if let Some(last) = s.attempts.last()
        && !last.log_tail.is_empty()
    {
        let _ = writeln!(text, "last lines of the log (attempt {}):", last.attempt);
        for line in &last.log_tail {
            let _ = writeln!(text, "  {line}");
        }
    }
    if let Some(log) = &s.log {
        let _ = writeln!(text, "full log: {log}");
    }
    text
}

/// ISO 8601 without a zone (what the JUnit schema expects), in UTC.
fn timestamp(unix: f64) -> String {
    utc_datetime(unix).replace(' ', "T")
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn of<'a>(steps: impl Iterator<Item = &'a StepReport>) -> Self {
        let mut c = Counts::default();
        for s in steps {
            c.tests += 1;
            match s.outcome() {
                Outcome::Failed => c.failures += 1,
                Outcome::Cancelled => c.errors += 1,
                Outcome::Skipped | Outcome::Excluded | Outcome::PreviouslyDone | Outcome::Cached => c.skipped += 1,
                Outcome::Ok | Outcome::Forgiven => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{run, step};

    fn sample() -> RunReport {
        let mut failed = step("linux.build", "failed", &[(0.0, 0.0, 1.0, "failed"), (2.0, 2.0, 3.5, "failed")]);
        failed.error = Some("exit code 2: <make> said \"no\"".into());
        failed.attempts[1].log_tail = vec!["stderr: \u{1b}[31mcc: error\u{1b}[0m".into()];
        failed.log = Some("/p/logs/linux.build.log".into());
        let mut skipped = step("linux.test", "skipped", &[]);
        skipped.error = Some("dependency linux.build failed".into());
        run(
            vec![
                failed,
                skipped,
                step("windows.fetch", "ok", &[(0.0, 0.0, 0.25, "ok")]),
                step("windows.lint", "forgiven", &[(0.25, 0.25, 0.5, "failed")]),
            ],
            &["linux.build"],
            4.0,
        )
    }

    #[test]
    fn counts_suites_and_cases_follow_the_outcomes() {
        let xml = render(&sample());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"demo\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"4.000\" timestamp=\"2026-01-01T00:00:00\">"), "{xml}");
        assert!(
            xml.contains(
                "<testsuite name=\"linux\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"3.500\""
            ),
            "{xml}"
        );
        assert!(xml.contains("<testsuite name=\"windows\" tests=\"2\" failures=\"0\""), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert!(xml.contains("<testcase classname=\"demo.windows\" name=\"fetch\" time=\"0.250\">"), "{xml}");
        assert!(xml.contains("<skipped message=\"dependency linux.build failed\"/>"), "{xml}");
        assert!(
            xml.contains("<system-out>failed, forgiven (on_failure = \"ignore\"): windows.lint went wrong"),
            "{xml}"
        );
    }

    #[test]
    fn a_failure_carries_its_error_attempts_and_log_tail_escaped() {
        let xml = render(&sample());
        let start = xml.find("<failure").expect("a failure");
        let failure = &xml[start..xml[start..].find("</failure>").expect("closed") + start];
        assert!(
            failure.starts_with("<failure message=\"exit code 2: &lt;make&gt; said &quot;no&quot;\" type=\"stage\">"),
            "{failure}"
        );
        assert!(failure.contains("attempt 1 of 2 failed: attempt 1 of linux.build failed"), "{failure}");
        assert!(failure.contains("  stderr: cc: error\n"), "colour codes are dropped: {failure}");
        assert!(failure.contains("full log: /p/logs/linux.build.log"), "{failure}");
    }

    #[test]
    fn the_document_is_well_formed_enough_for_a_naive_parser() {
        // Every opened element is closed, in order.
        let xml = render(&sample());
        let mut stack = Vec::new();
        for tag in xml.split('<').skip(2).map(|t| t.split('>').next().unwrap_or("")) {
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name.to_string()), "in {xml}");
            } else if !tag.ends_with('/') {
                stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }
}
