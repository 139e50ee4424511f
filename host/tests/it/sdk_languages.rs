//! The stage SDKs of other languages, as their authors meet them: Python's
//! `baton_sdk` (plugins/python/baton_sdk) and JavaScript's `@baton/stage`
//! (plugins/js/stage). An error escaping `run` is the headline with the
//! host's message and the stage's file:line; the config schema derived from
//! the declared config lets `baton check` catch a typo in `with`; the same
//! `lines` stage in both languages publishes byte-identical reports.
//!
//! Fixtures (built by `scripts/build-plugins.sh`): `py-lines` and
//! `py-sdk-errors` (tests/python/), `js-lines` and `js-errors` (tests/js/).

use crate::harness::Pipeline;
use crate::languages::plugin;

const PY_ERRORS: &str = include_str!("../../../tests/python/py-sdk-errors/app.py");
const JS_ERRORS: &str = include_str!("../../../tests/js/js-errors/index.js");

/// The 1-based line of `needle` in a fixture's source.
fn line_of(source: &str, needle: &str) -> usize {
    source.lines().position(|l| l.contains(needle)).expect("line in the fixture") + 1
}

/// A pipeline with the four SDK fixtures as plugins; `steps` follows.
fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!(
        r#"
[plugins]
py-lines = "{}"
js-lines = "{}"
py-errors = "{}"
js-errors = "{}"
{steps}"#,
        plugin("py-lines"),
        plugin("js-lines"),
        plugin("py-sdk-errors"),
        plugin("js-errors"),
    ))
}

fn step(board: &str, plugin: &str, with: &str) -> String {
    format!("[[boards.{board}.steps]]\nname = \"s\"\nplugin = \"{plugin}\"\non_failure = \"continue\"\nwith = {with}\n")
}

#[test]
fn an_escaped_error_keeps_the_host_message_and_the_stage_line() {
    let mut steps = String::new();
    for escape in ["host", "type", "exit", "fail"] {
        steps += &step(&format!("py-{escape}"), "py-errors", &format!("{{ escape = \"{escape}\" }}"));
    }
    for escape in ["host", "type", "fail"] {
        steps += &step(&format!("js-{escape}"), "js-errors", &format!("{{ escape = \"{escape}\" }}"));
    }
    let p = pipeline(&steps);
    let r = p.run(&["-j2"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let refused = "invalid artifact name: `no/slash` (use letters, digits, `.`, `_` and `-`, not starting with `.`)";
    assert_eq!(
        r.error("py-host.s"),
        format!(
            "HostError: cannot publish out.txt as no/slash: {refused} (at app.py:{}, in run)",
            line_of(PY_ERRORS, "publish(\"no/slash\"")
        )
    );
    assert_eq!(
        r.error("py-type.s"),
        format!(
            "TypeError: can only concatenate str (not \"int\") to str (at app.py:{}, in total)",
            line_of(PY_ERRORS, "return \"sum: \" + sum(numbers)")
        )
    );
    // WASI preview 2 exits only with success or failure: the SDK keeps the code.
    assert_eq!(r.error("py-exit.s"), "stage exited with code 3 (SystemExit)");
    assert_eq!(r.error("py-fail.s"), "boom");
    // The traceback is in the log, for whoever reads it.
    assert!(p.log("py-type.s").contains("Traceback (most recent call last):"), "{}", p.log("py-type.s"));

    let js_line = |needle: &str| line_of(JS_ERRORS, needle);
    let host = r.error("js-host.s");
    let want = format!(
        "HostError: cannot publish out.txt as no/slash: {refused} (at index.js:{}:",
        js_line("publish('no/slash'")
    );
    assert!(host.starts_with(&want), "{host}\nwanted {want}…");
    let typed = r.error("js-type.s");
    let want = format!(
        "TypeError: can't access property \"name\", o is null (at index.js:{}:",
        js_line("o.name.toUpperCase()")
    );
    assert!(typed.starts_with(&want), "{typed}\nwanted {want}…");
    assert_eq!(r.error("js-fail.s"), "boom");
}

#[test]
fn the_lines_stage_publishes_the_same_report_in_python_and_javascript() {
    let p = pipeline(&format!(
        "{}{}{}",
        step("py", "py-lines", "{ include = [\"**/*.py\"], max = 20 }"),
        step("js", "js-lines", "{ include = [\"**/*.py\"], max = 20 }"),
        // Untrusted, the same stage reads the project and publishes alike.
        step("jsu", "js-lines", "{ include = [\"**/*.py\"], max = 20 }")
            .replace("on_failure", "trust = \"untrusted\"\non_failure"),
    ));
    std::fs::create_dir_all(p.dir().join("a/b")).expect("mkdir");
    std::fs::write(p.dir().join("a/b/x.py"), "short\nthis line is much longer than twenty\n").expect("write");
    std::fs::write(p.dir().join("top.py"), "ok\n").expect("write");
    std::fs::write(p.dir().join("notes.txt"), "not matched, though longer than twenty characters\n").expect("write");
    let r = p.run(&["-j2"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    for board in ["py", "js", "jsu"] {
        assert_eq!(r.error(&format!("{board}.s")), "1 line(s) over 20: a/b/x.py:2", "{board}");
    }
    let report = |board: &str| std::fs::read(p.workspace(board).join("lines.json")).expect("lines.json");
    assert_eq!(report("py"), report("js"), "python and javascript reports differ");
    assert_eq!(report("js"), report("jsu"));
    let text = String::from_utf8(report("py")).expect("utf-8");
    assert!(text.contains("\"file\": \"a/b/x.py\"") && text.contains("\"files\": 2"), "{text}");
}

#[test]
fn a_typo_in_with_is_caught_by_check_from_the_derived_schema() {
    let p =
        pipeline(&format!("{}{}", step("py", "py-lines", "{ maxx = 3 }"), step("js", "js-lines", "{ max = \"3\" }"),));
    let out = p.check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let listed: Vec<&str> = err.lines().filter_map(|l| l.strip_prefix("  - ")).collect();
    assert_eq!(
        listed,
        [
            "boards.py.steps[0].with.maxx: step py.s: unknown key `maxx` (did you mean max?) (plugin `py-lines`)",
            "boards.js.steps[0].with.max: step js.s: expected an integer, found a string (plugin `js-lines`)",
        ],
        "{err}"
    );
}
