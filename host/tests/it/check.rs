//! `baton check`: every error, with its key path, before anything runs.

use crate::harness::Pipeline;

fn stderr_of(p: &Pipeline) -> (i32, String) {
    let out = p.check();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_cycle_is_printed_as_a_full_path() {
    let p = Pipeline::new(
        r#"
[[boards.linux.steps]]
name = "L1"
after = ["windows.W2"]
[[boards.linux.steps]]
name = "L2"
[[boards.windows.steps]]
name = "W1"
after = ["linux.L2"]
[[boards.windows.steps]]
name = "W2"
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("dependency cycle: linux.L1 -> windows.W2 -> windows.W1 -> linux.L2 -> linux.L1"), "{err}");
}

#[test]
fn an_unknown_dependency_is_named_with_a_suggestion() {
    let p = Pipeline::new(
        r#"
[[boards.linux.steps]]
name = "L7"
after = ["windows.W9"]
[[boards.windows.steps]]
name = "W4"
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "boards.linux.steps[0].after[0]: step linux.L7: unknown dependency windows.W9 (did you mean windows.W4?)"
        ),
        "{err}"
    );
}

#[test]
fn unknown_and_unreadable_plugins_are_reported_before_running() {
    let p = Pipeline::new(
        r#"
[plugins]
missing = "nowhere/missing.wasm"
[[boards.b.steps]]
name = "a"
plugin = "missing"
with = {}
[[boards.b.steps]]
name = "c"
plugin = "probe"
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("boards.b.steps[1].plugin: step b.c: unknown plugin `probe`"), "{err}");
    // The file is validated first; plugins are read once it is valid.
    p.write(
        r#"
[plugins]
missing = "nowhere/missing.wasm"
[[boards.b.steps]]
name = "a"
plugin = "missing"
with = {}
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("plugin `missing`"), "{err}");
    assert!(err.contains("cannot read: No such file or directory"), "{err}");
    assert!(err.contains("(used by b.a)"), "{err}");
    assert!(!p.dir().join(".baton").exists(), "check must not run anything");
}

#[test]
fn a_valid_file_passes() {
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[[boards.b.steps]]
name = "a"
plugin = "probe"
with = { ops = [] }
[[boards.b.steps]]
name = "s"
plugin = "shell"
with = { run = "true" }
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok (1 boards, 2 steps, 2 plugins)"), "{err}");
}

#[test]
fn a_misspelt_with_key_is_refused_by_check_with_a_suggestion() {
    let p = Pipeline::new(
        r#"
[[boards.b.steps]]
name = "build"
plugin = "shell"
with = { rnu = "make", env = { CC = 1 } }
[[boards.b.steps]]
name = "signals"
plugin = "shell"
emits = ["x"]
with = { run = ["make", { emitt = "x" }] }
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 2, "{err}");
    for line in [
        "boards.b.steps[0].with: step b.build: missing key `run` (plugin `shell`)",
        "boards.b.steps[0].with.env.CC: step b.build: expected a string, found an integer (plugin `shell`)",
        "boards.b.steps[0].with.rnu: step b.build: unknown key `rnu` (did you mean run?) (plugin `shell`)",
        "boards.b.steps[1].with.run[1]: step b.signals: missing key `emit` (plugin `shell`)",
        "boards.b.steps[1].with.run[1].emitt: step b.signals: unknown key `emitt` (did you mean emit?) (plugin `shell`)",
    ] {
        assert!(err.contains(&format!("  - {line}\n")), "{line} in:\n{err}");
    }
    assert!(err.starts_with("error: baton.toml: 5 errors\n"), "{err}");
    // `baton run` refuses the same, before the first step.
    let r = p.run(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown key `rnu` (did you mean run?)"), "{}", r.stderr);
}

#[test]
fn every_independent_error_of_a_file_is_reported_in_one_check() {
    let p = Pipeline::new(
        r#"
[pipeline]
jobs = 0
[[boards.b.steps]]
name = "build"
plugin = "shell"
retires = 3
with = { run = "make" }
[[boards.b.steps]]
name = "test"
plugin = "shel"
after = ["build"]
timeout = "soon"
[[boards.c.steps]]
name = "pack"
after = ["b.buidl"]
"#,
    );
    let (code, err) = stderr_of(&p);
    assert_eq!(code, 2, "{err}");
    let listed: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
    assert_eq!(
        listed,
        [
            "pipeline.jobs: must be at least 1",
            "boards.b.steps[0].retires: unknown key `retires` (did you mean retries?)",
            "boards.b.steps[1].plugin: step b.test: unknown plugin `shel` (did you mean shell?)",
            "boards.b.steps[1].timeout: step b.test: bad duration `soon` (write e.g. `30s`, `10m`, `1h30m`)",
            "boards.c.steps[0].after[0]: step c.pack: unknown dependency b.buidl (did you mean b.build?)",
        ],
        "{err}"
    );
}
