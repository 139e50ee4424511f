//! Processes: concurrent children, streaming to the log with caps, nothing
//! surviving its step, and the confinement of untrusted steps' processes.

use std::net::TcpListener;

use crate::harness::Pipeline;

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh", "bash"]
[policy.untrusted]
spawn = ["sh", "bash"]
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

#[test]
fn children_run_concurrently_and_stream_their_output() {
    // Each child waits for the other's file: they only finish if they run at once.
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "two"
plugin = "probe"
with = { ops = [
  { op = "spawn", id = "x", program = "sh", args = ["-c", "touch x; while [ ! -f y ]; do sleep 0.01; done; echo x done"] },
  { op = "spawn", id = "y", program = "sh", args = ["-c", "touch y; while [ ! -f x ]; do sleep 0.01; done; for i in 1 2 3; do echo line $i; done"] },
  { op = "read-lines", id = "y", count = 3 },
  { op = "join", id = "x", expect_stdout = "x done\n" },
  { op = "join", id = "y", expect_stdout = "line 1\nline 2\nline 3\n" },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("a.two"));
    let log = p.log("a.two");
    for line in ["| line 1", "| line 2", "| line 3", "| x done"] {
        assert!(log.contains(line), "{line} in {log}");
    }
}

#[test]
fn a_chatty_process_is_capped_not_killed() {
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "chatty"
plugin = "probe"
log_limit = "4KiB"
output_limit = "1KiB"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; echo the end >&2"] }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = p.log("a.chatty");
    assert!(log.len() < 6000, "the log is capped: {} bytes", log.len());
    assert!(log.contains("[log truncated: limit 4KiB reached; later output is dropped]"), "{log}");
}

#[test]
fn no_process_survives_its_step_even_one_ignoring_sigterm() {
    // Processes are found by a marker in their command line: inside their
    // pid namespace, `$$` is not a host pid.
    let marker = format!("{}.{}", 600 + std::process::id() % 100, std::process::id());
    let p = pipeline(&format!(
        r#"
[[boards.a.steps]]
name = "leaves"
plugin = "probe"
with = {{ ops = [
  {{ op = "spawn", id = "stubborn", program = "sh", args = ["-c", "trap '' TERM INT HUP; (sleep {marker}; echo grandchild) & wait", "stubborn-{marker}"] }},
  {{ op = "sleep", ms = 300 }},
] }}
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(crate::escapes::processes_with(&marker), Vec::<String>::new(), "still alive");
}

#[test]
fn untrusted_processes_cannot_write_outside_the_workspace_or_use_the_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let p = pipeline(&format!(
        r#"
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "echo inside > in-workspace.txt"] }},
  {{ op = "run", program = "sh", args = ["-c", "echo x > /usr/escape.txt"], expect_code = 2 }},
  {{ op = "run", program = "sh", args = ["-c", "echo x > ../escape.txt && cat ../escape.txt"] }},
  {{ op = "run", program = "sh", args = ["-c", "test ! -e /root && test ! -e /etc/shadow && test ! -e /work"] }},
  {{ op = "run", program = "bash", args = ["-c", "echo hi > /dev/tcp/127.0.0.1/{port}"], expect_code = 1 }},
  {{ op = "run", program = "bash", args = ["-c", "echo hi > /dev/tcp/1.1.1.1/53"], expect_code = 1 }},
] }}
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.patch"));
    assert_eq!(std::fs::read_to_string(p.workspace("try").join("in-workspace.txt")).expect("written"), "inside\n");
    let beside = p.workspace("try").parent().expect("ws").join("escape.txt");
    assert!(!beside.exists(), "the write outside went nowhere");
    listener.set_nonblocking(true).expect("nonblocking");
    assert!(listener.accept().is_err(), "nothing connected to the host's loopback");
    let log = p.log("try.patch");
    assert!(log.contains("Network is unreachable") || log.contains("Connection refused"), "{log}");
}

#[test]
fn an_untrusted_fork_bomb_fails_its_step_and_the_rest_goes_on() {
    let p = pipeline(
        r#"
[[boards.try.steps]]
name = "bomb"
plugin = "probe"
trust = "untrusted"
timeout = "3s"
on_failure = "continue"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "f() { f | f & }; f; sleep 60"] }] }
[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "echo still fine"], expect_stdout = "still fine\n" }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.status("try.bomb"), "failed");
    // Either the capped tree starves until the timeout, or its first shell
    // gives up when the pids cgroup refuses a fork; both are this step's end.
    let error = r.error("try.bomb");
    assert!(error == "timed out after 3s" || error.contains("Cannot fork"), "{error}");
    assert_eq!(r.status("ok.healthy"), "ok", "{}", r.stderr);
}

#[test]
fn without_bubblewrap_untrusted_steps_never_run_processes_bare() {
    let p = pipeline(
        r#"
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "true"] }] }
"#,
    );
    let r = p.run_env(&[("BATON_BWRAP", "none")], &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.error("try.patch"),
        "cannot confine `sh` for untrusted step try.patch: bubblewrap is disabled (BATON_BWRAP=none)"
    );
}

#[test]
fn a_process_timeout_kills_its_group_and_says_so() {
    let marker = format!("{}.{}", 500 + std::process::id() % 100, std::process::id());
    let p = pipeline(&format!(
        r#"
[[boards.a.steps]]
name = "slow"
plugin = "probe"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "sleep {marker}"], timeout_ms = 300, expect_error = "sh timed out after 300ms" }},
] }}
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("a.slow"));
    assert_eq!(crate::escapes::processes_with(&marker), Vec::<String>::new(), "the timed-out process is gone");
    assert!(p.log("a.slow").contains("timed out after 300ms"));
}
