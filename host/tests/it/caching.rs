//! The step cache end to end (docs/caching.md): a second run restores what
//! the first made; every field of the key, changed on its own, makes a
//! miss (a false-hit corpus) and an undeclared file does not; a change
//! flows downstream only as far as outputs change; a missing blob is a
//! miss; an untrusted run's entry never serves a trusted step (CREEP);
//! two runs racing on one key leave one entry.

use std::path::Path;

use crate::harness::{Pipeline, Run};

fn outcome<'a>(r: &'a Run, id: &str) -> &'a str {
    r.step(id)["outcome"].as_str().unwrap_or("?")
}

/// Runs and checks that every step passed; returns the run.
fn ok_run(p: &Pipeline, env: &[(&str, &str)]) -> Run {
    let r = p.run_env(env, &[]);
    assert_eq!(r.code, 0, "stderr:\n{}", r.stderr);
    r
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(".baton/cache/entries")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

const CHAIN: &str = r#"
[policy]
spawn = ["sh"]
[[boards.b.steps]]
name = "build"
plugin = "shell"
cache = true
inputs = ["src/**", "!**/*.md"]
outputs = ["dist/"]
with = { run = "mkdir -p dist && cat $BATON_SRC/src/a.txt > dist/out.txt && echo building && cp dist/out.txt pub.txt", publish = ["pub.txt"] }
[[boards.b.steps]]
name = "test"
plugin = "shell"
after = ["build"]
cache = true
with = { run = "cat dist/out.txt && cat pub.txt", fetch = ["b.build/pub.txt"] }
"#;

#[test]
fn a_second_run_restores_outputs_artifacts_and_logs_and_says_what_it_saved() {
    let p = Pipeline::new(CHAIN);
    write(p.dir(), "src/a.txt", "one\n");
    let first = ok_run(&p, &[]);
    assert_eq!(outcome(&first, "b.build"), "ok");
    let built_log = p.log("b.build");
    assert!(built_log.contains("building"), "{built_log}");

    let second = ok_run(&p, &[]);
    for id in ["b.build", "b.test"] {
        assert_eq!(outcome(&second, id), "cached", "{id}: {}", second.stderr);
        let key = second.step(id)["cached"]["key"].as_str().expect("key");
        assert_eq!(key.len(), 12);
        assert_eq!(second.step(id)["attempts"].as_array().map(Vec::len), Some(0), "{id} did not run");
    }
    // Outputs are back in the workspace, the artifact is published, the log replayed.
    assert_eq!(std::fs::read_to_string(p.workspace("b").join("dist/out.txt")).expect("output"), "one\n");
    let artifacts: Vec<&str> = second.report["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter_map(|a| a["reference"].as_str())
        .collect();
    assert_eq!(artifacts, vec!["b.build/pub.txt"]);
    assert_eq!(p.log("b.build"), built_log);
    assert!(second.stderr.contains("2 steps: 2 cached (saved "), "{}", second.stderr);

    // The JUnit report says it too.
    let junit = p.baton().args(["run", "--report", "junit"]).output().expect("run");
    assert!(junit.status.success());
    let run = p.latest_run().expect("run");
    let xml = std::fs::read_to_string(run.join("junit.xml")).expect("junit.xml");
    assert!(xml.contains("cached ") && xml.contains("saved"), "{xml}");

    // --no-cache runs everything (and the entry stays).
    let forced = p.run(&["--no-cache"]);
    assert_eq!(outcome(&forced, "b.build"), "ok");
    assert_eq!(outcome(&forced, "b.test"), "ok");
    let explain = p.baton().args(["explain", "b.build"]).output().expect("explain");
    assert!(String::from_utf8_lossy(&explain.stdout).contains("--no-cache"), "{explain:?}");
}

/// A program on the spawn list that the test can change.
fn tool(dir: &Path, text: &str) {
    let path = dir.join("tool");
    std::fs::write(&path, format!("#!/bin/sh\n# {text}\necho tool-ran\n")).expect("tool");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn corpus_toml(tools: &Path, with_text: &str, salt: &str) -> String {
    format!(
        r#"
[pipeline]
cache_salt = "{salt}"
[plugins]
probe = "plug.wasm"
[[boards.b.steps]]
name = "gen"
plugin = "shell"
spawn = ["sh"]
with = {{ run = "cat $BATON_SRC/gen.txt > g.txt", publish = ["g.txt"] }}
[[boards.b.steps]]
name = "step"
plugin = "probe"
after = ["gen"]
cache = true
inputs = ["src/**"]
env = ["BATON_TEST_CACHE_VAR"]
spawn = ["{tool}"]
with = {{ ops = [
  {{ op = "get", reference = "b.gen/g.txt", dest = "g.txt" }},
  {{ op = "run", program = "{tool}", args = [] }},
  {{ op = "write", path = "out.txt", text = "{with_text}" }},
] }}
"#,
        tool = tools.join("tool").display()
    )
}

/// One change of the corpus; it may change the environment of the runs.
type Change<'a> = Box<dyn Fn(&mut Vec<(&'static str, &'static str)>) + 'a>;

/// Appends a custom section: other bytes, the same behaviour.
fn touch_plugin(path: &Path) {
    let mut bytes = std::fs::read(path).expect("plugin");
    let name = b"baton-test";
    let payload = b"changed";
    bytes.push(0);
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(path, bytes).expect("plugin");
}

#[test]
fn every_key_field_changed_alone_makes_a_miss_and_an_undeclared_file_does_not() {
    let tools = tempfile::tempdir().expect("tempdir");
    tool(tools.path(), "v1");
    let p = Pipeline::new(&corpus_toml(tools.path(), "w1", ""));
    std::fs::copy(baton_test_artifacts::PROBE, p.dir().join("plug.wasm")).expect("copy probe");
    write(p.dir(), "src/a.txt", "a1");
    write(p.dir(), "gen.txt", "g1");
    write(p.dir(), "undeclared.txt", "u1");
    let env1 = [("BATON_TEST_CACHE_VAR", "1")];
    assert_eq!(outcome(&ok_run(&p, &env1), "b.step"), "ok");
    assert_eq!(outcome(&ok_run(&p, &env1), "b.step"), "cached");

    // Each change: the step runs once, then hits again.
    let mut env = env1.to_vec();
    let changes: Vec<(&str, Change)> = vec![
        ("plugin bytes", Box::new(|_| touch_plugin(&p.dir().join("plug.wasm")))),
        ("with", Box::new(|_| p.write(&corpus_toml(tools.path(), "w2", "")))),
        ("an input file", Box::new(|_| write(p.dir(), "src/a.txt", "a2"))),
        ("a new input file", Box::new(|_| write(p.dir(), "src/deep/b.txt", "b"))),
        ("a fetched artifact", Box::new(|_| write(p.dir(), "gen.txt", "g2"))),
        ("an env value", Box::new(|e| *e = vec![("BATON_TEST_CACHE_VAR", "2")])),
        ("a spawned program", Box::new(|_| tool(tools.path(), "v2"))),
        ("the salt", Box::new(|_| p.write(&corpus_toml(tools.path(), "w2", "disown")))),
    ];
    for (what, change) in &changes {
        change(&mut env);
        let r = ok_run(&p, &env);
        assert_eq!(outcome(&r, "b.step"), "ok", "changing {what} must make a miss");
        let explain = p.baton().args(["explain", "b.step"]).output().expect("explain");
        let text = String::from_utf8_lossy(&explain.stdout).into_owned();
        assert!(text.contains("what changed since the last entry"), "{what}: {text}");
        assert_eq!(outcome(&ok_run(&p, &env), "b.step"), "cached", "after changing {what}");
    }
    // The explanation names the field: here the salt.
    write(p.dir(), "src/a.txt", "a3");
    ok_run(&p, &env);
    let text =
        String::from_utf8_lossy(&p.baton().args(["explain", "b.step"]).output().expect("explain").stdout).into_owned();
    assert!(text.contains("inputs.files.src/a.txt"), "{text}");

    // Documented: a file no pattern selects is not part of the key.
    write(p.dir(), "undeclared.txt", "u2");
    assert_eq!(outcome(&ok_run(&p, &env), "b.step"), "cached", "an undeclared file does not key the step");
}

#[test]
fn a_change_runs_only_the_steps_downstream_of_changed_outputs() {
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]
[[boards.b.steps]]
name = "a"
plugin = "shell"
cache = true
inputs = ["a/**"]
with = { run = "cat $BATON_SRC/a/x > a.txt", publish = ["a.txt"] }
[[boards.b.steps]]
name = "len"
plugin = "shell"
after = ["a"]
cache = true
with = { run = "wc -c < a.txt > len.txt", fetch = ["b.a/a.txt"], publish = ["len.txt"] }
[[boards.b.steps]]
name = "last"
plugin = "shell"
after = ["len"]
cache = true
with = { run = "cat len.txt", fetch = ["b.len/len.txt"] }
[[boards.b.steps]]
name = "other"
plugin = "shell"
cache = true
inputs = ["d/**"]
with = { run = "cat $BATON_SRC/d/y" }
"#,
    );
    write(p.dir(), "a/x", "abc");
    write(p.dir(), "d/y", "y");
    ok_run(&p, &[]);
    // Same length, other bytes: `a` and `len` run, `len` makes the same
    // output, so `last` hits; `other` never changed.
    write(p.dir(), "a/x", "xyz");
    let r = ok_run(&p, &[]);
    let got: Vec<(&str, &str)> =
        ["b.a", "b.len", "b.last", "b.other"].iter().map(|id| (*id, outcome(&r, id))).collect();
    assert_eq!(got, vec![("b.a", "ok"), ("b.len", "ok"), ("b.last", "cached"), ("b.other", "cached")]);
}

#[test]
fn an_entry_whose_blob_is_gone_is_a_miss_and_the_step_runs() {
    let p = Pipeline::new(CHAIN);
    write(p.dir(), "src/a.txt", "one\n");
    ok_run(&p, &[]);
    for e in std::fs::read_dir(p.dir().join(".baton/store/sha256")).expect("store").flatten() {
        std::fs::remove_file(e.path()).expect("remove blob");
    }
    let r = ok_run(&p, &[]);
    assert_eq!(outcome(&r, "b.build"), "ok");
    // `build` made the same bytes again, so `test`'s key is unchanged: its
    // entry needs no blob but its log, which a hit may do without.
    assert_eq!(outcome(&r, "b.test"), "cached");
    assert!(p.log("b.test").contains("is gone"), "{}", p.log("b.test"));
    let text =
        String::from_utf8_lossy(&p.baton().args(["explain", "b.build"]).output().expect("explain").stdout).into_owned();
    assert!(text.contains("an entry was there, but"), "{text}");
    assert_eq!(outcome(&ok_run(&p, &[]), "b.build"), "cached");
}

/// The same step, trusted or not; its policy resolves the same either way
/// (the untrusted defaults, set for trusted steps too), so both compute
/// the same key. `script.sh` is not an input: an attacker's change to it
/// is invisible to the key, as the CI workflow was in CVE-2025-36852.
fn creep_toml(trust: &str) -> String {
    format!(
        r#"
[policy]
spawn = ["sh"]
memory = "256MiB"
timeout = "10m"
cpu = "300s"
log_limit = "8MiB"
output_limit = "1MiB"
artifact_limit = "1GiB"
max_children = 8
[policy.untrusted]
spawn = ["sh"]
[[boards.b.steps]]
name = "build"
plugin = "shell"
trust = "{trust}"
cache = true
inputs = ["src/**"]
with = {{ run = "sh $BATON_SRC/script.sh > artifact.bin", publish = ["artifact.bin"] }}
"#
    )
}

#[test]
fn an_untrusted_runs_entry_never_serves_a_trusted_step_creep() {
    let p = Pipeline::new(&creep_toml("untrusted"));
    write(p.dir(), "src/a.txt", "a");
    write(p.dir(), "script.sh", "echo poisoned");
    let evil = ok_run(&p, &[]);
    assert_eq!(outcome(&evil, "b.build"), "ok");
    let evil_key = entries(p.dir());
    assert_eq!(evil_key.len(), 1);
    assert!(evil_key[0].to_string_lossy().contains("/entries/untrusted/"), "{evil_key:?}");

    // The trusted run computes the same key but reads only `trusted`.
    p.write(&creep_toml("trusted"));
    write(p.dir(), "script.sh", "echo good");
    let good = ok_run(&p, &[]);
    assert_eq!(outcome(&good, "b.build"), "ok", "the trusted step must run itself");
    let digest = |r: &Run| r.report["artifacts"][0]["digest"].as_str().expect("digest").to_string();
    assert_ne!(digest(&good), digest(&evil));
    let names: Vec<String> =
        entries(p.dir()).iter().map(|e| e.file_name().expect("name").to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], names[1], "the same key in both namespaces");
    // And the trusted run hits its own entry, with its own bytes.
    let again = ok_run(&p, &[]);
    assert_eq!(outcome(&again, "b.build"), "cached");
    assert_eq!(again.step("b.build")["cached"]["namespace"], "trusted");
    assert_eq!(digest(&again), digest(&good));

    // An untrusted run reads `trusted` too (and leaves it as it was).
    p.write(&creep_toml("untrusted"));
    let reader = ok_run(&p, &[]);
    assert_eq!(outcome(&reader, "b.build"), "cached");
    assert_eq!(reader.step("b.build")["cached"]["namespace"], "trusted");
}

#[test]
fn two_runs_racing_on_one_key_leave_one_entry_and_both_pass() {
    let p = Pipeline::new(CHAIN);
    write(p.dir(), "src/a.txt", "one\n");
    let spawn = || p.baton().args(["run", "--json"]).stdout(std::process::Stdio::piped()).spawn().expect("spawn");
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // One entry per step, whoever won.
    assert_eq!(entries(p.dir()).len(), 2, "{:?}", entries(p.dir()));
    let r = ok_run(&p, &[]);
    assert_eq!(outcome(&r, "b.test"), "cached");
}

#[test]
fn check_hints_at_a_cached_spawning_step_without_inputs() {
    let p = Pipeline::new(
        r#"
[[boards.b.steps]]
name = "s"
plugin = "shell"
spawn = ["sh"]
cache = true
with = { run = "true" }
"#,
    );
    let out = p.check();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hint: step b.s is cached and may spawn programs (sh) but declares no `inputs`"), "{err}");
}

#[test]
fn cache_keys_are_checked_before_anything_runs() {
    let p = Pipeline::new(
        r#"
[[boards.b.steps]]
name = "s"
plugin = "shell"
inputs = ["../etc/**"]
outputs = ["/abs"]
with = { run = "true" }
"#,
    );
    let out = p.check();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`inputs` only key a cached step"), "{err}");
    assert!(err.contains("has an empty, `.` or `..` segment"), "{err}");
    assert!(err.contains("is absolute"), "{err}");
}
