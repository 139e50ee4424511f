//! What failures, retries, cancellation and resume do to a run.

use super::harness::{Act, Pipeline};
use crate::executor::FailureKind;
use crate::scheduler::resume::Carried;
use crate::status::{RunStatus, StepStatus};
use crate::storage::artifacts::{ArtifactRecord, Kind};

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_retried_after_a_doubling_backoff() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
retries = 2
backoff = "1s"
"#,
    )
    .script("l.a", 1, &[Act::Fail(FailureKind::Stage, "flaky")])
    .script("l.a", 2, &[Act::Sleep(10), Act::Fail(FailureKind::Trap, "trapped")])
    .script("l.a", 3, &[])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 l.a#1 failed: flaky",
            "1000 l.a#2 start",
            "1010 l.a#2 failed: trapped",
            "3010 l.a#3 start",
            "3010 l.a#3 ok",
        ]
    );
    assert_eq!(ran.outcome("l.a"), (StepStatus::Ok, None));
    let kinds: Vec<_> = ran.step("l.a").attempts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [Some(FailureKind::Stage), Some(FailureKind::Trap), None]);
}

#[tokio::test(start_paused = true)]
async fn retries_end_with_the_last_error_and_a_config_error_is_not_retried() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
retries = 1
backoff = "1s"
on_failure = "continue"
[[boards.w.steps]]
name = "b"
plugin = "s"
retries = 3
on_failure = "continue"
"#,
    )
    .script("l.a", 1, &[Act::Fail(FailureKind::Stage, "boom")])
    .script("w.b", 1, &[Act::Fail(FailureKind::Config, "invalid config: no `run`")])
    .run()
    .await;
    assert_eq!(ran.outcome("l.a"), (StepStatus::Failed, Some("boom (attempt 2 of 2)")));
    assert_eq!(ran.step("l.a").attempts.len(), 2);
    assert_eq!(ran.outcome("w.b"), (StepStatus::Failed, Some("invalid config: no `run`")));
    assert_eq!(ran.step("w.b").attempts.len(), 1);
    assert_eq!(ran.report.status, RunStatus::Failed);
}

const FAILING_FIRST: &str = r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
on_failure = "ON_FAILURE"
[[boards.l.steps]]
name = "b"
plugin = "s"
[[boards.w.steps]]
name = "x"
plugin = "s"
[[boards.w.steps]]
name = "cleanup"
plugin = "s"
after = ["l.b"]
always = true
"#;

fn failing_first(on_failure: &str) -> Pipeline {
    Pipeline::new(&FAILING_FIRST.replace("ON_FAILURE", on_failure)).jobs(1).script(
        "l.a",
        1,
        &[Act::Sleep(10), Act::Fail(FailureKind::Stage, "broke")],
    )
}

#[tokio::test(start_paused = true)]
async fn halt_starts_nothing_new_but_always_steps() {
    let ran = failing_first("halt").run().await;
    assert_eq!(ran.trace, ["0 l.a#1 start", "10 l.a#1 failed: broke", "10 w.cleanup#1 start", "10 w.cleanup#1 ok"]);
    assert_eq!(ran.outcome("l.a"), (StepStatus::Failed, Some("broke")));
    assert_eq!(ran.outcome("l.b"), (StepStatus::Skipped, Some("dependency l.a failed")));
    assert_eq!(ran.outcome("w.x"), (StepStatus::Skipped, Some("run halted after l.a failed")));
    assert_eq!(ran.outcome("w.cleanup"), (StepStatus::Ok, None));
    assert_eq!(ran.report.status, RunStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn continue_skips_dependents_and_runs_the_rest() {
    let ran = failing_first("continue").run().await;
    assert_eq!(ran.outcome("l.b"), (StepStatus::Skipped, Some("dependency l.a failed")));
    assert_eq!(ran.outcome("w.x"), (StepStatus::Ok, None));
    assert_eq!(ran.outcome("w.cleanup"), (StepStatus::Ok, None));
    assert_eq!(ran.report.status, RunStatus::Failed);
}

#[tokio::test(start_paused = true)]
async fn ignore_forgives_the_failure_and_its_dependents_run() {
    let ran = failing_first("ignore").run().await;
    assert_eq!(ran.outcome("l.a"), (StepStatus::Forgiven, Some("broke")));
    assert_eq!(ran.outcome("l.b"), (StepStatus::Ok, None));
    assert_eq!(ran.outcome("w.x"), (StepStatus::Ok, None));
    assert_eq!(ran.report.status, RunStatus::Ok);
    assert_eq!(ran.report.failures.len(), 1);
    assert!(ran.report.failures[0].forgiven);
}

#[tokio::test(start_paused = true)]
async fn cancelling_interrupts_running_steps_skips_the_rest_and_still_runs_always_steps() {
    let ran =
        failing_first("halt").script("l.a", 1, &[]).script("l.b", 1, &[Act::Sleep(100)]).cancel_at(50).run().await;
    // l.a succeeds at once; l.b runs (one slot) until the cancellation.
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 l.a#1 ok",
            "0 l.b#1 start",
            "50 cancel",
            "50 l.b#1 cancelled",
            "50 w.cleanup#1 start",
            "50 w.cleanup#1 ok",
        ]
    );
    assert_eq!(ran.outcome("l.b"), (StepStatus::Cancelled, Some("cancelled")));
    assert_eq!(ran.outcome("w.x"), (StepStatus::Skipped, Some("run cancelled")));
    assert_eq!(ran.outcome("w.cleanup"), (StepStatus::Ok, None));
    assert_eq!(ran.report.status, RunStatus::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_skips_what_passed_and_keeps_its_signals_and_artifacts() {
    let pipeline = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
emits = ["go"]
[[boards.w.steps]]
name = "b"
plugin = "s"
"#,
    );
    let a = pipeline.plan().step_index("l.a").expect("l.a");
    let record = ArtifactRecord {
        reference: "l.a/out".into(),
        step: "l.a".into(),
        name: "out".into(),
        digest: "sha256:out".into(),
        size: 1,
        kind: Kind::File,
    };
    let carried = Carried {
        done: [a].into_iter().collect(),
        artifacts: vec![("l.a/out".into(), record)],
        signals: vec![(a, "go".into())],
    };
    let ran = pipeline.script("w.b", 1, &[Act::Wait(&["l.a/go"]), Act::Get("l.a/out")]).resuming(carried).run().await;
    assert_eq!(ran.trace, ["0 w.b#1 start", "0 w.b wait over", "0 w.b got l.a/out", "0 w.b#1 ok"]);
    assert_eq!(ran.outcome("l.a"), (StepStatus::PreviouslyDone, None));
    assert!(ran.step("l.a").attempts.is_empty());
    assert_eq!(ran.report.artifacts.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_lost_with_its_worker_runs_again_at_once_without_using_up_retries() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
backoff = "1s"
"#,
    )
    .script("l.a", 1, &[Act::Sleep(10), Act::Fail(FailureKind::Lost, "worker lost: w1")])
    .script("l.a", 2, &[])
    .run()
    .await;
    assert_eq!(ran.trace, ["0 l.a#1 start", "10 l.a#1 failed: worker lost: w1", "10 l.a#2 start", "10 l.a#2 ok"]);
    assert_eq!(ran.outcome("l.a"), (StepStatus::Ok, None));
}

#[tokio::test(start_paused = true)]
async fn a_step_lost_four_times_fails() {
    let lost = [Act::Fail(FailureKind::Lost, "worker lost: w")];
    let ran = Pipeline::new("[[boards.l.steps]]\nname = \"a\"\nplugin = \"s\"\n")
        .script("l.a", 1, &lost)
        .script("l.a", 2, &lost)
        .script("l.a", 3, &lost)
        .script("l.a", 4, &lost)
        .script("l.a", 5, &[])
        .run()
        .await;
    assert_eq!(ran.outcome("l.a"), (StepStatus::Failed, Some("worker lost: w")));
    assert_eq!(ran.step("l.a").attempts.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_loss_uses_up_none_of_the_steps_retries() {
    let ran = Pipeline::new("[[boards.l.steps]]\nname = \"a\"\nplugin = \"s\"\nretries = 1\nbackoff = \"1s\"\n")
        .script("l.a", 1, &[Act::Fail(FailureKind::Lost, "worker lost: w")])
        .script("l.a", 2, &[Act::Fail(FailureKind::Stage, "flaky")])
        .script("l.a", 3, &[])
        .run()
        .await;
    assert_eq!(ran.outcome("l.a"), (StepStatus::Ok, None));
    let kinds: Vec<_> = ran.step("l.a").attempts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [Some(FailureKind::Lost), Some(FailureKind::Stage), None]);
}
