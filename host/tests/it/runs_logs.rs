//! Looking at runs after (and while) they go: `baton runs`, `baton logs`,
//! and what `baton run` prints on a pipe and with `--quiet`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::Pipeline;

const TWO_STEPS: &str = r#"
[plugins]
probe = "{probe}"

[[boards.b.steps]]
name = "talk"
plugin = "probe"
with = { ops = [{ op = "log", message = "hello from talk" }, { op = "print", text = "second line" }] }

[[boards.b.steps]]
name = "fail"
plugin = "probe"
on_failure = "continue"
with = { ops = [{ op = "fail", message = "no luck" }] }
"#;

fn text(out: &std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn runs_lists_each_run_with_its_status_and_steps() {
    let p = Pipeline::new(TWO_STEPS);
    let first = p.run(&[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    p.write(&TWO_STEPS.replace("{ op = \"fail\", message = \"no luck\" }", "{ op = \"log\", message = \"fine\" }"));
    let second = p.run(&[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    // A run whose process died: a journal without an end record, not in use.
    let crashed = p.dir().join(".baton/runs/29990101-000000-dead");
    std::fs::create_dir_all(&crashed).expect("dir");
    std::fs::write(
        crashed.join("journal.jsonl"),
        "{\"event\":\"start\",\"run\":\"29990101-000000-dead\",\"pipeline\":\"x\",\"file\":\"baton.toml\",\"resumed_from\":null,\"started_unix\":1.0}\n",
    )
    .expect("journal");

    let (code, stdout, stderr) = text(&p.baton().arg("runs").output().expect("runs"));
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<Vec<&str>> = stdout.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    let first_id = first.report["run_id"].as_str().expect("id");
    let second_id = second.report["run_id"].as_str().expect("id");
    assert_eq!(ids, [first_id, second_id, "29990101-000000-dead"], "oldest first:\n{stdout}");
    assert_eq!(rows[0][2], "failed");
    assert!(stdout.lines().nth(1).expect("row").ends_with("1 ok, 1 failed"), "{stdout}");
    assert_eq!(rows[1][2], "ok");
    assert!(stdout.lines().nth(2).expect("row").ends_with("2 ok"), "{stdout}");
    assert_eq!(rows[2][2], "interrupted");

    let (code, json, _) = text(&p.baton().args(["runs", "--json", "-n", "1"]).output().expect("runs"));
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["status"], "interrupted");

    // From elsewhere: -C DIR or the pipeline file.
    let (code, stdout, _) = text(&p.baton().current_dir("/").args(["runs", "-C"]).arg(p.dir()).output().expect("runs"));
    assert_eq!((code, stdout.lines().count()), (0, 4));
    let (code, _, stderr) =
        text(&p.baton().current_dir("/").args(["runs", "/nonexistent/baton.toml"]).output().expect("runs"));
    assert_eq!(code, 2);
    assert!(stderr.contains("no runs under /nonexistent/.baton/runs"), "{stderr}");
}

#[test]
fn logs_lists_prints_and_explains_missing_logs() {
    let p = Pipeline::new(TWO_STEPS);
    let r = p.run(&[]);
    let id = r.report["run_id"].as_str().expect("id").to_string();

    let (code, stdout, stderr) = text(&p.baton().arg("logs").output().expect("logs"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with(&format!("run {id} (failed): logs in ")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("b.talk ") && l.contains(" ok ")), "{stdout}");

    let (code, stdout, _) = text(&p.baton().args(["logs", "b.talk"]).output().expect("logs"));
    assert_eq!(code, 0);
    assert_eq!(stdout, p.log("b.talk"), "the whole log, as written");
    assert!(stdout.contains("info | hello from talk"), "{stdout}");
    let (code, by_prefix, _) = text(&p.baton().args(["logs", &id[..15], "b.talk"]).output().expect("logs"));
    assert_eq!((code, by_prefix), (0, stdout));

    let (code, _, stderr) = text(&p.baton().args(["logs", "b.tlak"]).output().expect("logs"));
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("run {id} has no step `b.tlak` (did you mean b.talk?)")), "{stderr}");
    let (code, _, stderr) = text(&p.baton().args(["logs", "nope", "b.talk"]).output().expect("logs"));
    assert_eq!(code, 2);
    assert!(stderr.contains("no run `nope` (latest runs: "), "{stderr}");
}

#[test]
fn logs_follow_tails_a_running_run_until_it_ends() {
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"

[[boards.b.steps]]
name = "slow"
plugin = "probe"
with = { ops = [{ op = "print", text = "before the pause" }, { op = "sleep", ms = 1500 }, { op = "print", text = "after the pause" }] }

[[boards.c.steps]]
name = "other"
plugin = "probe"
with = { ops = [{ op = "sleep", ms = 700 }, { op = "log", message = "other says hi" }] }
"#,
    );
    let mut run = p.baton().arg("run").stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("run");
    // Follow once the run has a journal (it is then the latest run).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_dir(p.dir().join(".baton/runs"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("journal.jsonl").exists())
    {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let all =
        p.baton().args(["logs", "--follow"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("follow");
    let one =
        p.baton().args(["logs", "-f", "b.slow"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("follow");
    let (all, one) = (all.wait_with_output().expect("all"), one.wait_with_output().expect("one"));
    assert_eq!(run.wait().expect("run").code(), Some(0));

    let (code, stdout, stderr) = text(&one);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().filter_map(|l| l.split_once(" | ").map(|(_, t)| t)).collect();
    let before = lines.iter().position(|l| *l == "before the pause").expect(&stdout);
    let after = lines.iter().position(|l| *l == "after the pause").expect(&stdout);
    assert!(before < after);
    assert!(stderr.contains("ended: ok"), "{stderr}");

    let (code, stdout, _) = text(&all);
    assert_eq!(code, 0);
    assert!(stdout.lines().any(|l| l.starts_with("b.slow |") && l.ends_with("after the pause")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("c.other |") && l.ends_with("other says hi")), "{stdout}");
}

#[test]
fn progress_is_plain_lines_on_a_pipe_and_nothing_per_step_when_quiet() {
    let p = Pipeline::new(TWO_STEPS);
    let r = p.run(&[]);
    assert!(r.stderr.contains("]   start b.talk\n"), "{}", r.stderr);
    assert!(r.stderr.contains("]      ok b.talk ("), "{}", r.stderr);
    assert!(r.stderr.contains("]  FAILED b.fail ("), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains('\r'), "no terminal codes on a pipe");

    let r = p.run(&["--quiet"]);
    assert!(!r.stderr.contains("start b.talk"), "{}", r.stderr);
    assert!(r.stderr.contains("failures (1):"), "a failing run still gets its summary: {}", r.stderr);
}
