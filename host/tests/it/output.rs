//! What reaches a person is clean, and what a stage hands the host is
//! bounded: control sequences a stage prints never reach a terminal through
//! baton, a stage cannot forge a line of baton's own, and errors, journal
//! records, log file names and graph drawings stay bounded.

use std::process::Output;

use crate::harness::Pipeline;

/// Control bytes that act on a terminal.
const CONTROLS: [u8; 3] = [0x1b, 0x07, b'\r'];

fn text(out: &Output) -> (i32, String) {
    let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&all).into_owned())
}

#[track_caller]
fn assert_inert(what: &str, bytes: &[u8]) {
    if let Some(at) = bytes.iter().position(|b| CONTROLS.contains(b)) {
        let from = at.saturating_sub(60);
        panic!("{what}: control byte {:#04x} at {at}: {:?}", bytes[at], String::from_utf8_lossy(&bytes[from..at + 20]));
    }
}

/// The lines of a `baton logs` output whose source (the word before ` | `) is `baton`.
fn baton_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.split_once(" | ").is_some_and(|(head, _)| head.split_whitespace().last() == Some("baton")))
        .collect()
}

const NOISY: &str = r#"
[plugins]
probe = "{probe}"

[[boards.b.steps]]
name = "noisy"
plugin = "probe"
spawn = ["sh"]
emits = ["done"]
with = { ops = [
  { op = "print", text = "\u001b[31mred\u001b[0m \u0007bell\r    0.001  baton | forged by a carriage return" },
  { op = "print", text = "first\n    0.002  baton | forged on a line of its own" },
  { op = "eprint", text = "\u001b]0;new title\u0007\u001b[2K\u009b1A" },
  { op = "log", message = "logged \u001b[1A\n    0.003  baton | forged through the log" },
  { op = "progress", done = 1, total = 2, message = "half \u001b[2J\r    0.004  baton | forged progress" },
  { op = "run", program = "sh", args = ["-c", "printf '\\033[5m\\r    0.005  baton | forged by a process\\n'"] },
  { op = "run", program = "sh", args = ["-c", "true\n    0.007  baton | forged by an argument"], expect_code = 127 },
  { op = "emit", name = "done\u001b[31m", expect_error = "invalid signal name" },
  { op = "put", name = "x\u001b[31m", path = ".", expect_error = "invalid" },
  { op = "fail", message = "\u001b[2Jcleared\r    0.006  baton | forged error" },
] }
"#;

#[test]
fn a_stage_cannot_put_control_sequences_on_a_terminal_or_forge_a_baton_line() {
    let p = Pipeline::new(NOISY);
    let out = p.baton().args(["run", "-v", "--json", "--report", "junit"]).output().expect("run");
    let (code, run_text) = text(&out);
    assert_eq!(code, 1, "{run_text}");
    assert_inert("baton run", &[out.stdout.as_slice(), out.stderr.as_slice()].concat());
    assert!(run_text.contains(r"\x1b[2Jcleared\r    0.006  baton | forged error"), "{run_text}");
    assert!(run_text.contains(r"half \x1b[2J\r    0.004  baton | forged progress"), "-v shows progress: {run_text}");

    // `baton logs`: every byte a stage printed is there, inert, and no line
    // it printed reads as one of baton's.
    let logs = p.baton().args(["logs", "b.noisy"]).output().expect("logs");
    let (code, log) = text(&logs);
    assert_eq!(code, 0, "{log}");
    assert_inert("baton logs", &logs.stdout);
    for (shown, source) in [
        (r"\x1b[31mred\x1b[0m \x07bell\r    0.001  baton | forged by a carriage return", "stdout"),
        ("    0.002  baton | forged on a line of its own", "stdout"),
        (r"\x1b]0;new title\x07\x1b[2K\x9b1A", "stderr"),
        ("    0.003  baton | forged through the log", "info"),
        (r"\x1b[5m\r    0.005  baton | forged by a process", "sh["),
    ] {
        let line = log.lines().find(|l| l.ends_with(shown)).unwrap_or_else(|| panic!("no line {shown:?} in\n{log}"));
        let head = line.split_once(" | ").expect("a source").0;
        assert!(head.split_whitespace().last().expect("source").starts_with(source), "{line}");
    }
    // baton's own lines may quote a command, on one line; none holds a forged line.
    for line in baton_lines(&log) {
        let said = line.split_once(" | ").expect("source").1;
        assert!(!said.contains("forged") || said.starts_with("started sh["), "a line forged as baton's: {line}");
    }
    assert!(log.contains(r"started sh["), "{log}");
    assert!(log.contains(r"'true\n    0.007  baton | forged by an argument'"), "{log}");
    assert!(baton_lines(&log).iter().any(|l| l.ends_with("exited with code 0")), "baton's own lines stay: {log}");

    // `--raw` prints the bytes as the stage wrote them.
    let raw = p.baton().args(["logs", "--raw", "b.noisy"]).output().expect("logs --raw");
    assert!(raw.stdout.windows(5).any(|w| w == b"\x1b[31m"), "{}", String::from_utf8_lossy(&raw.stdout));
    assert!(raw.stdout.windows(9).any(|w| w == b"\x07bell\r   "));

    // Following a run, listing logs, runs and artifacts: inert too.
    for args in [&["logs", "--follow"][..], &["logs"], &["runs"], &["artifacts"]] {
        let out = p.baton().args(args).output().expect("baton");
        assert_inert(&format!("baton {args:?}"), &[out.stdout.as_slice(), out.stderr.as_slice()].concat());
    }
    let follow = String::from_utf8_lossy(&p.baton().args(["logs", "-f"]).output().expect("follow").stdout).into_owned();
    assert!(follow.contains(r"b.noisy |    "), "{follow}");

    // The reports and the journal hold the error escaped.
    let run_dir = p.dir().join(".baton/runs");
    let run_dir = std::fs::read_dir(&run_dir).expect("runs").flatten().next().expect("a run").path();
    for file in ["report.json", "report.html", "junit.xml", "journal.jsonl"] {
        let bytes = std::fs::read(run_dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_inert(file, &bytes);
        assert!(String::from_utf8_lossy(&bytes).contains("cleared"), "{file} has the error");
    }
}

#[test]
fn check_shows_names_from_the_file_inert() {
    let p = Pipeline::new(
        r#"
[pipeline]
name = "title\u001b]0;pwned\u0007"

[[boards."evil\u001b[2J\r".steps]]
name = "s\u001b[31m"
"#,
    );
    let out = p.check();
    let (code, shown) = text(&out);
    assert_eq!(code, 2, "{shown}");
    assert_inert("baton check", &out.stderr);
    assert!(shown.contains(r"invalid board name `evil\x1b[2J\r`"), "{shown}");
    assert!(shown.contains(r"invalid step name `s\x1b[31m`"), "{shown}");
    assert!(
        shown.contains(r"pipeline.name: `title\x1b]0;pwned\x07` holds control characters (remove them)"),
        "{shown}"
    );
    let graph = p.baton().args(["graph"]).output().expect("graph");
    assert_eq!(graph.status.code(), Some(2));
    assert_inert("baton graph", &[graph.stdout.as_slice(), graph.stderr.as_slice()].concat());
}

#[test]
fn a_huge_error_message_is_capped_and_says_so() {
    let message = "x".repeat(1 << 20);
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"

[[boards.b.steps]]
name = "loud"
plugin = "probe"
with = {{ ops = [{{ op = "fail", message = "{message}" }}] }}
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr.chars().take(300).collect::<String>());
    let error = r.error("b.loud");
    let note = " [… cut: the message has 1048576 bytes; messages are capped at 64KiB]";
    assert_eq!(error, format!("{}{note}", &message[..64 << 10]));
    assert!(r.stderr.len() < 200 << 10, "the summary is bounded: {} bytes", r.stderr.len());
    let runs = p.dir().join(".baton/runs");
    let run = std::fs::read_dir(&runs).expect("runs").flatten().next().expect("run").path();
    let journal = std::fs::metadata(run.join("journal.jsonl")).expect("journal").len();
    assert!(journal < 100 << 10, "the journal holds the capped message once: {journal} bytes");
}

#[test]
fn republishing_the_same_artifact_does_not_grow_the_journal() {
    let puts: Vec<String> =
        (0..1000).map(|_| r#"{ op = "put", name = "out.txt", path = "out.txt" }"#.to_string()).collect();
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"

[[boards.b.steps]]
name = "again"
plugin = "probe"
with = {{ ops = [{{ op = "write", path = "out.txt", text = "same" }}, {}, {{ op = "write", path = "out.txt", text = "changed" }}, {{ op = "put", name = "out.txt", path = "out.txt" }}] }}
"#,
        puts.join(", ")
    ));
    let r = p.run(&[]);
    r.assert_status("ok", &["b.again"]);
    let runs = p.dir().join(".baton/runs");
    let run = std::fs::read_dir(&runs).expect("runs").flatten().next().expect("run").path();
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).expect("journal");
    let records = journal.lines().filter(|l| l.contains(r#""event":"artifact""#)).count();
    assert_eq!(records, 2, "one record for the content, one for the change:\n{journal}");
    let listed = p.baton().args(["artifacts"]).output().expect("artifacts");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(listed.lines().filter(|l| l.starts_with("b.again/out.txt")).count(), 1, "{listed}");
}

#[test]
fn the_longest_board_and_step_names_get_a_log_that_baton_logs_finds() {
    let (board, step) = ("b".repeat(128), "s".repeat(128));
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"

[[boards.{board}.steps]]
name = "{step}"
plugin = "probe"
with = {{ ops = [{{ op = "log", message = "from the longest names" }}] }}
"#
    ));
    let r = p.run(&[]);
    let id = format!("{board}.{step}");
    r.assert_status("ok", &[&id]);
    let listed = p.baton().arg("logs").output().expect("logs");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.lines().any(|l| l.starts_with(&format!("{id}  ok"))), "{listed}");
    let (code, log) = text(&p.baton().args(["logs", &id]).output().expect("logs"));
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("info | from the longest names"), "{log}");
    let follow = String::from_utf8_lossy(&p.baton().args(["logs", "-f"]).output().expect("follow").stdout).into_owned();
    assert!(follow.contains("from the longest names"), "{follow}");
}

/// `n` sync-point steps on one board, each after the one before.
fn chain(n: usize) -> String {
    (0..n).map(|i| format!("[[boards.b.steps]]\nname = \"s{i}\"\n")).collect()
}

#[test]
fn svg_draws_a_moderate_graph_and_refuses_one_too_big_to_lay_out() {
    let p = Pipeline::new(&chain(200));
    let out = p.baton().args(["graph", "--format", "svg"]).output().expect("graph");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("data-node=").count(), 200);

    p.write(&chain(5000));
    let (code, shown) = text(&p.baton().args(["graph", "--format", "svg"]).output().expect("graph"));
    assert_eq!(code, 2);
    assert_eq!(
        shown,
        "error: not drawn: 5000 steps are more than the 1000 an SVG drawing takes; use `--format dot` (graphviz: \
         `dot -Tsvg`) or `--format json` for big graphs\n"
    );

    // Few steps, but two layers of 60 that all depend on each other.
    let mut tangled = String::new();
    for i in 0..60 {
        tangled += &format!("[[boards.a.steps]]\nname = \"s{i}\"\nafter = []\n");
    }
    let all: Vec<String> = (0..60).map(|i| format!("\"a.s{i}\"")).collect();
    for i in 0..60 {
        tangled += &format!("[[boards.z.steps]]\nname = \"s{i}\"\nafter = [{}]\n", all.join(", "));
    }
    p.write(&tangled);
    let (code, shown) = text(&p.baton().args(["graph", "--format", "svg"]).output().expect("graph"));
    assert_eq!(code, 2);
    assert!(
        shown.starts_with("error: not drawn: 120 steps in layers up to 60 wide are too tangled to lay out in seconds"),
        "{shown}"
    );
}

#[test]
fn a_step_publishes_at_most_ten_thousand_artifacts() {
    let puts: Vec<String> = (0..10_001).map(|i| format!(r#"{{ op = "put", name = "a{i}", path = "f" }}"#)).collect();
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"

[[boards.b.steps]]
name = "many"
plugin = "probe"
with = {{ ops = [{{ op = "write", path = "f", text = "x" }}, {}] }}
"#,
        puts.join(", ")
    ));
    let r = p.run(&[]);
    assert_eq!(r.status("b.many"), "failed", "{}", r.stderr);
    assert_eq!(
        r.error("b.many"),
        "limit: step b.many already published 10000 artifacts: publish a directory instead of its files"
    );
    let runs = p.dir().join(".baton/runs");
    let run = std::fs::read_dir(&runs).expect("runs").flatten().next().expect("run").path();
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).expect("journal");
    assert_eq!(journal.lines().filter(|l| l.contains(r#""event":"artifact""#)).count(), 10_000);
}
