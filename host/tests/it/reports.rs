//! Reports of a run: JUnit XML that CI systems read, and the HTML page,
//! rendered by headless Chromium, with one timeline bar per step.

use std::path::{Path, PathBuf};

use crate::chromium;
use crate::harness::{Pipeline, Run};

/// Two boards with every outcome: ok, failed after a retry, skipped,
/// forgiven, a signal wait across boards (windows.fetch starts at once and
/// waits for the signal that linux.build raises after a pause), a pool, a
/// sync point.
const MIXED: &str = r#"
[pipeline]
name = "mixed"
jobs = 3

[plugins]
probe = "{probe}"

[pools]
fg = 1

[[boards.linux.steps]]
name = "build"
plugin = "probe"
pool = "fg"
emits = ["headers"]
with = { ops = [
  { op = "log", message = "compiling <main.c> & friends" },
  { op = "progress", done = 1, total = 2, message = "half way" },
  { op = "sleep", ms = 600 },
  { op = "emit", name = "headers" },
  { op = "sleep", ms = 100 },
] }

[[boards.linux.steps]]
name = "test"
plugin = "probe"
retries = 1
backoff = "10ms"
on_failure = "continue"
with = { ops = [{ op = "eprint", text = "FAIL: test_answer" }, { op = "fail", message = "2 tests failed" }] }

[[boards.linux.steps]]
name = "upload"
plugin = "probe"
with = { ops = [] }

[[boards.windows.steps]]
name = "fetch"
plugin = "probe"
with = { ops = [{ op = "wait", names = ["linux.build/headers"] }, { op = "print", text = "got the headers" }] }

[[boards.windows.steps]]
name = "lint"
plugin = "probe"
after = []
pool = "fg"
on_failure = "ignore"
with = { ops = [{ op = "fail", message = "style warnings" }] }

[[boards.windows.steps]]
name = "sync"
after = ["fetch", "lint"]
"#;

/// In file order, which is the page's: by board, then in board order.
const STEPS: [&str; 6] = ["linux.build", "linux.test", "linux.upload", "windows.fetch", "windows.lint", "windows.sync"];

/// The path printed after `label: ` at the end of the run.
fn printed_path(r: &Run, label: &str) -> PathBuf {
    let line = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no `{label}:` line; stderr:\n{}", r.stderr));
    PathBuf::from(line)
}

fn run_dir(r: &Run) -> PathBuf {
    Path::new(r.report["log_dir"].as_str().expect("log_dir")).parent().expect("run dir").to_path_buf()
}

fn attr<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
    node.attribute(name).unwrap_or_else(|| panic!("no {name} on {node:?}"))
}

#[test]
fn junit_and_html_reports_show_every_step_and_what_failed() {
    let p = Pipeline::new(MIXED);
    let out_dir = p.dir().join("ci-out");
    let r = p.run(&["--report", "html", "--report", "junit", "--report-dir", out_dir.to_str().expect("utf-8")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["linux.build", "windows.fetch", "windows.sync"]);
    r.assert_status("failed", &["linux.test", "windows.lint"]);
    r.assert_status("skipped", &["linux.upload"]);
    assert_eq!(r.step("windows.lint")["outcome"], "forgiven");

    // Both files are in the run directory, and their paths printed at the end.
    let html = printed_path(&r, "html report");
    let junit = printed_path(&r, "junit report");
    assert_eq!(html, run_dir(&r).join("report.html"));
    assert_eq!(junit, run_dir(&r).join("junit.xml"));
    assert!(out_dir.join("report.html").exists() && out_dir.join("junit.xml").exists());

    check_junit(&std::fs::read_to_string(&junit).expect("junit.xml"), &r);
    check_html(&html);
}

fn check_junit(text: &str, r: &Run) {
    let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("junit.xml is not XML: {e}\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(["tests", "failures", "errors", "skipped"].map(|a| attr(root, a)), ["6", "1", "0", "1"]);
    let suites: Vec<_> = root.children().filter(|n| n.has_tag_name("testsuite")).collect();
    assert_eq!(suites.iter().map(|s| attr(*s, "name")).collect::<Vec<_>>(), ["linux", "windows"]);
    assert_eq!(["tests", "failures", "skipped"].map(|a| attr(suites[0], a)), ["3", "1", "1"]);
    assert_eq!(["tests", "failures", "skipped"].map(|a| attr(suites[1], a)), ["3", "0", "0"]);
    let case = |suite: usize, name: &str| {
        suites[suite]
            .children()
            .find(|c| c.has_tag_name("testcase") && c.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no test case {name}"))
    };
    assert_eq!(attr(case(0, "test"), "classname"), "mixed.linux");
    let failure = case(0, "test").children().find(|c| c.has_tag_name("failure")).expect("linux.test has a <failure>");
    assert_eq!(attr(failure, "message"), r.error("linux.test"));
    let body = failure.text().unwrap_or("");
    assert!(body.contains("attempt 1 of 2 failed: "), "{body}");
    assert!(body.contains("FAIL: test_answer"), "the log tail: {body}");
    let skipped = case(0, "upload").children().find(|c| c.has_tag_name("skipped")).expect("skipped");
    assert_eq!(attr(skipped, "message"), "dependency linux.test failed");
    let lint = case(1, "lint");
    assert!(!lint.children().any(|c| c.has_tag_name("failure")), "forgiven is not a CI failure");
    let out = lint.children().find(|c| c.has_tag_name("system-out")).expect("system-out");
    assert!(out.text().unwrap_or("").starts_with("failed, forgiven"), "{out:?}");
    let ok: Vec<&str> = case(0, "build").children().filter(|c| c.is_element()).map(|c| c.tag_name().name()).collect();
    assert_eq!(ok, ["properties"], "a passing case has no failure");
}

fn check_html(page: &Path) {
    let dom = chromium::dump_dom(page);
    assert!(dom.contains("data-ready=\"1\""), "the page's script ran to its end");
    let bars = chromium::attr_of_class(&dom, "bar ", "data-step");
    assert_eq!(bars, STEPS, "one bar per step, grouped by board");
    // Outcomes colour the bars.
    let classes = chromium::attr_of_class(&dom, "bar ", "class");
    let class_of = |step: &str| {
        let i = STEPS.iter().position(|s| *s == step).expect("step");
        classes[i].split(' ').collect::<Vec<_>>()
    };
    assert!(class_of("linux.test").contains(&"o-failed"));
    assert!(class_of("windows.lint").contains(&"o-forgiven"));
    assert!(class_of("linux.upload").contains(&"none") && class_of("linux.upload").contains(&"o-skipped"));
    assert!(class_of("linux.build").contains(&"o-ok"));
    // The failing step is unfolded, its attempts shown; the wait is visible.
    assert!(dom.contains("id=\"step-linux.test\" open"), "failed steps are unfolded");
    let row = |id: &str| {
        let start = dom.find(&format!("id=\"step-{id}\"")).expect("row");
        let end = dom[start..].find("</details>").expect("end of row") + start;
        dom[start..end].to_string()
    };
    assert_eq!(row("linux.test").matches("class=\"seg run a-failed\"").count(), 2);
    assert_eq!(row("windows.fetch").matches("class=\"seg wait\"").count(), 1);
    assert!(row("linux.build").contains("info | compiling &lt;main.c&gt; &amp; friends"), "logs fold under the bar");
    assert!(dom.contains("<section id=\"failures\"><h2>Failures (2)</h2>"));
    assert_eq!(dom.matches("data-node=\"").count(), STEPS.len(), "the graph has every step");
}

#[test]
fn html_report_is_written_by_default_and_json_goes_to_stdout() {
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]
[[boards.b.steps]]
name = "one"
plugin = "shell"
with = { run = "true" }
"#,
    );
    let out = p.baton().args(["run", "--report", "json"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report on stdout");
    let r = Run { code: 0, stderr: String::from_utf8_lossy(&out.stderr).into_owned(), report };
    assert!(printed_path(&r, "html report").exists());
    assert!(!run_dir(&r).join("junit.xml").exists(), "junit only when asked for");
}

#[test]
fn graph_svg_draws_every_step() {
    let p = Pipeline::new(MIXED);
    let out = p.baton().args(["graph", "--format", "svg"]).output().expect("graph");
    assert_eq!(out.status.code(), Some(0));
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    for id in STEPS {
        assert_eq!(svg.matches(&format!("data-node=\"{id}\"")).count(), 1, "{id} in {svg}");
    }
    // build -> test -> upload, fetch -> sync, lint -> sync: all within a board.
    assert_eq!(svg.matches("class=\"g-edge g-plain\"").count(), 4, "{svg}");
    assert_eq!(svg.matches("g-edge g-cross").count(), 0);
}
