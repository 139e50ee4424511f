//! Scheduling semantics: the two founding examples, failure modes,
//! retries, timeouts, and critical-path priority.

use crate::harness::{Pipeline, Run};

fn example(name: &str) -> Pipeline {
    let path = format!("{}/../examples/{name}/baton.toml", env!("CARGO_MANIFEST_DIR"));
    Pipeline::new(&std::fs::read_to_string(path).expect("example"))
}

/// The edges of the Buildbot L/W graph (DESIGN.md), `(dependency, step)`.
pub const LW_EDGES: [(&str, &str); 18] = [
    ("L1", "L2"),
    ("L2", "L3"),
    ("L2", "L4"),
    ("L2", "L5"),
    ("L4", "L6"),
    ("L5", "L6"),
    ("L4", "L7"),
    ("L5", "L7"),
    ("W4", "L7"),
    ("W5", "L7"),
    ("L7", "L8"),
    ("W1", "W3"),
    ("L3", "W3"),
    ("W2", "W4"),
    ("W3", "W4"),
    ("W2", "W5"),
    ("W3", "W5"),
    ("L4", "W5"),
];

/// The step id of `L3` or `W3` in the example.
pub fn lw_id(s: &str) -> String {
    if s.starts_with('L') { format!("linux.{s}") } else { format!("windows.{s}") }
}

/// Every step of the L/W graph started after its dependencies ended.
pub fn assert_lw_edges(r: &Run) {
    for (dep, step) in LW_EDGES {
        r.assert_before(&lw_id(dep), &lw_id(step));
    }
}

#[test]
fn buildbot_lw_respects_every_edge_and_runs_in_parallel() {
    let p = example("buildbot-lw");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_lw_edges(&r);
    let id = |s: &str| if s.starts_with('L') { format!("linux.{s}") } else { format!("windows.{s}") };
    assert!(r.overlap("linux.L4", "linux.L5"), "L4 and L5 run in parallel");
    let l_span = (r.start("linux.L1"), r.end("linux.L8"));
    let w_overlaps =
        ["W1", "W2", "W3", "W4", "W5"].iter().any(|w| r.start(&id(w)) < l_span.1 && r.end(&id(w)) > l_span.0);
    assert!(w_overlaps, "the windows board runs alongside the linux board");
    // The artifacts moved for real: W3 fetched L3's generated code, W5 L4's jar.
    assert!(p.workspace("windows").join("generated/gen.c").exists());
    assert!(p.workspace("windows").join("app.jar").exists());
    assert_eq!(r.step("linux.L3")["artifacts"][0], "linux.L3/generated");
}

#[test]
fn cbuildbot_builds_one_at_a_time_with_tests_in_the_background() {
    let p = example("cbuildbot-boards");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let boards = ["x86-generic", "arm-generic", "amd64-generic"];
    let mut builds: Vec<(f64, f64, &str)> =
        boards.iter().map(|b| (r.start(&format!("{b}.build")), r.end(&format!("{b}.build")), *b)).collect();
    builds.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in builds.windows(2) {
        assert!(w[0].1 <= w[1].0, "builds are serialised by the foreground pool: {builds:?}");
    }
    // The first board's background steps overlap the next board's build.
    let (first, second) = (builds[0].2, builds[1].2);
    assert!(
        r.overlap(&format!("{first}.unittest"), &format!("{second}.build"))
            || r.overlap(&format!("{first}.vmtest"), &format!("{second}.build")),
        "background steps of {first} run during the build of {second}"
    );
}

#[test]
fn a_failing_test_of_one_board_does_not_stop_the_others_and_archive_still_runs() {
    let p = example("cbuildbot-boards");
    let text = std::fs::read_to_string(p.file()).expect("read");
    let text = text.replace(
        "{ name = \"unittest\", plugin = \"shell\", on_failure = \"continue\", with = { run = \"sleep 0.5\" } }",
        "{ name = \"unittest\", plugin = \"shell\", on_failure = \"continue\", with = { run = \"sleep 0.5; [ $BATON_BOARD != arm-generic ] || { echo 'test_boot FAILED' >&2; exit 1; }\" } }",
    );
    assert!(text.contains("test_boot"), "the template line changed; update this test");
    p.write(&text);
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.report["status"], "failed");
    assert_eq!(r.status("arm-generic.unittest"), "failed");
    assert!(r.error("arm-generic.unittest").contains("test_boot FAILED"), "{}", r.error("arm-generic.unittest"));
    // Its board's archive still ran (always); upload (after archive) too.
    r.assert_status("ok", &["arm-generic.archive", "arm-generic.vmtest", "arm-generic.build"]);
    r.assert_status("ok", &["arm-generic.upload"]);
    // The other boards went on.
    for b in ["x86-generic", "amd64-generic"] {
        for s in ["build", "unittest", "vmtest", "archive", "upload"] {
            assert_eq!(r.status(&format!("{b}.{s}")), "ok");
        }
    }
    let failures = r.report["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "one combined report, the failure listed once: {failures:?}");
    assert_eq!(failures[0]["step"], "arm-generic.unittest");
    assert!(
        failures[0]["log_tail"]
            .as_array()
            .expect("tail")
            .iter()
            .any(|l| l.as_str().unwrap_or("").contains("test_boot FAILED"))
    );
    assert!(r.stderr.contains("failures (1):"), "{}", r.stderr);
}

fn shell(steps: &str) -> Run {
    Pipeline::new(&format!("[policy]\nspawn = [\"sh\"]\n{steps}")).run(&["--jobs", "4"])
}

#[test]
fn halt_starts_nothing_new_but_always_steps() {
    let r = shell(
        r#"
[[boards.a.steps]]
name = "fail"
plugin = "shell"
with = { run = "sleep 0.2; exit 1" }
[[boards.a.steps]]
name = "next"
plugin = "shell"
with = { run = "true" }
[[boards.b.steps]]
name = "running"
plugin = "shell"
with = { run = "sleep 0.6" }
[[boards.b.steps]]
name = "later"
plugin = "shell"
with = { run = "true" }
[[boards.c.steps]]
name = "cleanup"
plugin = "shell"
after = ["a.fail"]
always = true
with = { run = "true" }
"#,
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.status("a.fail"), "failed");
    assert_eq!(r.status("b.running"), "ok", "steps already running finish");
    assert_eq!(r.status("a.next"), "skipped");
    assert_eq!(r.error("a.next"), "dependency a.fail failed");
    assert_eq!(r.status("b.later"), "skipped");
    assert_eq!(r.error("b.later"), "run halted after a.fail failed");
    assert_eq!(r.status("c.cleanup"), "ok", "always steps still run");
}

#[test]
fn continue_skips_dependents_only() {
    let r = shell(
        r#"
[[boards.a.steps]]
name = "fail"
plugin = "shell"
on_failure = "continue"
with = { run = "exit 2" }
[[boards.a.steps]]
name = "dependent"
plugin = "shell"
with = { run = "true" }
[[boards.a.steps]]
name = "transitive"
plugin = "shell"
with = { run = "true" }
[[boards.b.steps]]
name = "unrelated"
plugin = "shell"
with = { run = "sleep 0.2" }
[[boards.b.steps]]
name = "after"
plugin = "shell"
with = { run = "true" }
"#,
    );
    assert_eq!(r.code, 1, "the run fails at the end");
    assert_eq!(r.error("a.fail"), "`exit 2` exited with code 2");
    assert_eq!(r.status("a.dependent"), "skipped");
    assert_eq!(r.status("a.transitive"), "skipped");
    assert_eq!(r.error("a.transitive"), "dependency a.dependent was skipped");
    r.assert_status("ok", &["b.unrelated", "b.after"]);
}

#[test]
fn ignore_forgives_the_failure() {
    let r = shell(
        r#"
[[boards.a.steps]]
name = "flaky-lint"
plugin = "shell"
on_failure = "ignore"
with = { run = "exit 1" }
[[boards.a.steps]]
name = "dependent"
plugin = "shell"
with = { run = "true" }
"#,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report["status"], "ok");
    assert_eq!(r.status("a.flaky-lint"), "failed");
    assert_eq!(r.step("a.flaky-lint")["forgiven"], true);
    assert_eq!(r.status("a.dependent"), "ok");
}

#[test]
fn always_runs_after_its_deps_whatever_they_did() {
    let r = shell(
        r#"
[[boards.a.steps]]
name = "build"
plugin = "shell"
on_failure = "continue"
with = { run = "sleep 0.1; exit 1" }
[[boards.a.steps]]
name = "test"
plugin = "shell"
on_failure = "continue"
with = { run = "true" }
[[boards.a.steps]]
name = "archive"
plugin = "shell"
always = true
after = ["build", "test"]
with = { run = "true" }
"#,
    );
    assert_eq!(r.status("a.test"), "skipped");
    assert_eq!(r.status("a.archive"), "ok");
    r.assert_before("a.build", "a.archive");
}

#[test]
fn retries_run_fresh_attempts_and_keep_each_in_the_report() {
    let r = shell(
        r#"
[[boards.a.steps]]
name = "flaky"
plugin = "shell"
retries = 3
backoff = "50ms"
with = { run = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n; [ $n -ge 3 ]" }
[[boards.a.steps]]
name = "hopeless"
plugin = "shell"
after = []
on_failure = "continue"
retries = 1
backoff = "10ms"
with = { run = "exit 7" }
"#,
    );
    assert_eq!(r.status("a.flaky"), "ok", "{}", r.stderr);
    let attempts = r.step("a.flaky")["attempts"].as_array().expect("attempts").clone();
    let outcomes: Vec<&str> = attempts.iter().map(|a| a["status"].as_str().unwrap_or("?")).collect();
    assert_eq!(outcomes, ["failed", "failed", "ok"]);
    for w in attempts.windows(2) {
        assert!(w[0]["end"].as_f64() <= w[1]["start"].as_f64(), "attempts run one after the other");
    }
    assert_eq!(r.status("a.hopeless"), "failed");
    assert_eq!(r.error("a.hopeless"), "`exit 7` exited with code 7 (attempt 2 of 2)");
    assert_eq!(r.step("a.hopeless")["attempts"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_timeout_interrupts_the_attempt_and_kills_its_processes() {
    // Found by a marker: inside its pid namespace, `$$` is not a host pid.
    let marker = format!("30.{}", std::process::id());
    let p = Pipeline::new(&format!(
        r#"
[policy]
spawn = ["sh"]
[[boards.a.steps]]
name = "slow"
plugin = "shell"
timeout = "500ms"
on_failure = "continue"
with = {{ run = "sleep {marker}" }}
[[boards.b.steps]]
name = "fine"
plugin = "shell"
with = {{ run = "true" }}
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.status("a.slow"), "failed");
    assert_eq!(r.error("a.slow"), "timed out after 500ms");
    assert_eq!(r.step("a.slow")["attempts"][0]["kind"], "timeout");
    assert_eq!(r.status("b.fine"), "ok");
    assert_eq!(
        crate::escapes::processes_with(&format!("sleep {marker}")),
        Vec::<String>::new(),
        "the shell was killed"
    );
}

#[test]
fn critical_path_first_beats_list_order() {
    // Four short independent steps listed first, then a chain of four.
    // With two slots, list order starts the short steps first and leaves the
    // chain to run alone; critical-path order starts the chain at once.
    let text = r#"
[pipeline]
jobs = 2
[policy]
spawn = ["sh"]
[[boards.short.steps]]
name = "s1"
plugin = "shell"
with = { run = "sleep 0.3" }
[[boards.short.steps]]
name = "s2"
plugin = "shell"
after = []
with = { run = "sleep 0.3" }
[[boards.short.steps]]
name = "s3"
plugin = "shell"
after = []
with = { run = "sleep 0.3" }
[[boards.short.steps]]
name = "s4"
plugin = "shell"
after = []
with = { run = "sleep 0.3" }
[[boards.chain.steps]]
name = "c1"
plugin = "shell"
with = { run = "sleep 0.3" }
[[boards.chain.steps]]
name = "c2"
plugin = "shell"
with = { run = "sleep 0.3" }
[[boards.chain.steps]]
name = "c3"
plugin = "shell"
with = { run = "sleep 0.3" }
[[boards.chain.steps]]
name = "c4"
plugin = "shell"
with = { run = "sleep 0.3" }
"#;
    let list = Pipeline::new(text).run(&["--priority", "list"]);
    let cp = Pipeline::new(text).run(&["--priority", "critical-path"]);
    assert_eq!((list.code, cp.code), (0, 0), "{}\n{}", list.stderr, cp.stderr);
    // List order: the chain starts only after the short steps took the slots.
    for s in ["s1", "s2", "s3", "s4"] {
        assert!(list.start(&format!("short.{s}")) <= list.start("chain.c1"), "list order starts {s} first");
    }
    // Critical path: the chain's head starts first, in the first wave.
    for s in ["s2", "s3", "s4"] {
        assert!(cp.start("chain.c1") <= cp.start(&format!("short.{s}")), "critical path starts c1 before {s}");
    }
    let makespan = |r: &Run| r.report["duration"].as_f64().expect("duration");
    assert!(makespan(&cp) < makespan(&list), "critical path {} vs list {}", makespan(&cp), makespan(&list));
}
