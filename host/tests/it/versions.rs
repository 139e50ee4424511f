//! Plugins ship independently of the host: old 0.1.x plugins run, other
//! versions and worlds are refused at load with a clear message, and a
//! policy can refuse a plugin by capability before it runs.

use crate::harness::{Pipeline, Run};

/// Pre-flight refused the run with `message`: exit 2, no step started.
#[track_caller]
fn refused(r: &Run, message: &str) {
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(message), "{message} in:\n{}", r.stderr);
    assert!(r.stderr.contains("before the first step; no step was started"), "{}", r.stderr);
    assert!(r.report.is_null(), "no report: nothing ran");
}

fn run_plugin(path: &str, extra: &str) -> crate::harness::Run {
    let p = Pipeline::new(&format!(
        r#"
[plugins]
it = "{path}"
probe = "{{probe}}"
[policy]
spawn = ["sh"]
[[boards.b.steps]]
name = "it"
plugin = "it"
on_failure = "continue"
{extra}
[[boards.b.steps]]
name = "healthy"
plugin = "probe"
after = []
with = {{ ops = [] }}
"#
    ));
    p.run(&[])
}

#[test]
fn a_plugin_built_against_0_1_0_runs_on_this_host() {
    let r = run_plugin(baton_test_artifacts::CONTRACT_V0_1_0, "");
    assert_eq!(r.status("b.it"), "ok", "{}", r.error("b.it"));
    assert_eq!(r.step("b.it")["artifacts"][0], "b.it/old.txt");
    let loaded = r.report["plugins"].as_array().expect("plugins").iter().find(|p| p["name"] == "it").cloned();
    assert_eq!(loaded.expect("loaded")["contract"], "0.1.0");
}

#[test]
fn other_versions_and_worlds_are_refused_at_load_by_name() {
    let cases = [
        (
            baton_test_artifacts::CONTRACT_V0_2_0,
            "was built against baton:stage@0.2.0, but this host speaks baton:stage@0.1.1 (compatible plugins are built against 0.1.x)",
        ),
        (
            baton_test_artifacts::WRONG_WORLD,
            "does not export `baton:stage/plugin` (it is not a baton stage; it exports render); build it against the `stage` world of baton:stage@0.1.1",
        ),
        (
            baton_test_artifacts::UNKNOWN_IMPORT,
            "imports `acme:vault/secrets@1.0.0`, which this host does not provide (it provides baton:stage@0.1.x and wasi 0.2.x: io, cli, clocks, filesystem, random, sockets)",
        ),
    ];
    for (path, message) in cases {
        let r = run_plugin(path, "");
        refused(&r, &format!("plugin `it` ({path}): {message} (used by b.it)"));
    }
}

#[test]
fn malformed_files_and_core_modules_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm at all").expect("write");
    let broken = dir.path().join("broken.wasm");
    let mut bytes = std::fs::read(baton_test_artifacts::NOOP).expect("noop");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&broken, bytes).expect("write");
    let cases = [
        (&core, "is a core WebAssembly module, not a component: build it for `wasm32-wasip2`, or wrap it with `wasm-tools component new`".to_string()),
        (&junk, "not a WebAssembly file (no `\\0asm` header)".to_string()),
    ];
    for (path, message) in cases {
        let r = run_plugin(&path.display().to_string(), "");
        refused(&r, &format!("plugin `it` ({}): {message}", path.display()));
    }
    let r = run_plugin(&broken.display().to_string(), "");
    refused(&r, &format!("plugin `it` ({}): not a valid component: ", broken.display()));
}

#[test]
fn a_pinned_digest_must_match() {
    let p = Pipeline::new(
        r#"
[plugins]
probe = { path = "{probe}", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
[[boards.b.steps]]
name = "a"
plugin = "probe"
with = { ops = [] }
"#,
    );
    let r = p.run(&[]);
    refused(
        &r,
        "sha256 mismatch: the pipeline pins 0000000000000000000000000000000000000000000000000000000000000000, the file is ",
    );
}

#[test]
fn a_policy_refuses_a_plugin_by_capability() {
    let p = Pipeline::new(
        r#"
[plugins]
trybot = { path = "{probe}", trust = "untrusted" }
[[boards.try.steps]]
name = "t1"
plugin = "trybot"
on_failure = "continue"
with = { ops = [] }
[[boards.b.steps]]
name = "limited"
plugin = "shell"
capabilities = ["log", "filesystem", "cli", "io", "clocks"]
on_failure = "continue"
with = { run = "true" }
"#,
    );
    let r = p.run(&[]);
    // Importing `process` without a spawn list is allowed for an untrusted
    // step (each call is checked); a capability list is checked up front.
    refused(
        &r,
        "boards.b.steps[0]: plugin `shell` imports `baton:stage/process@0.1.1` (capability `process`), which step b.limited may not use (allowed capabilities: log, filesystem, cli, io, clocks)",
    );
    // `baton check` reports the same before anything runs.
    let out = p.check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("boards.b.steps[0]: plugin `shell` imports `baton:stage/process@0.1.1`"), "{err}");
    assert!(!err.contains("trybot"), "{err}");
    assert!(!err.contains("try.t1"), "{err}");
}

#[test]
fn untrusted_steps_read_only_artifacts_of_steps_they_depend_on() {
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[policy.untrusted]
spawn = ["sh"]
[[boards.b.steps]]
name = "secret"
plugin = "probe"
with = { ops = [{ op = "write", path = "key", text = "k" }, { op = "put", name = "key", path = "key" }] }
[[boards.b.steps]]
name = "public"
plugin = "probe"
after = []
with = { ops = [{ op = "write", path = "pub", text = "p" }, { op = "put", name = "pub", path = "pub" }] }
[[boards.try.steps]]
name = "t1"
plugin = "probe"
trust = "untrusted"
after = ["b.public", "b.secret"]
with = { ops = [{ op = "get", reference = "b.public/pub", dest = "pub" }] }
[[boards.try.steps]]
name = "t2"
plugin = "probe"
trust = "untrusted"
after = ["b.public"]
with = { ops = [{ op = "get", reference = "b.public/pub", dest = "pub" }, { op = "get", reference = "b.secret/key", dest = "key", expect_error = "denied: untrusted step try.t2 may only read artifacts of steps it depends on, not b.secret" }] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn inspect_shows_contract_capabilities_metadata_and_compatibility() {
    let p = Pipeline::new("");
    let out = p.baton().args(["plugin", "inspect", "shell"]).output().expect("inspect");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for line in [
        "world     baton:stage/stage, built against baton:stage@0.1.1",
        "host      can run it (this host speaks baton:stage@0.1.1)",
        "describe  shell 0.1.0: runs a command line with sh -c in the board workspace",
        "  process     baton:stage/process@0.1.1",
        "  artifacts   baton:stage/artifacts@0.1.1",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    let out = p
        .baton()
        .args(["plugin", "inspect", "--json", baton_test_artifacts::CONTRACT_V0_2_0])
        .output()
        .expect("inspect");
    assert_eq!(out.status.code(), Some(1), "a plugin this host cannot run");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["contract"], "0.2.0");
    assert!(json["refused"].as_str().expect("refused").contains("baton:stage@0.2.0"));
    assert!(json["imports"].as_array().expect("imports").iter().any(|i| i["capability"] == "log"));
    assert_eq!(json["sha256"].as_str().map(str::len), Some(64));
}
