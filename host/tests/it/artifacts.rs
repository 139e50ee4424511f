//! Artifacts: round trip, deduplication, cross-board fetches, waiting for a
//! producer, failed producers, path escapes, corruption, and the CLI.

use crate::harness::Pipeline;

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh", "ln"]
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

#[test]
fn files_and_directories_round_trip_across_boards_and_dedup() {
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "make"
plugin = "probe"
with = { ops = [
  { op = "write", path = "out.txt", text = "the build output" },
  { op = "run", program = "sh", args = ["-c", "mkdir -p tree/sub && echo leaf > tree/sub/leaf.txt && echo top > tree/top.txt"] },
  { op = "put", name = "out.txt", path = "out.txt" },
  { op = "put", name = "tree", path = "tree" },
  { op = "put", name = "same.txt", path = "out.txt" },
] }
[[boards.b.steps]]
name = "use"
plugin = "probe"
after = ["a.make"]
with = { ops = [
  { op = "get", reference = "a.make/out.txt", dest = "in/copy.txt" },
  { op = "read", path = "in/copy.txt", expect = "the build output" },
  { op = "get", reference = "a.make/tree", dest = "tree" },
  { op = "read", path = "tree/sub/leaf.txt", expect = "leaf\n" },
  { op = "get", reference = "same.txt", dest = "bare.txt" },
  { op = "read", path = "bare.txt", expect = "the build output" },
  { op = "list", expect = ["a.make/out.txt", "a.make/tree", "a.make/same.txt"] },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("b.use"));
    assert_eq!(r.step("a.make")["artifacts"], serde_json::json!(["a.make/out.txt", "a.make/tree", "a.make/same.txt"]));
    let blobs = std::fs::read_dir(p.dir().join(".baton/store/sha256")).expect("store").count();
    assert_eq!(blobs, 2, "the same content is stored once");

    let out = p.baton().args(["artifacts"]).output().expect("artifacts");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("a.make/tree") && listing.contains("directory"), "{listing}");
    let dest = p.dir().join("exported");
    let out = p.baton().args(["artifacts", "get", "a.make/tree"]).arg(&dest).output().expect("get");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dest.join("top.txt")).expect("exported"), "top\n");
    let out = p.baton().args(["artifacts", "get", "a.make/tre", "/tmp/x"]).output().expect("get");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no artifact a.make/tre (did you mean a.make/tree?)"));
}

#[test]
fn a_get_waits_for_a_producer_that_has_not_published_yet() {
    let p = pipeline(
        r#"
[[boards.consumer.steps]]
name = "early"
plugin = "probe"
with = { ops = [
  { op = "get", reference = "producer.slow/result.txt", dest = "result.txt" },
  { op = "read", path = "result.txt", expect = "late but here" },
] }
[[boards.producer.steps]]
name = "slow"
plugin = "probe"
with = { ops = [
  { op = "sleep", ms = 300 },
  { op = "write", path = "result.txt", text = "late but here" },
  { op = "put", name = "result.txt", path = "result.txt" },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let waits = r.step("consumer.early")["waits"].as_array().expect("waits").clone();
    assert_eq!(waits.len(), 1);
    assert_eq!(waits[0]["on"][0], "producer.slow/result.txt");
    assert_eq!(waits[0]["slot_released"], true);
    assert!(waits[0]["end"].as_f64() >= Some(waits[0]["start"].as_f64().expect("start")));
}

#[test]
fn a_producer_that_fails_or_never_publishes_ends_the_wait_with_a_clear_error() {
    let p = pipeline(
        r#"
[[boards.c.steps]]
name = "wants-bad"
plugin = "probe"
on_failure = "continue"
with = { ops = [{ op = "get", reference = "p.bad/out", dest = "out" }] }
[[boards.c.steps]]
name = "wants-quiet"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "get", reference = "p.quiet/out", dest = "out" }] }
[[boards.c.steps]]
name = "wants-nobody"
plugin = "probe"
after = []
on_failure = "continue"
with = { ops = [{ op = "get", reference = "p.nobody/out", dest = "out" }] }
[[boards.p.steps]]
name = "bad"
plugin = "probe"
on_failure = "continue"
with = { ops = [{ op = "sleep", ms = 100 }, { op = "fail", message = "compiler crashed" }] }
[[boards.p.steps]]
name = "quiet"
plugin = "probe"
after = []
with = { ops = [{ op = "sleep", ms = 100 }] }
"#,
    );
    let r = p.run(&["--jobs", "6"]);
    assert_eq!(r.error("c.wants-bad"), "artifact never published: p.bad failed without publishing `out`");
    assert_eq!(r.error("c.wants-quiet"), "artifact never published: p.quiet finished without publishing `out`");
    assert_eq!(r.error("c.wants-nobody"), "artifact not found: `p.nobody/out`: there is no step p.nobody");
}

#[test]
fn names_and_paths_cannot_escape_the_workspace() {
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "escape"
plugin = "probe"
with = { ops = [
  { op = "run", program = "ln", args = ["-sf", "/etc/passwd", "planted"] },
  { op = "put", name = "x", path = "../outside", expect_error = "invalid path: `../outside` contains `..`" },
  { op = "put", name = "x", path = "/etc/passwd", expect_error = "invalid path: `/etc/passwd` is absolute" },
  { op = "put", name = "x", path = "planted", expect_error = "invalid path: path `planted` leads outside the workspace (through a symlink)" },
  { op = "put", name = "../x", path = "planted", expect_error = "invalid artifact name: `../x`" },
  { op = "write", path = "ok.txt", text = "ok" },
  { op = "put", name = "ok", path = "ok.txt" },
  { op = "get", reference = "a.escape/ok", dest = "../../stolen", expect_error = "invalid path: `../../stolen` contains `..`" },
  { op = "get", reference = "a.escape/ok", dest = "/tmp/x", expect_error = "invalid path: `/tmp/x` is absolute" },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("a.escape"));
}

#[test]
fn a_corrupted_blob_is_detected_when_read() {
    let text = r#"
[[boards.a.steps]]
name = "make"
plugin = "probe"
with = { ops = [{ op = "write", path = "f.txt", text = "precious" }, { op = "put", name = "f.txt", path = "f.txt" }] }
[[boards.a.steps]]
name = "use"
plugin = "probe"
with = { ops = [{ op = "get", reference = "a.make/f.txt", dest = "copy.txt" }, { op = "fail", message = "first run stops here" }] }
"#;
    let p = pipeline(text);
    let r = p.run(&[]);
    assert_eq!(r.status("a.use"), "failed");
    // Damage the stored blob, then resume: `make` is previously done, `use` reads it.
    let blob_dir = p.dir().join(".baton/store/sha256");
    let blob = std::fs::read_dir(&blob_dir).expect("store").next().expect("a blob").expect("entry").path();
    std::fs::write(&blob, "precioUs").expect("corrupt");
    std::fs::remove_file(p.workspace("a").join("copy.txt")).expect("the first run's copy");
    p.write(&format!("{HEAD}\n{}", text.replace(", { op = \"fail\", message = \"first run stops here\" }", "")));
    let r = p.run(&["--resume"]);
    assert_eq!(r.step("a.make")["previously_done"], true);
    assert!(r.error("a.use").starts_with("corrupt artifact: blob sha256:"), "{}", r.error("a.use"));
    assert!(r.error("a.use").contains("is corrupt: its content hashes to sha256:"));
    assert!(!p.workspace("a").join("copy.txt").exists(), "nothing is left from a bad copy");
    let out = p.baton().args(["artifacts", "get", "a.make/f.txt"]).arg(p.dir().join("x")).output().expect("get");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is corrupt"));
}

#[test]
fn gc_removes_blobs_no_kept_run_refers_to() {
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "make"
plugin = "probe"
with = { ops = [{ op = "write", path = "f.txt", text = "v1" }, { op = "put", name = "f.txt", path = "f.txt" }] }
"#,
    );
    assert_eq!(p.run(&[]).code, 0);
    p.write(&format!(
        "{HEAD}\n{}",
        r#"
[[boards.a.steps]]
name = "make"
plugin = "probe"
with = { ops = [{ op = "write", path = "f.txt", text = "v2" }, { op = "put", name = "f.txt", path = "f.txt" }] }
"#
    ));
    assert_eq!(p.run(&[]).code, 0);
    let count = || std::fs::read_dir(p.dir().join(".baton/store/sha256")).expect("store").count();
    assert_eq!(count(), 2);
    let out = p.baton().args(["gc"]).output().expect("gc");
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 0 runs (0B of workspaces), 0 blobs"), "both kept");
    let first = p.runs()[0].clone();
    assert_eq!(std::fs::read_to_string(first.join("ws/a/f.txt")).expect("the first run's workspace"), "v1");
    let out = p.baton().args(["gc", "--keep-runs", "1"]).output().expect("gc");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("removed 1 run (2B of workspaces), 1 blob"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(count(), 1);
    assert!(!first.exists(), "the dropped run went with its workspace");
    assert_eq!(std::fs::read_to_string(p.workspace("a").join("f.txt")).expect("the kept run's"), "v2");
    let out = p.baton().args(["artifacts", "get", "a.make/f.txt"]).arg(p.dir().join("f")).output().expect("get");
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(p.dir().join("f")).expect("read"), "v2");
}
