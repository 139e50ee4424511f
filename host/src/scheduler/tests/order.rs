//! What starts when: readiness across boards, pools, job slots given back
//! during waits, deadlocks.

use super::harness::{Act, Pipeline};
use crate::status::RunStatus;

#[tokio::test(start_paused = true)]
async fn a_step_of_another_board_starts_when_its_dependency_ends() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
[[boards.l.steps]]
name = "b"
plugin = "s"
[[boards.w.steps]]
name = "x"
plugin = "s"
after = ["l.a"]
[[boards.w.steps]]
name = "y"
plugin = "s"
after = []
"#,
    )
    .script("l.a", 1, &[Act::Sleep(50)])
    .script("l.b", 1, &[Act::Sleep(20)])
    .script("w.x", 1, &[Act::Sleep(10)])
    .script("w.y", 1, &[Act::Sleep(5)])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 w.y#1 start",
            "5 w.y#1 ok",
            "50 l.a#1 ok",
            "50 l.b#1 start",
            "50 w.x#1 start",
            "60 w.x#1 ok",
            "70 l.b#1 ok",
        ]
    );
    assert_eq!(ran.report.status, RunStatus::Ok);
}

#[tokio::test(start_paused = true)]
async fn a_pool_of_one_runs_its_steps_one_at_a_time_while_others_go_on() {
    let ran = Pipeline::new(
        r#"
[pools]
fg = 1
[[boards.l.steps]]
name = "a"
plugin = "s"
pool = "fg"
[[boards.w.steps]]
name = "b"
plugin = "s"
pool = "fg"
[[boards.x.steps]]
name = "c"
plugin = "s"
"#,
    )
    .script("l.a", 1, &[Act::Sleep(50)])
    .script("w.b", 1, &[Act::Sleep(50)])
    .script("x.c", 1, &[Act::Sleep(10)])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        ["0 l.a#1 start", "0 x.c#1 start", "10 x.c#1 ok", "50 l.a#1 ok", "50 w.b#1 start", "100 w.b#1 ok"]
    );
}

#[tokio::test(start_paused = true)]
async fn no_more_attempts_start_than_the_executor_can_hold() {
    // Four job slots, room for two attempts: a waiting one keeps its place.
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
[[boards.w.steps]]
name = "b"
plugin = "s"
emits = ["go"]
[[boards.x.steps]]
name = "c"
plugin = "s"
"#,
    )
    .capacity(2)
    .script("l.a", 1, &[Act::Wait(&["w.b/go"])])
    .script("w.b", 1, &[Act::Sleep(10), Act::Emit("go"), Act::Sleep(10)])
    .script("x.c", 1, &[Act::Sleep(5)])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 w.b#1 start",
            "10 l.a wait over",
            "10 l.a#1 ok",
            "10 x.c#1 start",
            "15 x.c#1 ok",
            "20 w.b#1 ok",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_step_gives_its_slot_back_and_gets_one_before_new_steps_start() {
    // One job slot. l.a waits for w.b's signal: w.b runs in the slot l.a
    // gave back and raises it at once, then works on. When w.b ends, l.a
    // (woken long ago) gets the slot before x.c, which was ready all along.
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
[[boards.w.steps]]
name = "b"
plugin = "s"
emits = ["go"]
[[boards.x.steps]]
name = "c"
plugin = "s"
"#,
    )
    .jobs(1)
    .script("l.a", 1, &[Act::Wait(&["w.b/go"]), Act::Sleep(5)])
    .script("w.b", 1, &[Act::Emit("go"), Act::Sleep(100)])
    .script("x.c", 1, &[Act::Sleep(10)])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 w.b#1 start",
            "100 w.b#1 ok",
            "100 l.a wait over",
            "105 l.a#1 ok",
            "105 x.c#1 start",
            "115 x.c#1 ok",
        ]
    );
    let waits = &ran.step("l.a").waits;
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[0].on, ["w.b/go"]);
    assert_eq!(waits[0].error, None);
}

#[tokio::test(start_paused = true)]
async fn steps_waiting_on_each_other_fail_with_the_cycle_named() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
emits = ["x"]
[[boards.w.steps]]
name = "b"
plugin = "s"
emits = ["y"]
"#,
    )
    .script("l.a", 1, &[Act::Sleep(10), Act::Wait(&["w.b/y"])])
    .script("w.b", 1, &[Act::Wait(&["l.a/x"]), Act::Fail(crate::executor::FailureKind::Stage, "no signal")])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 w.b#1 start",
            "10 l.a wait failed: deadlock: l.a waits for signal w.b/y; w.b waits for signal l.a/x",
            "10 l.a#1 ok",
            "10 w.b wait failed: deadlock: w.b waits for signal l.a/x; l.a waits for signal w.b/y",
            "10 w.b#1 failed: no signal",
        ]
    );
    assert_eq!(
        ran.step("w.b").waits[0].error.as_deref(),
        Some("deadlock: w.b waits for signal l.a/x; l.a waits for signal w.b/y")
    );
}

#[tokio::test(start_paused = true)]
async fn a_fetch_waits_for_its_producer_and_fails_when_it_ends_without_publishing() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
[[boards.w.steps]]
name = "b"
plugin = "s"
[[boards.w.steps]]
name = "c"
plugin = "s"
after = []
"#,
    )
    .script("l.a", 1, &[Act::Sleep(30), Act::Put("out.tar")])
    .script("w.b", 1, &[Act::Get("l.a/out.tar"), Act::Get("l.a/other")])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 w.b#1 start",
            "0 w.c#1 start",
            "0 w.c#1 ok",
            "30 l.a#1 ok",
            "30 w.b got l.a/out.tar",
            "30 w.b get failed: never published: l.a finished without publishing `other`",
            "30 w.b#1 ok",
        ]
    );
}
