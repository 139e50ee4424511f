//! The hostile-plugin suite: each attack runs in a pipeline next to a
//! healthy step. The hostile step fails with the exact error, the healthy
//! step succeeds, and baton's own memory and open files are back where they
//! started once the run ends.

use crate::harness::{Pipeline, Run};

/// Runs `attacks` (`(attack, extra step keys)`) as steps `h.<attack>` next
/// to a healthy step, and checks what every hostile run must leave behind.
fn attack_all(attacks: &[(&str, &str)]) -> (Pipeline, Run) {
    let mut toml = String::from(
        r#"
[pipeline]
jobs = 24
[plugins]
hostile = "{hostile}"
probe = "{probe}"
[policy]
spawn = ["sh", "sleep", "ln"]

[[boards.h.steps]]
name = "plant"
plugin = "probe"
with = { ops = [{ op = "run", program = "ln", args = ["-sfn", "/etc", "planted"] }] }

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
after = []
with = { ops = [{ op = "write", path = "fine.txt", text = "fine" }, { op = "run", program = "sh", args = ["-c", "cat fine.txt"], expect_stdout = "fine" }] }

[[boards.slow.steps]]
name = "forever"
plugin = "shell"
emits = ["never"]
timeout = "4s"
on_failure = "ignore"
with = { run = "sleep 30" }
"#,
    );
    for (attack, extra) in attacks {
        toml += &format!(
            "\n[[boards.h.steps]]\nname = \"{attack}\"\nplugin = \"hostile\"\nafter = [\"plant\"]\non_failure = \"continue\"\n{extra}\nwith = {{ attack = \"{attack}\" }}\n"
        );
    }
    let p = Pipeline::new(&toml);
    let r = p.run(&[]);
    assert_eq!(r.status("ok.healthy"), "ok", "the healthy step is untouched: {}", r.stderr);
    let host = &r.report["host"];
    let (fd0, fd1) = (host["start"]["fds"].as_u64().expect("fds"), host["end"]["fds"].as_u64().expect("fds"));
    assert!(fd1 <= fd0, "open files back to normal: {fd0} at start, {fd1} at the end");
    let (m0, m1) = (host["start"]["rss_kib"].as_u64().expect("rss"), host["end"]["rss_kib"].as_u64().expect("rss"));
    assert!(m1 < m0 + 64 * 1024, "memory back to normal: {m0} KiB at start, {m1} KiB at the end");
    (p, r)
}

#[test]
fn loops_are_stopped_by_the_wall_clock_even_inside_host_calls() {
    let (_p, r) = attack_all(&[
        ("cpu-loop", "timeout = \"2s\""),
        ("log-flood", "timeout = \"2s\""),
        ("host-block", "timeout = \"2s\""),
        ("wait-forever", "timeout = \"2s\""),
    ]);
    for a in ["cpu-loop", "log-flood", "host-block", "wait-forever"] {
        assert_eq!(r.error(&format!("h.{a}")), "timed out after 2s", "{a}");
    }
}

#[test]
fn a_cpu_budget_stops_a_spinning_stage() {
    let (_p, r) = attack_all(&[("cpu-loop", "cpu = \"500ms\"\ntimeout = \"60s\"")]);
    assert_eq!(r.error("h.cpu-loop"), "cpu limit 500ms exceeded");
    assert_eq!(r.step("h.cpu-loop")["attempts"][0]["kind"], "limit");
}

#[test]
fn memory_stack_and_traps_fail_only_their_step() {
    let (_p, r) =
        attack_all(&[("memory", "memory = \"512MiB\""), ("recursion", ""), ("panic", ""), ("unreachable", "")]);
    assert_eq!(r.error("h.memory"), "memory limit 512MiB exceeded");
    assert_eq!(r.error("h.recursion"), "stack limit 1MiB exceeded (wasm stack overflow)");
    assert_eq!(r.step("h.recursion")["attempts"][0]["kind"], "limit");
    assert_eq!(r.error("h.panic"), "stage panicked: hostile panic (at tests/fixtures/hostile/src/lib.rs:47:24)");
    assert_eq!(r.error("h.unreachable"), "stage trapped: wasm `unreachable` instruction executed");
}

#[test]
fn a_gigabyte_on_stdout_is_capped_not_fatal() {
    let (_p, r) = attack_all(&[("stdout-flood", "timeout = \"120s\"\nlog_limit = \"1MiB\"")]);
    assert_eq!(r.status("h.stdout-flood"), "ok", "writing 1 GiB is not a reason to kill the guest");
    let log = std::fs::read_to_string(r.step("h.stdout-flood")["log"].as_str().expect("a log")).expect("log");
    assert!(log.len() < (1 << 20) + 4096, "the log is capped: {} bytes", log.len());
    assert!(log.contains("[log truncated: limit 1MiB reached; later output is dropped]"));
}

#[test]
fn the_file_system_network_and_environment_are_out_of_reach() {
    let (_p, r) = attack_all(&[("fs-escape", ""), ("socket", ""), ("dns", ""), ("env", "")]);
    assert_eq!(
        r.error("h.fs-escape"),
        "read /etc/passwd: entity not found; read /workspace/../../etc/passwd: permission denied; \
         read planted/passwd: permission denied; write /workspace/../escaped: permission denied; \
         write planted/owned: permission denied"
    );
    assert_eq!(r.error("h.socket"), "connect 1.1.1.1:53: permission denied");
    assert_eq!(r.error("h.dns"), "resolve example.com: uncategorized error");
    assert_eq!(r.error("h.env"), "host environment: 0 variables []");
}

#[test]
fn processes_stay_within_the_policy() {
    let (_p, r) = attack_all(&[("spawn-denied", ""), ("spawn-cwd", ""), ("spawn-flood", "max_children = 16")]);
    assert_eq!(
        r.error("h.spawn-denied"),
        "denied: program `curl` is not in the spawn allow-list of step h.spawn-denied (allowed: sh, sleep, ln); to allow it, add it to [policy] spawn and to the step's `spawn` if it sets one"
    );
    assert_eq!(
        r.error("h.spawn-cwd"),
        "invalid cwd: `../..` contains `..` | invalid cwd: `/etc` is absolute (give a path relative to the workspace) \
         | invalid cwd: `planted` leads outside the workspace (through a symlink)"
    );
    assert_eq!(
        r.error("h.spawn-flood"),
        "after 16 children: limit: max_children 16 reached: step h.spawn-flood already has 16 processes running"
    );
}

#[test]
fn artifacts_cannot_be_taken_from_outside() {
    let (_p, r) = attack_all(&[("artifact-traversal", "")]);
    assert_eq!(
        r.error("h.artifact-traversal"),
        "invalid path: `../../../etc/passwd` contains `..` | invalid path: path `planted` leads outside the \
         workspace (through a symlink)"
    );
}

#[test]
fn a_huge_table_is_refused_with_its_limit() {
    let toml = r#"
[plugins]
huge = "{huge-table}"
probe = "{probe}"
[[boards.h.steps]]
name = "huge"
plugin = "huge"
on_failure = "continue"
[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = { ops = [] }
"#;
    let p = Pipeline::new(toml);
    // With the pooling allocator the plugin is refused at load, by pre-flight…
    let r = p.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let refusal = format!(
        "plugin `huge` ({}): exceeds a host limit: table index 0 has a minimum element size of 2000077 which \
         exceeds the limit of 1000000 (used by h.huge)",
        baton_test_artifacts::HUGE_TABLE
    );
    assert!(r.stderr.contains(&refusal), "{}", r.stderr);
    // …and without it, the limiter refuses the growth at instantiation.
    let out = p.baton().env("BATON_POOLING", "0").args(["run", "--json"]).output().expect("run");
    let r = Run::from_output(out);
    assert_eq!(r.error("h.huge"), "table limit 1000000 elements exceeded");
    assert_eq!(r.step("h.huge")["attempts"][0]["kind"], "limit");
    assert_eq!(r.status("ok.healthy"), "ok");
}

#[test]
fn the_stack_limit_is_the_pipelines() {
    let p = Pipeline::new(
        r#"
[policy]
stack = "256KiB"
[plugins]
hostile = "{hostile}"
[[boards.h.steps]]
name = "recursion"
plugin = "hostile"
with = { attack = "recursion" }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.error("h.recursion"), "stack limit 256KiB exceeded (wasm stack overflow)");
}
