//! What the scheduler answers a stage: undeclared signals and untrusted
//! artifact reads.

use super::harness::{Act, Pipeline};

#[tokio::test(start_paused = true)]
async fn an_undeclared_signal_is_refused_and_naming_one_that_nobody_declares_too() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "a"
plugin = "s"
emits = ["built"]
"#,
    )
    .script("l.a", 1, &[Act::Emit("tested"), Act::Wait(&["nobody"])])
    .run()
    .await;
    assert_eq!(
        ran.trace,
        [
            "0 l.a#1 start",
            "0 l.a emit failed: undeclared signal: step l.a does not declare signal `tested` in `emits` (it \
             declares: built)",
            "0 l.a wait failed: undeclared signal: no step declares signal `nobody` in `emits`",
            "0 l.a#1 ok",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_untrusted_step_reads_only_the_artifacts_of_its_dependencies() {
    let ran = Pipeline::new(
        r#"
[[boards.l.steps]]
name = "secret"
plugin = "s"
[[boards.l.steps]]
name = "dep"
plugin = "s"
after = []
[[boards.u.steps]]
name = "bot"
plugin = "s"
after = ["l.dep"]
trust = "untrusted"
"#,
    )
    .script("l.secret", 1, &[Act::Put("key")])
    .script("l.dep", 1, &[Act::Sleep(10), Act::Put("out")])
    .script("u.bot", 1, &[Act::Get("out"), Act::Get("l.secret/key")])
    .run()
    .await;
    assert!(ran.trace.contains(&"10 u.bot got l.dep/out".to_string()), "{:#?}", ran.trace);
    assert!(
        ran.trace.contains(
            &"10 u.bot get failed: denied: untrusted step u.bot may only read artifacts of steps it depends on, not \
              l.secret"
                .to_string()
        ),
        "{:#?}",
        ran.trace
    );
}
