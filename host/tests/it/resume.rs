//! `--resume` after `kill -9`, and cancellation with SIGINT/SIGTERM.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Pipeline, Run};

const PIPELINE: &str = r#"
[policy]
spawn = ["sh"]
[[boards.a.steps]]
name = "one"
plugin = "shell"
with = { run = "echo one >> runs.txt" }
[[boards.a.steps]]
name = "two"
plugin = "shell"
with = { run = "echo two >> runs.txt; echo $$ > two.pid; [ -f go ] || sleep 60.MARKER" }
[[boards.a.steps]]
name = "three"
plugin = "shell"
with = { run = "echo three >> runs.txt" }
[[boards.b.steps]]
name = "other"
plugin = "shell"
with = { run = "echo other >> runs.txt" }
"#;

/// Polls `cond` for up to 30 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn journal_text(p: &Pipeline) -> String {
    let runs = p.dir().join(".baton/runs");
    std::fs::read_dir(runs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path().join("journal.jsonl")).unwrap_or_default())
        .collect()
}

fn spawn_run(p: &Pipeline) -> Child {
    p.baton().args(["run", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn baton")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(String::from).collect()
}

/// The pipeline with a marker of this test in step two's `sleep`, so that
/// the test can find that process among the host's (inside its pid
/// namespace, `$$` is not a host pid).
fn pipeline_text(marker: u32) -> String {
    PIPELINE.replace("MARKER", &marker.to_string())
}

fn alive(marker: u32) -> bool {
    !crate::escapes::processes_with(&format!("sleep 60.{marker}")).is_empty()
}

#[test]
fn resume_after_kill_9_redoes_only_what_did_not_finish() {
    let marker = std::process::id() * 10 + 1;
    let p = Pipeline::new(&pipeline_text(marker));
    let mut child = spawn_run(&p);
    wait_for("step two to start", || p.workspace("a").join("two.pid").exists());
    let ws_a = p.workspace("a");
    wait_for("one and other to be journaled", || {
        let j = journal_text(&p);
        j.contains(r#""step":"a.one","status":"ok""#) && j.contains(r#""step":"b.other","status":"ok""#)
    });
    child.kill().expect("kill -9");
    let _ = child.wait();
    // baton's processes die with it.
    wait_for("the orphaned shell to die", || !alive(marker));

    std::fs::write(ws_a.join("go"), "").expect("go");
    let r = p.run(&["--resume"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.step("a.one")["previously_done"], true);
    assert_eq!(r.step("b.other")["previously_done"], true);
    assert_eq!(r.step("a.two")["previously_done"], false);
    assert_eq!(r.step("a.three")["previously_done"], false);
    assert!(r.report["resumed_from"].is_string());
    assert!(r.stderr.contains("previously done"), "{}", r.stderr);
    // The resumed run continues in the workspace of the run it resumes.
    assert_eq!(lines(&p.workspace("a").join("runs.txt")), ["one", "two", "two", "three"]);
    assert!(!ws_a.exists(), "the workspace moved into the new run");
    assert_eq!(lines(&p.workspace("b").join("runs.txt")), ["other"]);

    // A changed step runs again; the unchanged ones stay done.
    p.write(&pipeline_text(marker).replace("echo other >> runs.txt", "echo other-v2 >> runs.txt"));
    let r = p.run(&["--resume"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.step("b.other")["previously_done"], false);
    for id in ["a.one", "a.two", "a.three"] {
        assert_eq!(r.step(id)["previously_done"], true, "{id}");
    }
    assert_eq!(lines(&p.workspace("b").join("runs.txt")), ["other", "other-v2"]);
}

#[test]
fn resume_without_an_earlier_run_is_a_usage_error() {
    let p = Pipeline::new(&pipeline_text(0));
    let r = p.run(&["--resume"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--resume: no earlier run of this pipeline"), "{}", r.stderr);
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill");
    assert!(ok.success());
}

#[test]
fn sigint_cancels_cleanly_and_saves_state() {
    for (k, sig) in ["-INT", "-TERM"].into_iter().enumerate() {
        let marker = std::process::id() * 10 + 2 + k as u32;
        let p = Pipeline::new(&pipeline_text(marker));
        let child = spawn_run(&p);
        wait_for("step two to start", || p.workspace("a").join("two.pid").exists());
        let ws_a = p.workspace("a");
        signal(&child, sig);
        let out = child.wait_with_output().expect("wait");
        let r = Run::from_output(out);
        assert_eq!(r.code, 130, "{sig}: {}", r.stderr);
        assert_eq!(r.report["status"], "cancelled");
        assert_eq!(r.status("a.two"), "failed");
        assert_eq!(r.error("a.two"), "cancelled");
        assert_eq!(r.status("a.three"), "skipped");
        assert_eq!(r.error("a.three"), "run cancelled");
        assert!(!alive(marker), "{sig}: the running step's process was killed");
        assert!(journal_text(&p).contains(r#""event":"end","status":"cancelled""#), "state saved");
        // And the cancelled run can be resumed.
        std::fs::write(ws_a.join("go"), "").expect("go");
        let again = p.run(&["--resume"]);
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(again.step("a.one")["previously_done"], true);
    }
}

#[test]
fn a_changed_plugin_invalidates_a_previous_success() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = dir.path().join("stage.wasm");
    std::fs::copy(baton_test_artifacts::PROBE, &plugin).expect("copy");
    let p = Pipeline::new(&format!(
        r#"
[plugins]
stage = "{}"
[[boards.a.steps]]
name = "one"
plugin = "stage"
with = {{ ops = [] }}
[[boards.a.steps]]
name = "two"
plugin = "shell"
with = {{ run = "exit 1" }}
"#,
        plugin.display()
    ));
    assert_eq!(p.run(&[]).code, 1);
    let r = p.run(&["--resume"]);
    assert_eq!(r.step("a.one")["previously_done"], true, "same plugin bytes: not run again");
    // New bytes under the same path (a rebuilt plugin): the step runs again.
    let mut bytes = std::fs::read(&plugin).expect("read");
    bytes.extend_from_slice(&[0x00, 0x02, 0x01, b'x']); // a custom section `x` appended
    std::fs::write(&plugin, bytes).expect("write");
    let r = p.run(&["--resume"]);
    assert_eq!(r.step("a.one")["previously_done"], false, "{}", r.stderr);
    assert_eq!(r.status("a.one"), "ok", "{}", r.error("a.one"));
}

#[test]
fn an_always_step_runs_after_sigterm_and_the_summary_says_how_to_resume() {
    let marker = std::process::id() * 10 + 5;
    let p = Pipeline::new(
        &r#"
[policy]
spawn = ["sh"]
[[boards.a.steps]]
name = "build"
plugin = "shell"
with = { run = "echo $$ > build.pid; sleep 60.MARKER" }
[[boards.a.steps]]
name = "test"
plugin = "shell"
with = { run = "touch tested" }
[[boards.a.steps]]
name = "archive"
plugin = "shell"
after = ["build"]
always = true
with = { run = "echo archived > archive.txt" }
"#
        .replace("MARKER", &marker.to_string()),
    );
    let child = spawn_run(&p);
    wait_for("build to start", || p.workspace("a").join("build.pid").exists());
    signal(&child, "-TERM");
    let r = Run::from_output(child.wait_with_output().expect("wait"));
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert_eq!(r.report["status"], "cancelled");
    assert_eq!(r.error("a.build"), "cancelled");
    assert_eq!((r.status("a.test"), r.error("a.test").as_str()), ("skipped", "run cancelled"));
    assert_eq!(r.status("a.archive"), "ok", "the cleanup step ran after the cancel: {}", r.stderr);
    let ws = p.workspace("a");
    assert_eq!(std::fs::read_to_string(ws.join("archive.txt")).expect("archived"), "archived\n");
    assert!(!ws.join("tested").exists());
    assert!(!alive(marker), "the interrupted step's process was killed");
    assert!(r.stderr.contains("resume with `baton run --resume`"), "{}", r.stderr);
}
