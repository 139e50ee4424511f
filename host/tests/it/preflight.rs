//! Before and around the first step: pre-flight refuses a run that cannot
//! work without starting anything, failures that cannot change are not
//! retried, and the pipeline is found from anywhere below it.

use std::process::Output;

use crate::harness::Pipeline;

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

fn text(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_plugin_stops_the_run_before_any_step_starts() {
    let p = pipeline(
        r#"
[plugins.late]
path = "nowhere/late.wasm"
[[boards.a.steps]]
name = "first"
plugin = "shell"
with = { run = "touch \"$BATON_SRC/started\"" }
[[boards.b.steps]]
name = "later"
plugin = "late"
after = ["a.first"]
with = {}
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let culprit = format!(
        "plugin `late` ({}): cannot read: No such file or directory (os error 2) (used by b.later)",
        p.dir().join("nowhere/late.wasm").display()
    );
    assert!(r.stderr.contains(&culprit), "{culprit} in:\n{}", r.stderr);
    assert!(r.stderr.contains("1 error before the first step; no step was started"), "{}", r.stderr);
    assert!(!p.dir().join("started").exists(), "a.first must not have run");
    assert!(p.runs().is_empty(), "no run was recorded: `--resume` still means the last real run");
}

#[test]
fn failures_that_cannot_change_are_not_retried() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "bad-config"
plugin = "probe"
retries = 3
backoff = "10ms"
on_failure = "continue"
with = { ops = [{ op = "no-such-op" }] }
[[boards.b.steps]]
name = "denied"
plugin = "probe"
retries = 3
backoff = "10ms"
on_failure = "continue"
after = []
with = { ops = [{ op = "run", program = "curl" }] }
[[boards.b.steps]]
name = "secret"
plugin = "probe"
after = []
with = { ops = [{ op = "write", path = "key", text = "k" }, { op = "put", name = "key", path = "key" }] }
[[boards.u.steps]]
name = "peek"
plugin = "probe"
trust = "untrusted"
retries = 3
backoff = "10ms"
on_failure = "continue"
with = { ops = [{ op = "get", reference = "b.secret/key", dest = "key" }] }
[policy.untrusted]
spawn = ["sh"]
[[boards.b.steps]]
name = "flaky"
plugin = "probe"
retries = 2
backoff = "10ms"
on_failure = "continue"
after = []
with = { ops = [{ op = "fail", message = "may pass next time" }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let attempts = |id: &str| r.step(id)["attempts"].as_array().expect("attempts").clone();
    let config = attempts("b.bad-config");
    assert_eq!(config.len(), 1, "an invalid config fails the same way every time");
    assert_eq!(config[0]["kind"], "config");
    assert!(r.error("b.bad-config").starts_with("invalid config: ops[0]: unknown variant `no-such-op`"));
    let denied = attempts("b.denied");
    assert_eq!(denied.len(), 1, "a denial fails the same way every time");
    assert_eq!(denied[0]["kind"], "denied");
    assert_eq!(
        r.error("b.denied"),
        "denied: program `curl` is not in the spawn allow-list of step b.denied (allowed: sh); to allow it, add it \
         to [policy] spawn and to the step's `spawn` if it sets one"
    );
    let peek = attempts("u.peek");
    assert_eq!((peek.len(), &peek[0]["kind"]), (1, &serde_json::json!("denied")), "an artifact denial too");
    assert!(
        r.error("u.peek")
            .contains("untrusted step u.peek may only read artifacts of steps it depends on, not b.secret")
    );
    assert_eq!(attempts("b.flaky").len(), 3, "a stage error may pass next time: retried");
    assert_eq!(r.error("b.flaky"), "may pass next time (attempt 3 of 3)");
}

#[test]
fn the_pipeline_is_found_from_a_subdirectory_and_with_c_or_file_anywhere() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "a"
plugin = "shell"
with = { run = "true" }
"#,
    );
    let deep = p.dir().join("src/module");
    std::fs::create_dir_all(&deep).expect("mkdir");
    let (code, _, err) = text(&p.baton().current_dir(&deep).arg("check").output().expect("check"));
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with(&format!("{}: ok (1 boards, 1 steps, 1 plugins)", p.file().display())), "{err}");

    // A run from below puts `.baton/` next to the pipeline file.
    let (code, _, err) = text(&p.baton().current_dir(&deep).args(["run", "-q"]).output().expect("run"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(p.runs().len(), 1);
    assert!(!deep.join(".baton").exists());

    // -C and --file mean the same on every subcommand, before or after it.
    for args in [
        vec!["-C", deep.to_str().expect("utf-8"), "runs"],
        vec!["runs", "-C", deep.to_str().expect("utf-8")],
        vec!["logs", "--file", p.file().to_str().expect("utf-8")],
        vec!["--file", p.file().to_str().expect("utf-8"), "artifacts"],
        vec!["gc", "-C", p.dir().to_str().expect("utf-8"), "--dry-run"],
    ] {
        let (code, _, err) = text(&p.baton().current_dir("/").args(&args).output().expect("baton"));
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    // -f is --follow (of `logs`) only; nowhere is it the file.
    let (code, _, err) = text(&p.baton().args(["gc", "-f", "baton.toml"]).output().expect("gc"));
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '-f'"), "{err}");

    // Nowhere to be found: the error says where it looked and what to do.
    let lost = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = text(&p.baton().current_dir(lost.path()).arg("check").output().expect("check"));
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        format!(
            "baton: no baton.toml in {} or any parent directory (name one with --file FILE, or start elsewhere with -C DIR)",
            lost.path().display()
        )
    );
}
