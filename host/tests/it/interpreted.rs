//! Stages in interpreted languages (componentize-py) as a user meets them:
//! an untrusted Python stage runs although its component imports every
//! interface, and is denied what it did not get; a Python stage that raises
//! fails with its own exception and line, not componentize-py's runtime.
//!
//! The plugins come from `scripts/build-plugins.sh`: `junit`
//! (plugins/python/junit) and the fixture `py-raises` (tests/python/py-raises).

use crate::harness::Pipeline;
use crate::languages::plugin;

const PY_RAISES_SOURCE: &str = include_str!("../../../tests/python/py-raises/app.py");

/// The 1-based line of `needle` in the py-raises fixture.
fn fixture_line(needle: &str) -> usize {
    PY_RAISES_SOURCE.lines().position(|l| l.contains(needle)).expect("line in tests/python/py-raises/app.py") + 1
}

#[test]
fn an_untrusted_python_stage_without_spawn_runs_and_its_spawn_call_is_denied() {
    let p = Pipeline::new(&format!(
        r#"
[plugins]
junit = "{}"
probe = "{{probe}}"
[policy]
spawn = ["sh"]          # trusted steps only: untrusted ones take [policy.untrusted] spawn

# A board is untrusted as a whole (its steps share one workspace).
[[boards.try.steps]]
name = "report"
plugin = "probe"
trust = "untrusted"
with = {{ ops = [{{ op = "write", path = "TEST-a.xml", text = "<testsuite><testcase name=\"a\"/></testsuite>" }}] }}
[[boards.try.steps]]
name = "read"
plugin = "junit"
trust = "untrusted"
with = {{ reports = ["TEST-*.xml"] }}
[[boards.try.steps]]
name = "spawn"
plugin = "junit"
trust = "untrusted"
on_failure = "continue"
with = {{ command = ["sh", "-c", "touch ran"], reports = ["TEST-*.xml"] }}
"#,
        plugin("junit")
    ));
    // Importing `process` is no reason to refuse the plugin up front.
    let check = p.check();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));

    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["try.report", "try.read"]);
    assert!(p.log("try.read").contains("1 test: 1 passed in 1 report(s)"), "{}", p.log("try.read"));
    assert_eq!(
        r.error("try.spawn"),
        "cannot run `sh`: denied: program `sh` is not in the spawn allow-list of untrusted step try.spawn \
         (allowed: none); to allow it, add it to [policy.untrusted] spawn (untrusted steps do not use [policy] \
         spawn) and to the step's `spawn` if it sets one"
    );
    assert!(!p.workspace("try").join("ran").exists(), "the denied command ran");
}

#[test]
fn a_python_exception_is_the_headline_with_the_stage_line() {
    let p = Pipeline::new(&format!(
        r#"
[plugins]
raises = "{}"
[[boards.b.steps]]
name = "type"
plugin = "raises"
on_failure = "continue"
with = {{ numbers = [1, 2] }}
[[boards.b.steps]]
name = "stdlib"
plugin = "raises"
after = []
on_failure = "continue"
with = {{ parse = "{{" }}
"#,
        plugin("py-raises")
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let headline = format!(
        "stage raised TypeError: can only concatenate str (not \"int\") to str (at app.py:{}, in total)",
        fixture_line("return label + sum(numbers)")
    );
    assert_eq!(r.error("b.type"), headline);
    // Raised inside the standard library: the stage's own call is named.
    assert_eq!(
        r.error("b.stdlib"),
        format!(
            "stage raised json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: \
             line 1 column 2 (char 1) (at app.py:{}, in run)",
            fixture_line("json.loads(config[\"parse\"])")
        )
    );
    assert!(r.stderr.contains(&headline), "the summary names it: {}", r.stderr);

    // The failure report's tail is the traceback; the wasm backtrace is only in the full log.
    let failure = r.report["failures"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["step"] == "b.type"))
        .expect("b.type in failures");
    let tail: Vec<&str> = failure["log_tail"].as_array().expect("tail").iter().filter_map(|l| l.as_str()).collect();
    assert!(tail.contains(&"stderr: TypeError: can only concatenate str (not \"int\") to str"), "{tail:?}");
    assert!(!tail.iter().any(|l| l.contains("wasm backtrace") || l.contains("wasm trap")), "{tail:?}");
    assert!(!r.stderr.contains("wasm backtrace"), "{}", r.stderr);
    let log = p.log("b.type");
    assert!(log.contains("wasm backtrace:"), "{log}");
    assert!(log.contains("wasm `unreachable` instruction executed"), "{log}");
}
