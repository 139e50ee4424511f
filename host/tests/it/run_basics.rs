//! The foundation: a stage logs, spawns allowed programs and only those,
//! traps without taking the host down, shares the board workspace with later
//! steps, and cannot reach outside it.

use crate::harness::Pipeline;

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh", "echo"]
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

#[test]
fn a_stage_logs_to_its_step_log() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "talk"
plugin = "probe"
with = { ops = [{ op = "log", message = "hello from the guest" }, { op = "print", text = "to stdout" }, { op = "eprint", text = "to stderr" }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = p.log("b.talk");
    assert!(log.contains("info | hello from the guest"), "{log}");
    assert!(log.contains("stdout | to stdout"), "{log}");
    assert!(log.contains("stderr | to stderr"), "{log}");
}

#[test]
fn an_allowed_program_runs_in_the_workspace_with_a_scrubbed_environment() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "spawn"
plugin = "probe"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "pwd > where.txt; echo \"$BATON_WORKSPACE\" >> where.txt"] },
  { op = "run", program = "sh", args = ["-c", "env | sort | cut -d= -f1 | tr '\n' ' '"], env = { GREETING = "hi" }, expect_stdout = "BATON_ATTEMPT BATON_BOARD BATON_RUN_ID BATON_SRC BATON_STEP BATON_WORKSPACE GREETING PATH PWD " },
  { op = "run", program = "sh", args = ["-c", "echo $BATON_STEP $BATON_BOARD $BATON_ATTEMPT"], expect_stdout = "b.spawn b 1\n" },
  { op = "run", program = "echo", args = ["one", "two"], expect_stdout = "one two\n" },
  { op = "run", program = "sh", args = ["-c", "exit 3"], expect_code = 3 },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("b.spawn"));
    let ws = p.workspace("b");
    let real = std::fs::canonicalize(&ws).expect("canon").display().to_string();
    let seen = std::fs::read_to_string(ws.join("where.txt")).expect("where.txt");
    assert_eq!(seen, format!("{real}\n{real}\n"), "runs in the run's own workspace, and is told where");
    let log = p.log("b.spawn");
    assert!(log.contains("echo["), "process output is in the step log: {log}");
    assert!(log.contains("| one two"), "{log}");
}

#[test]
fn a_program_not_on_the_allow_list_is_denied_by_name() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "curl"
plugin = "probe"
with = { ops = [{ op = "run", program = "curl", args = ["http://example.com"] }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.error("b.curl"),
        "denied: program `curl` is not in the spawn allow-list of step b.curl (allowed: sh, echo); to allow it, add it to [policy] spawn and to the step's `spawn` if it sets one"
    );
}

#[test]
fn a_trap_fails_only_its_step() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "trap"
plugin = "probe"
on_failure = "continue"
with = { ops = [{ op = "trap" }] }
[[boards.b.steps]]
name = "panic"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "panic", message = "boom" }] }
[[boards.c.steps]]
name = "fine"
plugin = "probe"
with = { ops = [{ op = "log", message = "still here" }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("b.trap"), "failed");
    assert_eq!(r.error("b.trap"), "stage trapped: wasm `unreachable` instruction executed");
    assert!(r.error("b.panic").starts_with("stage panicked: boom (at "), "{}", r.error("b.panic"));
    assert_eq!(r.status("c.fine"), "ok");
}

#[test]
fn a_file_written_by_one_step_is_read_by_the_next_of_the_board() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "write"
plugin = "probe"
with = { ops = [{ op = "write", path = "/workspace/note.txt", text = "made by write" }] }
[[boards.b.steps]]
name = "read"
plugin = "probe"
with = { ops = [{ op = "read", path = "/workspace/note.txt", expect = "made by write" }, { op = "read", path = "note.txt", expect = "made by write" }] }
[[boards.other.steps]]
name = "elsewhere"
plugin = "probe"
after = ["b.write"]
with = { ops = [{ op = "missing", path = "/workspace/note.txt" }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_before("b.write", "b.read");
    assert_eq!(std::fs::read_to_string(p.workspace("b").join("note.txt")).expect("host sees it"), "made by write");
}

#[test]
fn paths_outside_the_workspace_cannot_be_opened() {
    std::fs::write(std::env::temp_dir().join("baton-secret.txt"), "secret").expect("write");
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "escape"
plugin = "probe"
with = { ops = [
  { op = "read", path = "/etc/passwd", expect_error = "read /etc/passwd" },
  { op = "read", path = "/workspace/../../../../etc/passwd", expect_error = "read /workspace/../../../../etc/passwd" },
  { op = "write", path = "/workspace/../escaped.txt", text = "x", expect_error = "write /workspace/../escaped.txt" },
  { op = "read", path = "/tmp/baton-secret.txt", expect_error = "No such file" },
  { op = "write", path = "/tmp/scratch.txt", text = "private scratch" },
  { op = "read", path = "/tmp/scratch.txt", expect = "private scratch" },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("b.escape"));
    assert!(!p.workspace("b").parent().expect("ws").join("escaped.txt").exists());
}

#[test]
fn the_json_report_respects_dependency_order() {
    let p = pipeline(
        r#"
[[boards.l.steps]]
name = "one"
plugin = "shell"
with = { run = "sleep 0.2" }
[[boards.l.steps]]
name = "two"
plugin = "shell"
with = { run = "true" }
[[boards.w.steps]]
name = "x"
plugin = "shell"
with = { run = "sleep 0.2" }
[[boards.w.steps]]
name = "y"
plugin = "shell"
after = ["l.two", "x"]
with = { run = "true" }
"#,
    );
    let r = p.run(&["--jobs", "4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report["status"], "ok");
    r.assert_status("ok", &["l.one", "l.two", "w.x", "w.y"]);
    r.assert_before("l.one", "l.two");
    r.assert_before("l.two", "w.y");
    r.assert_before("w.x", "w.y");
    assert!(r.overlap("l.one", "w.x"), "independent boards run in parallel");
    for id in ["l.one", "l.two", "w.x", "w.y"] {
        assert!(r.step(id)["error"].is_null());
    }
}
