//! Losing the coordinator while steps on workers talk to it: they wait for
//! it, and `baton run --nats URL --resume` takes them over.

use std::time::{Duration, Instant};

use crate::cluster_runs::{WorkerProc, all_logs, start_run, wait_for_line};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

/// `a.slow` sleeps (the coordinator is killed meanwhile), then publishes an
/// artifact and waits on a signal that `b.raiser` raises once it has
/// fetched that artifact: both talk to a coordinator that is gone.
const TALKERS: &str = r#"
[plugins]
probe = "{probe}"

[[boards.a.steps]]
name = "slow"
plugin = "probe"
with = { ops = [
  { op = "sleep", ms = 3000 },
  { op = "write", path = "out.txt", text = "made on a worker" },
  { op = "put", name = "out.txt", path = "out.txt" },
  { op = "wait", names = ["b.raiser/go"] },
  { op = "print", text = "slow saw go" },
] }

[[boards.b.steps]]
name = "raiser"
plugin = "probe"
emits = ["go"]
with = { ops = [
  { op = "get", reference = "a.slow/out.txt", dest = "got.txt" },
  { op = "read", path = "got.txt", expect = "made on a worker" },
  { op = "emit", name = "go" },
] }
"#;

/// As [`TALKERS`], but `a.slow` publishes before the coordinator is
/// killed (it then sleeps) and `b.raiser` fetches it from that coordinator:
/// the resumed run must carry what the running step published.
const PUBLISHED_BEFORE: &str = r#"
[plugins]
probe = "{probe}"

[[boards.a.steps]]
name = "slow"
plugin = "probe"
with = { ops = [
  { op = "write", path = "out.txt", text = "made on a worker" },
  { op = "put", name = "out.txt", path = "out.txt" },
  { op = "sleep", ms = 3000 },
  { op = "wait", names = ["b.raiser/go"] },
  { op = "print", text = "slow saw go" },
] }

[[boards.b.steps]]
name = "raiser"
plugin = "probe"
emits = ["go"]
with = { ops = [
  { op = "get", reference = "a.slow/out.txt", dest = "got.txt" },
  { op = "read", path = "got.txt", expect = "made on a worker" },
  { op = "sleep", ms = 2000 },
  { op = "emit", name = "go" },
] }
"#;

#[test]
fn steps_that_talk_while_the_coordinator_is_dead_wait_for_it_and_resume_takes_them_over() {
    kill_the_coordinator_then_resume(TALKERS, None);
}

#[test]
fn what_a_running_step_published_before_the_coordinator_died_is_kept_by_the_resumed_run() {
    kill_the_coordinator_then_resume(PUBLISHED_BEFORE, Some("\"a.slow/out.txt\""));
}

/// Runs `toml` on two workers, kills the coordinator once `a.slow` and
/// `b.raiser` started (and its journal has `journaled`), resumes, and checks
/// that each step ran once and `a.slow`'s artifact is in the report.
fn kill_the_coordinator_then_resume(toml: &str, journaled: Option<&str>) {
    let server = NatsServer::start();
    let url = server.url();
    let w1 = WorkerProc::start(&url, "w1", 2, &[]);
    let w2 = WorkerProc::start(&url, "w2", 2, &[]);
    let workers = [&w1, &w2];
    let p = Pipeline::new(toml);
    let mut first = start_run(&p, &url);
    wait_for_line(&workers, ": start a.slow ");
    wait_for_line(&workers, ": start b.raiser ");
    let journal = || {
        let path = p.latest_run().map(|r| r.join("journal.jsonl")).unwrap_or_default();
        std::fs::read_to_string(path).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(record) = journaled.filter(|r| !journal().contains(r)) {
        assert!(Instant::now() < deadline, "the coordinator never journaled {record}:\n{}", journal());
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().expect("kill -9 the coordinator");
    let _ = first.wait();
    let run = p.latest_run().and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned())).expect("a run");

    // Both steps ask while no coordinator lives: they wait and say so.
    let deadline = Instant::now() + Duration::from_secs(30);
    let waits = |id: &str| workers.iter().any(|w| w.step_log(&run, id).contains("waiting for the coordinator"));
    while !(waits("a.slow") && waits("b.raiser")) {
        let files = |w: &WorkerProc| {
            let out = std::process::Command::new("find").arg(w.dir()).output().expect("find");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert!(
            Instant::now() < deadline,
            "no step said it waits (run {run}):\n{}\n{}\n{}",
            all_logs(&workers),
            files(&w1),
            files(&w2)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!all_logs(&workers).contains(": end "), "a step ended without its coordinator:\n{}", all_logs(&workers));

    let r = p.run(&["--nats", &url, "--resume"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, all_logs(&workers));
    for id in ["a.slow", "b.raiser"] {
        assert_eq!(r.step(id)["previously_done"], false, "{id}");
        let attempts = r.step(id)["attempts"].as_array().expect("attempts").clone();
        assert_eq!(attempts.len(), 1, "{id}: {attempts:?}\n{}", r.stderr);
        assert_eq!(attempts[0]["status"], "ok", "{id}: {attempts:?}");
    }
    // Each ran once, on the worker that started it.
    let passed: Vec<String> = workers.iter().flat_map(|w| w.passed()).collect();
    let mut sorted = passed.clone();
    sorted.sort();
    assert_eq!(sorted, ["a.slow", "b.raiser"], "{}", all_logs(&workers));
    let digest = format!("sha256:{}", sha256_hex(b"made on a worker"));
    let artifact = r.report["artifacts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["reference"] == "a.slow/out.txt"))
        .cloned()
        .unwrap_or_else(|| panic!("a.slow/out.txt not in the report: {}", r.report["artifacts"]));
    assert_eq!(artifact["digest"], digest);
    assert_eq!(r.step("a.slow")["artifacts"], serde_json::json!(["a.slow/out.txt"]));
    // The step log came back whole: the wait, then the end.
    let log = p.log("a.slow");
    let (waited, saw) = (log.find("waiting for the coordinator"), log.find("slow saw go"));
    assert!(waited.is_some() && saw.is_some() && waited < saw, "{log}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_resumed_run_that_does_not_run_a_step_again_stops_it_on_its_worker() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 2, &[]);
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]

[[boards.a.steps]]
name = "slow"
plugin = "shell"
with = { run = "sleep 40" }

[[boards.b.steps]]
name = "quick"
plugin = "shell"
with = { run = "true" }
"#,
    );
    let mut first = start_run(&p, &url);
    wait_for_line(&[&w], ": start a.slow ");
    wait_for_line(&[&w], ": end b.quick ");
    first.kill().expect("kill -9 the coordinator");
    let _ = first.wait();
    // The resumed run leaves a.slow out: the attempt left running is
    // revoked and cancelled, not left to wait for a coordinator.
    let r = p.run(&["--nats", &url, "--resume", "--only", "b.quick"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, w.log());
    wait_for_line(&[&w], "worker w1: result of a.slow (attempt 1) refused: the attempt was taken from this worker");
    assert_eq!(w.passed(), ["b.quick"], "{}", w.log());
}

/// `a.slow` sleeps `ms` (its coordinator is killed, or stopped,
/// meanwhile), then publishes: an ask whichever coordinator lives answers.
pub fn slow_publish(ms: u64) -> String {
    format!(
        r#"
[plugins]
probe = "{{probe}}"

[[boards.a.steps]]
name = "slow"
plugin = "probe"
with = {{ ops = [
  {{ op = "sleep", ms = {ms} }},
  {{ op = "write", path = "out.txt", text = "made on a worker" }},
  {{ op = "put", name = "out.txt", path = "out.txt" }},
] }}
"#
    )
}

/// The run that took a step over is killed too: the next resume finds the
/// attempt (still keyed by the first run) and takes it over in turn.
#[test]
fn a_step_outlives_two_coordinators_killed_in_turn() {
    let server = NatsServer::start();
    let url = server.url();
    let w1 = WorkerProc::start(&url, "w1", 2, &[]);
    let workers = [&w1];
    let p = Pipeline::new(&slow_publish(6000));
    let mut first = start_run(&p, &url);
    wait_for_line(&workers, ": start a.slow ");
    first.kill().expect("kill -9 the first coordinator");
    let _ = first.wait();

    let err_path = p.dir().join("second.stderr");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut second = p
        .baton()
        .args(["run", "--nats", &url, "--resume"])
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start the second coordinator");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&err_path).unwrap_or_default().contains("taken over") {
        assert!(
            Instant::now() < deadline,
            "the second coordinator did not take a.slow over:\n{}",
            std::fs::read_to_string(&err_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    second.kill().expect("kill -9 the second coordinator");
    let _ = second.wait();

    let r = p.run(&["--nats", &url, "--resume"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, all_logs(&workers));
    assert!(r.stderr.contains("a.slow is still running on worker w1"), "{}", r.stderr);
    let attempts = r.step("a.slow")["attempts"].as_array().expect("attempts").clone();
    assert_eq!(attempts.len(), 1, "{attempts:?}\n{}", r.stderr);
    assert_eq!(attempts[0]["status"], "ok", "{attempts:?}");
    assert_eq!(w1.passed(), ["a.slow"], "{}", all_logs(&workers));
    assert_eq!(r.step("a.slow")["artifacts"], serde_json::json!(["a.slow/out.txt"]));
}
