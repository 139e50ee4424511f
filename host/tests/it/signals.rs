//! Signals inside running steps: emit/wait across boards, waits on step
//! completion, and waits that can never end failing instead of hanging.

use crate::harness::{Pipeline, Run};

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

#[test]
fn a_step_waits_inside_its_stage_for_a_signal_of_another_board() {
    let p = pipeline(
        r#"
[pipeline]
jobs = 2
[[boards.linux.steps]]
name = "L2"
plugin = "probe"
emits = ["generated"]
with = { ops = [
  { op = "sleep", ms = 200 },
  { op = "write", path = "gen.c", text = "int x;" },
  { op = "emit", name = "generated" },
  { op = "sleep", ms = 300 },
] }
[[boards.windows.steps]]
name = "W3"
plugin = "probe"
with = { ops = [
  { op = "wait", names = ["linux.L2/generated"] },
  { op = "log", message = "got it" },
] }
[[boards.windows.steps]]
name = "W4"
plugin = "probe"
after = []
with = { ops = [{ op = "wait", names = ["generated", "linux.L1"] }] }
[[boards.linux.steps]]
name = "L1"
plugin = "probe"
after = []
with = { ops = [] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // W3 started before L2 ended and finished before it: it waited for the
    // signal, not for the step.
    assert!(r.start("windows.W3") < r.end("linux.L2"));
    assert!(r.end("windows.W3") < r.end("linux.L2"), "W3 resumed when the signal came, not when L2 ended");
    assert_eq!(r.step("windows.W3")["waits"][0]["on"][0], "linux.L2/generated");
    assert_eq!(r.status("windows.W4"), "ok");
    assert!(r.report["waiting_policy"].as_str().expect("policy").contains("gives its job slot back"));
}

#[test]
fn waits_that_can_never_end_fail() {
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "undeclared"
plugin = "probe"
on_failure = "continue"
with = { ops = [{ op = "wait", names = ["nope"] }] }
[[boards.a.steps]]
name = "quiet"
plugin = "probe"
after = []
emits = ["ready"]
with = { ops = [{ op = "sleep", ms = 100 }] }
[[boards.a.steps]]
name = "waits-for-quiet"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "wait", names = ["a.quiet/ready"] }] }
[[boards.a.steps]]
name = "broken"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "fail", message = "no" }] }
[[boards.a.steps]]
name = "waits-for-broken"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "wait", names = ["a.broken"] }] }
[[boards.a.steps]]
name = "self-raise"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "emit", name = "ready" }] }
"#,
    );
    let r = p.run(&["--jobs", "6"]);
    assert_eq!(r.error("a.undeclared"), "undeclared signal: no step declares signal `nope` in `emits`");
    assert_eq!(
        r.error("a.waits-for-quiet"),
        "signal never raised: a.quiet finished (succeeded) without emitting `ready`"
    );
    assert_eq!(r.error("a.waits-for-broken"), "a.broken failed");
    assert_eq!(
        r.error("a.self-raise"),
        "undeclared signal: step a.self-raise does not declare signal `ready` in `emits` (it declares: none)"
    );
}

/// `linux.L1` and `windows.W1` each wait for the other's signal before
/// raising their own: a cycle no run can get out of.
pub const WAITING_ON_EACH_OTHER: &str = r#"
[[boards.linux.steps]]
name = "L1"
plugin = "probe"
emits = ["ready"]
on_failure = "continue"
with = { ops = [{ op = "wait", names = ["windows.W1/ready"] }, { op = "emit", name = "ready" }] }
[[boards.windows.steps]]
name = "W1"
plugin = "probe"
emits = ["ready"]
on_failure = "continue"
with = { ops = [{ op = "wait", names = ["linux.L1/ready"] }, { op = "emit", name = "ready" }] }
"#;

/// Both steps of [`WAITING_ON_EACH_OTHER`] failed, naming the cycle.
pub fn assert_the_cycle_is_named(r: &Run) {
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l1 = r.error("linux.L1");
    let w1 = r.error("windows.W1");
    assert!(l1.starts_with("deadlock: "), "{l1}");
    assert!(w1.starts_with("deadlock: "), "{w1}");
    for e in [&l1, &w1] {
        assert!(e.contains("linux.L1 waits for signal windows.W1/ready"), "{e}");
        assert!(e.contains("windows.W1 waits for signal linux.L1/ready"), "{e}");
    }
}

#[test]
fn steps_waiting_on_each_other_fail_with_the_cycle_and_the_rest_goes_on() {
    let p = pipeline(&format!(
        r#"
[pipeline]
jobs = 3
{WAITING_ON_EACH_OTHER}
[[boards.other.steps]]
name = "busy"
plugin = "probe"
with = {{ ops = [{{ op = "sleep", ms = 300 }}] }}
[[boards.other.steps]]
name = "after"
plugin = "probe"
with = {{ ops = [] }}
"#
    ));
    let r = p.run(&[]);
    assert_the_cycle_is_named(&r);
    r.assert_status("ok", &["other.busy", "other.after"]);
}

#[test]
fn the_blocker_example_starts_early_and_waits_inside_its_stage() {
    let path = format!("{}/../examples/blocker/baton.toml", env!("CARGO_MANIFEST_DIR"));
    let p = Pipeline::new(&std::fs::read_to_string(path).expect("example"));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // W3 does not wait for L2 to finish: it starts before L2 does and its
    // wait is on L2's signal, raised midway through L2.
    assert!(r.start("windows.W3") < r.start("linux.L2"));
    assert!(r.end("windows.W3") < r.end("linux.L2"));
    let wait = &r.step("windows.W3")["waits"][0];
    assert_eq!(wait["on"][0], "linux.L2/generated");
    assert!(wait["end"].as_f64().expect("end") > r.start("linux.L2"));
    assert!(p.log("windows.W3").contains("building with the generated code"));
}
