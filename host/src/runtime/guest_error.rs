//! A guest's own account of why it died, read from the last lines of its
//! stderr in the step log: a Rust panic's message and location; for a
//! componentize-py stage, the Python exception, its message and the stage's
//! file and line; for a componentize-js stage, the exception it threw
//! (its glue reports no location of the stage's code); for a C stage, a
//! failed `assert` or a `BATON_ABORT` of baton.h, with file:line. These runtimes then
//! abort with a wasm `unreachable`, whose wasm backtrace points inside the
//! language runtime and helps no one; the headline names the guest's error
//! instead.

/// Where componentize-py puts the Python standard library in the guest.
const PYTHON_STDLIB: &str = "/python/";

/// The headline for a guest that trapped after explaining itself on stderr,
/// if it did: a Python exception first (componentize-py reports it with a
/// Rust panic of its own), else a Rust panic.
pub fn explain(tail: &[String]) -> Option<String> {
    let stderr: Vec<&str> = tail.iter().filter_map(|l| l.strip_prefix("stderr: ")).collect();
    python_exception(&stderr)
        .map(|e| format!("stage raised {e}"))
        .or_else(|| python_error_in_bindings(&stderr))
        .or_else(|| js_exception(&stderr))
        .or_else(|| c_abort(&stderr))
        .or_else(|| panic_message(&stderr))
}

/// wasi-libc's failed `assert`: `Assertion failed: n > 0 (lines.c: count: 113)`;
/// baton.h's `BATON_ABORT`: `baton abort: message (at lines.c:42)`.
fn c_abort(stderr: &[&str]) -> Option<String> {
    stderr.iter().rev().find_map(|l| {
        if let Some(rest) = l.strip_prefix("baton abort: ") {
            return Some(format!("stage aborted: {rest}"));
        }
        let rest = l.strip_prefix("Assertion failed: ")?;
        let (expr, place) = rest.strip_suffix(')')?.rsplit_once(" (")?;
        let mut parts = place.split(": ");
        let (file, function, line) = (parts.next()?, parts.next()?, parts.next()?);
        let file = file.rsplit('/').next().unwrap_or(file);
        Some(format!("stage failed an assertion: {expr} (at {file}:{line}, in {function})"))
    })
}

/// An exception raised in componentize-py's own glue (a host call given a
/// value of the wrong type, say) has no traceback; the runtime panics with
/// its debug form: ``PyErr { type: <class 'TypeError'>, value: TypeError("…"), traceback: None }``.
fn python_error_in_bindings(stderr: &[&str]) -> Option<String> {
    stderr.iter().rev().find_map(|l| {
        let rest = l.split_once("PyErr { type: <class '")?.1;
        let (class, rest) = rest.split_once("'>, value: ")?;
        let value = rest.rsplit_once(", traceback: ")?.0;
        // The value is the exception's repr, `TypeError("message")`.
        let short = class.rsplit('.').next().unwrap_or(class);
        let args = value.strip_prefix(short).and_then(|v| v.strip_prefix('(')?.strip_suffix(')')).unwrap_or(value);
        let message = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|(open, close)| args.strip_prefix(*open)?.strip_suffix(*close))
            .unwrap_or(args);
        if class == "KeyError" && message.starts_with("<class '") {
            return Some(python_err_not_a_stage_error(message));
        }
        Some(format!(
            "stage raised {class}: {message} (in componentize-py's bindings, between the stage and a host call: \
             no line of the stage is known)"
        ))
    })
}

/// componentize-py lowers an `Err` escaping `run` as a `stage-error` by
/// its class: `Err("boom")` (a str) or a host call's own error (an
/// `ArtifactError_…` nobody caught) is none, and the runtime only names the
/// class; the message is gone by then.
fn python_err_not_a_stage_error(class: &str) -> String {
    let name = class.trim_start_matches("<class '").trim_end_matches("'>");
    let short = name.rsplit('.').next().unwrap_or(name);
    if short.contains("Error_") {
        format!(
            "stage let a host error escape `run` ({short}; the runtime dropped its message): catch `Err` around \
             the host call, or use baton_sdk, whose calls raise HostError with the host's message"
        )
    } else {
        format!(
            "stage raised Err({short}) from `run`, which is no stage error (the runtime dropped its message): \
             raise Err(types.StageError_Failed(\"…\")), or use baton_sdk's Fail(\"…\")"
        )
    }
}

/// componentize-js lowers whatever `run` throws as a `stage-error`; a plain
/// exception is no variant, and its glue says so before aborting:
/// ``invalid variant tag value `undefined` (received `TypeError: …`) specified for `StageError` ``.
fn js_exception(stderr: &[&str]) -> Option<String> {
    stderr.iter().rev().find_map(|l| {
        let thrown = l.strip_prefix("invalid variant tag value `")?.split_once("` (received `")?.1;
        let thrown = thrown.strip_suffix("`) specified for `StageError`")?;
        if thrown == "[object Object]" {
            return Some(
                "stage threw [object Object] from `run` (most likely a host error nobody caught, its message \
                 unreadable here): catch it and throw { tag: 'failed', val: message }, or use @baton/stage, whose \
                 calls throw Errors with the host's message"
                    .into(),
            );
        }
        Some(format!("stage threw {thrown} (an exception, not a stage error, escaped `run`)"))
    })
}

/// A Python traceback's exception line and the frame of the stage's own
/// code nearest to where it was raised: `TypeError: … (at app.py:19, in total)`.
fn python_exception(stderr: &[&str]) -> Option<String> {
    let last_frame = stderr.iter().rposition(|l| frame(l).is_some())?;
    let exception = stderr[last_frame + 1..].iter().find(|l| !l.starts_with(' '))?;
    if !looks_like_exception(exception) {
        return None;
    }
    // The frames of this traceback, innermost last (a chained exception's
    // traceback starts after the previous one's exception line).
    let first_frame = stderr[..=last_frame].iter().rposition(|l| !l.starts_with(' ')).map_or(0, |i| i + 1);
    let frames: Vec<(&str, &str, &str)> = stderr[first_frame..=last_frame].iter().filter_map(|l| frame(l)).collect();
    let (file, line, function) =
        frames.iter().rev().find(|(file, ..)| !file.starts_with(PYTHON_STDLIB)).or(frames.last())?;
    Some(format!("{exception} (at {}:{line}, in {function})", stage_path(file)))
}

/// `  File "/0/app.py", line 19, in total` as `("/0/app.py", "19", "total")`.
fn frame(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix("  File \"")?;
    let (file, rest) = rest.split_once("\", line ")?;
    let (number, function) = rest.split_once(", in ")?;
    number.bytes().all(|b| b.is_ascii_digit()).then_some((file, number, function))
}

/// `TypeError: message`, `json.decoder.JSONDecodeError: …` or a bare `KeyboardInterrupt`.
fn looks_like_exception(line: &str) -> bool {
    let name = line.split_once(": ").map_or(line, |(name, _)| name);
    !name.is_empty()
        && name.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// componentize-py mounts each `-p` folder of the stage at `/0/`, `/1/`…;
/// the path inside it is the one its author knows.
fn stage_path(file: &str) -> &str {
    let Some(rest) = file.strip_prefix('/') else {
        return file;
    };
    match rest.split_once('/') {
        Some((root, inside)) if !root.is_empty() && root.bytes().all(|b| b.is_ascii_digit()) => inside,
        _ => file,
    }
}

/// The message and location of a Rust guest panic.
fn panic_message(stderr: &[&str]) -> Option<String> {
    let at = stderr.iter().rposition(|l| l.contains("panicked at"))?;
    let message = stderr.get(at + 1).map(|l| l.to_string());
    let place = stderr[at].split("panicked at ").nth(1).unwrap_or("").trim_end_matches(':').to_string();
    Some(match message {
        Some(m) if !m.is_empty() => format!("stage panicked: {m} (at {place})"),
        _ => format!("stage panicked at {place}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    /// What componentize-py 0.25 writes when `run` raises.
    const COMPONENTIZE_PY_ABORT: [&str; 4] = [
        "stderr: ",
        "stderr: thread '<unnamed>' (1) panicked at runtime/src/lib.rs:1293:29:",
        "stderr: Python function threw an unexpected exception",
        "stderr: note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
    ];

    #[test]
    fn a_python_exception_names_the_stage_line_not_the_runtime() {
        let mut lines = tail(&[
            "info: adding",
            "stderr: Traceback (most recent call last):",
            "stderr:   File \"/0/app.py\", line 30, in run",
            "stderr:   File \"/0/app.py\", line 19, in total",
            "stderr: TypeError: can only concatenate str (not \"int\") to str",
        ]);
        lines.extend(tail(&COMPONENTIZE_PY_ABORT));
        assert_eq!(
            explain(&lines).as_deref(),
            Some("stage raised TypeError: can only concatenate str (not \"int\") to str (at app.py:19, in total)")
        );
    }

    #[test]
    fn an_exception_raised_in_the_stdlib_points_at_the_stage_call() {
        let mut lines = tail(&[
            "stderr: Traceback (most recent call last):",
            "stderr:   File \"/0/app.py\", line 29, in run",
            "stderr:     json.loads(text)",
            "stderr:   File \"/python/json/__init__.py\", line 346, in loads",
            "stderr:   File \"/python/json/decoder.py\", line 361, in raw_decode",
            "stderr: json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        ]);
        lines.extend(tail(&COMPONENTIZE_PY_ABORT));
        assert_eq!(
            explain(&lines).as_deref(),
            Some(
                "stage raised json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0) (at app.py:29, in run)"
            )
        );
    }

    #[test]
    fn a_chained_exception_reports_the_last_one() {
        let lines = tail(&[
            "stderr: Traceback (most recent call last):",
            "stderr:   File \"/0/lib/util.py\", line 3, in read",
            "stderr: KeyError: 'x'",
            "stderr: ",
            "stderr: During handling of the above exception, another exception occurred:",
            "stderr: ",
            "stderr: Traceback (most recent call last):",
            "stderr:   File \"/1/app.py\", line 8, in run",
            "stderr: RuntimeError",
        ]);
        assert_eq!(explain(&lines).as_deref(), Some("stage raised RuntimeError (at app.py:8, in run)"));
    }

    #[test]
    fn a_python_error_in_the_bindings_is_named_without_a_line() {
        // componentize-py 0.25 when `log.log(level, 3)` is given an int for a string.
        let lines = tail(&[
            "stderr: ",
            "stderr: thread '<unnamed>' (1) panicked at runtime/src/lib.rs:1494:89:",
            "stderr: called `Result::unwrap()` on an `Err` value: PyErr { type: <class 'TypeError'>, value: \
             TypeError(\"'int' object is not an instance of 'str'\"), traceback: None }",
            "stderr: note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        ]);
        assert_eq!(
            explain(&lines).as_deref(),
            Some(
                "stage raised TypeError: 'int' object is not an instance of 'str' (in componentize-py's bindings, \
                 between the stage and a host call: no line of the stage is known)"
            )
        );
    }

    #[test]
    fn a_javascript_exception_is_named() {
        // What componentize-js 0.23 writes when `run` throws a TypeError.
        let lines = tail(&[
            "info: adding",
            "stderr: invalid variant tag value `undefined` (received `TypeError: can't access property \"label\", o is null`) specified for `StageError`",
            "stderr: Stack:",
            "stderr:   export_plugin_0_1_1$run@/tmp/994362b546f1/sources/initializer.js:9078:17",
            "stderr: ",
            "stderr: Redirecting call to abort() to mozalloc_abort",
        ]);
        assert_eq!(
            explain(&lines).as_deref(),
            Some(
                "stage threw TypeError: can't access property \"label\", o is null (an exception, not a stage \
                 error, escaped `run`)"
            )
        );
    }

    #[test]
    fn a_c_assertion_or_abort_is_named_with_its_line() {
        let lines = tail(&["stderr: Assertion failed: n > 0 (/src/lines.c: count: 113)"]);
        assert_eq!(explain(&lines).as_deref(), Some("stage failed an assertion: n > 0 (at lines.c:113, in count)"));
        let lines = tail(&["stderr: baton abort: no memory for 3 lines (at lines.c:42)"]);
        assert_eq!(explain(&lines).as_deref(), Some("stage aborted: no memory for 3 lines (at lines.c:42)"));
    }

    #[test]
    fn raw_binding_mistakes_say_what_to_do() {
        let err = |class: &str| {
            tail(&[&format!(
                "stderr: called `Result::unwrap()` on an `Err` value: PyErr {{ type: <class 'KeyError'>, value: \
                 KeyError(<class '{class}'>), traceback: None }}"
            )])
        };
        let str_err = explain(&err("str")).unwrap_or_default();
        assert!(str_err.starts_with("stage raised Err(str) from `run`, which is no stage error"), "{str_err}");
        let host = explain(&err("wit_world.imports.artifacts.ArtifactError_InvalidName")).unwrap_or_default();
        assert!(host.starts_with("stage let a host error escape `run` (ArtifactError_InvalidName;"), "{host}");
        let js = explain(&tail(&[
            "stderr: invalid variant tag value `undefined` (received `[object Object]`) specified for `StageError`",
        ]))
        .unwrap_or_default();
        assert!(js.contains("most likely a host error nobody caught"), "{js}");
    }

    #[test]
    fn rust_panics_are_read_from_the_log() {
        let lines =
            tail(&["stdout: working", "stderr: thread '<unnamed>' panicked at src/lib.rs:12:9:", "stderr: boom"]);
        assert_eq!(explain(&lines).as_deref(), Some("stage panicked: boom (at src/lib.rs:12:9)"));
        assert_eq!(explain(&lines[..1]), None);
    }

    #[test]
    fn only_the_stage_own_stderr_counts() {
        // A process of the stage printing a traceback is not the stage failing.
        let lines = tail(&[
            "proc 12: Traceback (most recent call last):",
            "proc 12:   File \"/0/app.py\", line 1, in <module>",
            "proc 12: ValueError: nope",
            "stderr: some words",
        ]);
        assert_eq!(explain(&lines), None);
        assert_eq!(stage_path("/python/json/decoder.py"), "/python/json/decoder.py");
        assert!(!looks_like_exception("During handling of the above exception, another exception occurred:"));
    }
}
