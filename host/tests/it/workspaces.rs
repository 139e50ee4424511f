//! Workspaces and the project's source: every run starts empty, `--resume`
//! continues where the resumed run left off, `gc` and `clean` remove old
//! workspaces, and `/src` is the project, read-only, without `.baton/`.

use crate::harness::Pipeline;

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The false pass of issue 12: a test command that crashes before writing
/// its report must not pass on the report an earlier run left.
#[test]
fn a_second_run_cannot_pass_on_a_file_the_first_left() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "test"
plugin = "shell"
with = { run = "if [ ! -e \"$BATON_SRC/crash\" ]; then echo '<testsuite failures=\"0\"/>' > junit.xml; fi; test -s junit.xml" }
"#,
    );
    let first = p.run(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_ws = p.workspace("b");
    assert!(first_ws.join("junit.xml").exists());

    std::fs::write(p.dir().join("crash"), "").expect("crash");
    let second = p.run(&[]);
    assert_eq!(second.code, 1, "the report of the first run must not count: {}", second.stderr);
    assert_eq!(
        second.error("b.test"),
        "`if [ ! -e \"$BATON_SRC/crash\" ]; then echo '<testsuite failures=\"0\"/>' > junit.xml; fi; test -s junit.xml` exited with code 1"
    );
    assert_ne!(p.workspace("b"), first_ws, "each run has its own workspace");
    assert!(!p.workspace("b").join("junit.xml").exists());
    assert!(first_ws.join("junit.xml").exists(), "the first run's workspace is kept until gc or clean");
}

#[test]
fn resume_continues_in_the_workspace_the_finished_steps_left() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "make"
plugin = "shell"
with = { run = "echo built > made.txt" }
[[boards.b.steps]]
name = "use"
plugin = "shell"
with = { run = "test -e \"$BATON_SRC/go\" && cp made.txt used.txt" }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.status("b.use"), "failed", "{}", r.stderr);
    std::fs::write(p.dir().join("go"), "").expect("go");
    let r = p.run(&["--resume"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.step("b.make")["previously_done"], true);
    assert_eq!(std::fs::read_to_string(p.workspace("b").join("used.txt")).expect("used"), "built\n");

    // A new run (not resumed) starts empty again: `use` finds nothing.
    let r = p.run(&["--skip", "b.make"]);
    assert_eq!(r.status("b.use"), "failed", "{}", r.stderr);
}

#[test]
fn runs_shows_the_workspaces_size_and_clean_removes_all_but_the_durations() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "fill"
plugin = "shell"
with = { run = "head -c 3072 /dev/zero > big.bin", publish = ["big.bin"] }
"#,
    );
    assert_eq!(p.run(&[]).code, 0);
    assert_eq!(p.run(&[]).code, 0);
    let out = p.baton().args(["runs"]).output().expect("runs");
    let text = stdout(&out);
    assert!(text.lines().next().is_some_and(|h| h.contains("workspaces")), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("  3KiB  ")).count(), 2, "{text}");

    let state = p.dir().join(".baton");
    assert!(state.join("durations.json").exists());
    let out = p.baton().args(["clean"]).output().expect("clean");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).starts_with("removed runs, store from "), "{}", stdout(&out));
    let left: Vec<String> =
        std::fs::read_dir(&state).expect("state").flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
    assert_eq!(left, ["durations.json"]);
    let out = p.baton().args(["clean"]).output().expect("clean again");
    assert!(stdout(&out).starts_with("nothing to clean in "), "{}", stdout(&out));
}

#[test]
fn a_stage_and_its_processes_read_src_but_cannot_write_it_or_see_baton_state() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "trusted"
plugin = "probe"
with = { ops = [
  { op = "read", path = "/src/input.txt", expect = "from the project" },
  { op = "ls", path = "/src", expect = ["baton.toml", "input.txt", "leak"] },
  { op = "write", path = "/src/new.txt", text = "x", expect_error = "write /src/new.txt" },
  { op = "write", path = "/src/input.txt", text = "x", expect_error = "write /src/input.txt" },
  { op = "missing", path = "/src/.baton" },
  { op = "ls", path = "/src/.baton", expect = [], expect_error = "list /src/.baton" },
  { op = "ls", path = "/src/leak", expect = [], expect_error = "list /src/leak" },
  { op = "missing", path = "/src/leak/durations.json" },
  { op = "read", path = "/src/./.baton/durations.json", expect_error = "No such file" },
  { op = "run", program = "sh", args = ["-c", "cat \"$BATON_SRC/input.txt\""], expect_stdout = "from the project" },
] }
[[boards.u.steps]]
name = "untrusted"
plugin = "probe"
trust = "untrusted"
with = { ops = [
  { op = "read", path = "/src/input.txt", expect = "from the project" },
  { op = "write", path = "/src/new.txt", text = "x", expect_error = "write /src/new.txt" },
  { op = "run", program = "sh", args = ["-c", "echo $BATON_SRC; cat /src/input.txt"], expect_stdout = "/src\nfrom the project" },
  { op = "run", program = "sh", args = ["-c", "echo x > /src/input.txt"], expect_code = 2 },
  { op = "run", program = "sh", args = ["-c", "echo x > /src/.baton/x"], expect_code = 2 },
  { op = "run", program = "sh", args = ["-c", "find /src/.baton/ /src/leak/ -mindepth 1 | wc -l"], expect_stdout = "0\n" },
] }
"#,
    );
    std::fs::write(p.dir().join("input.txt"), "from the project").expect("input");
    // A symlink in the project that leads into `.baton/`.
    std::os::unix::fs::symlink(".baton", p.dir().join("leak")).expect("symlink");
    // An earlier run leaves state behind for the stages to look for.
    std::fs::create_dir_all(p.dir().join(".baton")).expect("state");
    std::fs::write(p.dir().join(".baton/durations.json"), "{}").expect("durations");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stderr, p.log("b.trusted"), p.log("u.untrusted"));
    assert_eq!(std::fs::read_to_string(p.dir().join("input.txt")).expect("input"), "from the project");
    assert!(!p.dir().join("new.txt").exists());
    assert!(!p.dir().join(".baton/x").exists());
}

#[test]
fn a_run_still_going_cannot_be_resumed_from_under_it() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "slow"
plugin = "shell"
with = { run = "touch started; while [ ! -e \"$BATON_SRC/stop\" ]; do sleep 0.05; done" }
"#,
    );
    let mut first = p.baton().args(["run", "-q"]).spawn().expect("spawn baton");
    let start = std::time::Instant::now();
    while !p.workspace("b").join("started").exists() {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the first run did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = p.run(&["--resume"]);
    std::fs::write(p.dir().join("stop"), "").expect("stop");
    assert!(first.wait().expect("first run").success());
    assert_eq!(r.code, 2, "{}", r.stderr);
    let id = p.runs()[0].file_name().expect("id").to_string_lossy().into_owned();
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "error: --resume: run {id} is still going (its workspaces are in use); wait for it to end or cancel it"
        )
    );
    assert!(p.workspace("b").join("started").exists(), "its workspace stayed where it was");
}
