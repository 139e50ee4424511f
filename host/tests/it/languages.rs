//! Stage plugins written in Python (`junit`), JavaScript (`release-notes`)
//! and C (`checksum`), run in pipelines next to the bundled Rust `shell`
//! stage: their real effects, their errors on bad input, and the compile
//! cache that makes the 12-18 MB interpreted ones load fast the second time.
//!
//! The plugins are built by `scripts/build-plugins.sh` into `plugins/dist/`
//! (`test.sh` runs it first); a missing one fails the test, saying so.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::harness::Pipeline;

const DIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/dist");

/// The path of a built plugin; fails the test if it was not built.
pub(crate) fn plugin(name: &str) -> String {
    let path = format!("{DIST}/{name}.wasm");
    assert!(
        Path::new(&path).is_file(),
        "{path} is missing: run scripts/build-plugins.sh (./test.sh does) to build the Python, JS and C plugins"
    );
    path
}

/// Compiles the plugins into the tests' compile cache once, before the
/// tests of this module use them: compiling a 12-18 MB component takes
/// seconds of CPU, and doing it in every test at once would starve the
/// timing-sensitive tests running alongside.
fn warm_cache() {
    static WARM: OnceLock<()> = OnceLock::new();
    WARM.get_or_init(|| {
        let p = example();
        let r = p.run(&[]);
        assert_eq!(r.code, 0, "warming the compile cache: {}", r.stderr);
    });
}

/// A pipeline with the three plugins and `sh` allowed; `steps` follows.
fn pipeline(steps: &str) -> Pipeline {
    warm_cache();
    Pipeline::new(&format!(
        r#"
[plugins]
junit = "{}"
checksum = "{}"
release-notes = "{}"
[policy]
spawn = ["sh"]
{steps}"#,
        plugin("junit"),
        plugin("checksum"),
        plugin("release-notes"),
    ))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn sha256_hex(path: impl AsRef<Path>) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read")))
}

const FAILING_REPORT: &str = r#"<testsuites><testsuite name="math">
<testcase classname="calc" name="adds"/>
<testcase classname="calc" name="divides"><failure message="ZeroDivisionError: division by zero">trace</failure></testcase>
<testcase classname="calc" name="later"><skipped/></testcase>
</testsuite></testsuites>"#;

#[test]
fn python_junit_fails_a_step_naming_the_failing_test_and_passes_a_clean_report() {
    let p = pipeline(&format!(
        r#"
[[boards.red.steps]]
name = "report"
plugin = "shell"
with = {{ run = '''mkdir -p reports && cat > reports/math.xml <<'EOF'
{FAILING_REPORT}
EOF''' }}
[[boards.red.steps]]
name = "junit"
plugin = "junit"
on_failure = "continue"
with = {{ reports = ["reports/*.xml"] }}

[[boards.green.steps]]
name = "junit"
plugin = "junit"
with = {{ command = ["sh", "-c", "mkdir -p out/tests && echo '<testsuite><testcase name=\"a\"/><testcase name=\"b\"/></testsuite>' > out/tests/TEST-x.xml; exit 1"], reports = ["out/**/TEST-*.xml"], summary = "tests.md" }}
[[boards.green.steps]]
name = "fetch"
plugin = "junit"
with = {{ fetch = ["green.junit/tests.md", "red.report/nothing.xml"], allow_empty = true }}
on_failure = "continue"
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["red.report", "green.junit"]);
    r.assert_status("failed", &["red.junit", "green.fetch"]);
    assert_eq!(r.error("red.junit"), "1 of 3 tests failed: calc.divides (failed: ZeroDivisionError: division by zero)");
    let log = p.log("red.junit");
    assert!(log.contains("3 tests: 1 passed, 1 failed, 1 skipped in 1 report(s)"), "{log}");
    // The green run's command exited 1, but the report decides; its summary is published.
    assert!(p.log("green.junit").contains("`sh` exited with code 1; reading the reports"));
    assert!(read(p.workspace("green").join("tests.md")).contains("2 tests: 2 passed"));
    assert_eq!(
        r.error("green.fetch"),
        "cannot fetch red.report/nothing.xml: artifact never published: red.report finished without publishing `nothing.xml`"
    );
}

#[test]
fn python_junit_reports_bad_input_clearly() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "broken"
plugin = "junit"
on_failure = "continue"
with = { command = ["sh", "-c", "mkdir -p r && echo '<testsuite><testcase></testsuite>' > r/broken.xml"], reports = ["r/*.xml"] }
[[boards.b.steps]]
name = "none"
plugin = "junit"
after = []
on_failure = "continue"
with = { reports = ["missing/*.xml"] }
[[boards.b.steps]]
name = "denied"
plugin = "junit"
after = []
on_failure = "continue"
with = { command = ["pytest"], reports = ["r/*.xml"] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.error("b.broken"), "r/broken.xml: not valid XML: mismatched tag: line 1, column 23");
    assert_eq!(r.error("b.none"), "no JUnit report matches missing/*.xml in the workspace");
    // A misspelt key is refused before anything runs, by the plugin's schema.
    let typo = pipeline(
        r#"
[[boards.b.steps]]
name = "typo"
plugin = "junit"
with = { report = ["r/*.xml"], max_listed = 0 }
"#,
    );
    assert_refused(
        &typo,
        &[
            "boards.b.steps[0].with.max_listed: step b.typo: must be at least 1, found 0 (plugin `junit`)",
            "boards.b.steps[0].with.report: step b.typo: unknown key `report` (did you mean reports?) (plugin `junit`)",
        ],
    );
    assert_eq!(
        r.error("b.denied"),
        "cannot run `pytest`: denied: program `pytest` is not in the spawn allow-list of step b.denied (allowed: sh); to allow it, add it to [policy] spawn and to the step's `spawn` if it sets one"
    );
}

#[test]
fn c_checksum_writes_sha256sums_that_sha256sum_agrees_with() {
    let p = pipeline(
        r#"
[[boards.build.steps]]
name = "package"
plugin = "shell"
with = { run = "mkdir -p pkg && head -c 100000 /dev/urandom > pkg/app.bin && printf 'docs' > notes.txt", publish = ["pkg/app.bin", "notes.txt"] }
[[boards.release.steps]]
name = "prepare"
plugin = "shell"
with = { run = "mkdir -p dist/extra/sub check/extra/sub && printf 'read me' > dist/extra/sub/readme.md && cp dist/extra/sub/readme.md check/extra/sub/" }
[[boards.release.steps]]
name = "sums"
plugin = "checksum"
after = ["prepare", "build.package"]
with = { fetch = ["build.package/app.bin", "build.package/notes.txt"], paths = ["dist/extra"], output = "dist/SHA256SUMS", sign = ["sh", "-c", "sha256sum dist/SHA256SUMS > dist/SHA256SUMS.sig"], signature = "dist/SHA256SUMS.sig" }
[[boards.release.steps]]
name = "verify"
plugin = "checksum"
with = { fetch = ["release.sums/SHA256SUMS"], output = "check/SHA256SUMS", verify = true }
"#,
    );
    // `prepare` makes a folder of the workspace, checksummed recursively,
    // and its copy next to where `verify` fetches the sums (it checks them
    // against the files it finds there).
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stderr, p.log("release.sums"));
    r.assert_status("ok", &["release.sums"]);
    assert_eq!(
        r.error("release.verify"),
        "2 of 3 files do not match check/SHA256SUMS: app.bin (missing), notes.txt (missing)"
    );

    let dist = p.workspace("release").join("dist");
    let ours = read(dist.join("SHA256SUMS"));
    let out = Command::new("sha256sum")
        .args(["app.bin", "extra/sub/readme.md", "notes.txt"])
        .current_dir(&dist)
        .output()
        .expect("sha256sum");
    assert_eq!(ours, String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        ours.lines().next().map(|l| &l[..64]),
        Some(sha256_hex(p.workspace("build").join("pkg/app.bin")).as_str())
    );
    let check = Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(&dist).output().expect("sha256sum -c");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    assert!(read(dist.join("SHA256SUMS.sig")).contains("dist/SHA256SUMS"));
    let log = p.log("release.sums");
    assert!(log.contains("published release.sums/SHA256SUMS.sig"), "{log}");
}

#[test]
fn c_checksum_verify_passes_on_intact_files_and_config_errors_name_the_key() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "files"
plugin = "shell"
with = { run = "mkdir -p out && echo one > out/a && echo two > out/b" }
[[boards.b.steps]]
name = "sums"
plugin = "checksum"
with = { paths = ["out"], output = "out/SUMS", publish = false }
[[boards.b.steps]]
name = "verify"
plugin = "checksum"
with = { output = "out/SUMS", verify = true }
[[boards.b.steps]]
name = "tamper"
plugin = "shell"
with = { run = "echo changed > out/a" }
[[boards.b.steps]]
name = "verify-again"
plugin = "checksum"
on_failure = "continue"
with = { output = "out/SUMS", verify = true }
[[boards.c.steps]]
name = "outside"
plugin = "checksum"
on_failure = "continue"
with = { paths = ["../etc"] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["b.sums", "b.verify", "b.tamper"]);
    assert!(p.log("b.verify").contains("2 files match out/SUMS"));
    assert_eq!(r.error("b.verify-again"), "1 of 2 files do not match out/SUMS: a (checksum differs)");
    assert_eq!(r.error("c.outside"), "invalid config: `paths`: `../etc` must not contain `..`");
    // What the plugin's schema says is refused before anything runs.
    let bad = pipeline(
        r#"
[[boards.c.steps]]
name = "typo"
plugin = "checksum"
with = { path = ["out"] }
[[boards.c.steps]]
name = "type"
plugin = "checksum"
with = { paths = "out", publish = true }
"#,
    );
    assert_refused(
        &bad,
        &[
            "boards.c.steps[0].with.path: step c.typo: unknown key `path` (did you mean paths?) (plugin `checksum`)",
            "boards.c.steps[1].with.paths: step c.type: expected a list, found a string (plugin `checksum`)",
            "boards.c.steps[1].with.publish: step c.type: expected false, found a boolean (plugin `checksum`)",
        ],
    );
}

#[test]
fn js_release_notes_render_the_fetched_artifacts_and_the_changes() {
    let p = pipeline(
        r#"
[[boards.linux.steps]]
name = "package"
plugin = "shell"
with = { run = "head -c 3000 /dev/urandom > app.tar", publish = ["app.tar"] }
[[boards.release.steps]]
name = "notes"
plugin = "release-notes"
after = ["linux.package"]
with = { version = "2.1.0", date = "2026-01-02", changes = ["sh", "-c", "printf 'feat(cli): add --json\nfix: empty input\nBump deps\n'"], output = "out/NOTES.md", publish = "notes.md" }
[[boards.release.steps]]
name = "read"
plugin = "shell"
with = { run = "test -s notes.md", fetch = ["release.notes/notes.md"] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("release.notes"));
    let ws = p.workspace("release");
    let digest = sha256_hex(ws.join("release/app.tar"));
    assert_eq!(digest, sha256_hex(p.workspace("linux").join("app.tar")));
    let note = read(ws.join("out/NOTES.md"));
    assert_eq!(
        note,
        format!(
            "# Release 2.1.0\n\nReleased 2026-01-02.\n\n## Features\n\n- add --json\n\n## Fixes\n\n- empty input\n\n\
             ## Other changes\n\n- Bump deps\n\n## Artifacts\n\n| artifact | size | sha256 |\n| --- | --- | --- |\n\
             | `app.tar` | 2.9 KiB | `{digest}` |\n"
        )
    );
    assert_eq!(read(ws.join("notes.md")), note, "published and fetched back");
}

#[test]
fn js_release_notes_report_bad_input_clearly() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "template"
plugin = "shell"
with = { run = "printf '# {{title}} {{nope}}' > tpl.md" }
[[boards.b.steps]]
name = "unknown-placeholder"
plugin = "release-notes"
on_failure = "continue"
with = { version = "1.0.0", artifacts = [], template = "tpl.md" }
[[boards.c.steps]]
name = "missing-artifact"
plugin = "release-notes"
on_failure = "continue"
with = { version = "1.0.0", artifacts = ["c.nowhere/app.tar"] }
[[boards.c.steps]]
name = "failing-changes"
plugin = "release-notes"
on_failure = "continue"
after = []
with = { version = "1.0.0", artifacts = [], changes = ["sh", "-c", "echo 'fatal: bad revision' >&2; exit 128"] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.error("b.unknown-placeholder"),
        "unknown placeholder {{nope}} (known: title, version, date, changes, artifacts)"
    );
    assert_eq!(
        r.error("c.missing-artifact"),
        "cannot fetch c.nowhere/app.tar: artifact not found: `c.nowhere/app.tar`: there is no step c.nowhere"
    );
    assert_eq!(
        r.error("c.failing-changes"),
        "`sh -c echo 'fatal: bad revision' >&2; exit 128` exited with code 128: fatal: bad revision"
    );
    let bad = pipeline(
        r#"
[[boards.c.steps]]
name = "no-version"
plugin = "release-notes"
with = { title = "x", changes = [] }
"#,
    );
    assert_refused(
        &bad,
        &[
            "boards.c.steps[0].with: step c.no-version: missing key `version` (plugin `release-notes`)",
            "boards.c.steps[0].with.changes: step c.no-version: needs at least 1 item, found 0 (plugin `release-notes`)",
        ],
    );
}

/// `baton check` and `baton run` refuse `p` with exactly these errors, before anything runs.
#[track_caller]
fn assert_refused(p: &Pipeline, errors: &[&str]) {
    let out = p.check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let listed: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
    assert_eq!(listed, errors, "{err}");
    let r = p.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no step was started"), "{}", r.stderr);
    assert!(p.runs().is_empty());
}

/// `examples/polyglot`, run from a copy whose plugin paths point at `plugins/dist`.
fn polyglot() -> Pipeline {
    warm_cache();
    example()
}

fn example() -> Pipeline {
    let example = read(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/polyglot/baton.toml"));
    for name in ["junit", "checksum", "release-notes"] {
        plugin(name);
    }
    Pipeline::new(&example.replace("../../plugins/dist", DIST))
}

#[test]
fn the_polyglot_example_mixes_rust_python_js_and_c_stages() {
    let p = polyglot();
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_status("ok", &["linux.build", "linux.test", "release.sums", "release.notes"]);
    let ws = p.workspace("release");
    let sums = read(ws.join("dist/SHA256SUMS"));
    let tar = sha256_hex(ws.join("dist/hello-linux.tar"));
    assert!(sums.starts_with(&format!("{tar}  hello-linux.tar\n")), "{sums}");
    let note = read(ws.join("RELEASE_NOTES.md"));
    assert!(note.starts_with("# hello 1.0.0\n"), "{note}");
    assert!(note.contains(&format!("| `hello-linux.tar` | 10.0 KiB | `{tar}` |")), "{note}");
    assert!(note.contains("## Features\n\n- greet by name"), "{note}");
    assert!(read(p.workspace("linux").join("reports/summary.md")).contains("2 tests: 2 passed"));
}

#[test]
fn a_second_run_loads_the_big_interpreted_plugins_from_the_compile_cache() {
    let p = polyglot();
    let first = p.run(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = p.run(&[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let plugins = second.report["plugins"].as_array().expect("plugins in the report");
    assert_eq!(plugins.len(), 4, "{plugins:?}");
    for pl in plugins {
        assert_eq!(pl["cache"], "hit", "{pl}");
        // Compiling junit or release-notes takes seconds; a cache hit, milliseconds
        // (the bound is loose for debug builds on a busy machine).
        let seconds = pl["seconds"].as_f64().expect("seconds");
        assert!(seconds < 1.5, "{} took {seconds}s to load from the cache", pl["name"]);
    }
}
