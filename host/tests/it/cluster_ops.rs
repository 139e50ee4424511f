//! What an operator leaving a cluster running relies on: an interrupt ends
//! a run that waits for workers at once (nothing runs its steps), and a
//! run that cannot reach its server leaves nothing behind.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

const ONE_STEP: &str = r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "long"
plugin = "shell"
with = { run = "sleep 60" }
"#;

#[test]
fn an_interrupt_ends_a_run_that_waits_for_a_worker() {
    let server = NatsServer::start();
    let url = server.url();
    let p = Pipeline::new(ONE_STEP);
    let err_path = p.dir().join("run.stderr");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut run =
        (p.baton().args(["run", "--nats", &url])).stdout(Stdio::null()).stderr(err).spawn().expect("start baton run");
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let waiting = Instant::now();
    while !stderr().contains("for a live worker") {
        assert!(waiting.elapsed() < Duration::from_secs(60), "never waited for a worker:\n{}", stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on the pid of our own child, not reaped yet.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    // A generous bound: it only tells a hang (the bug: ten minutes) from an end.
    let asked = Instant::now();
    let status = loop {
        if let Some(s) = run.try_wait().expect("wait") {
            break s;
        }
        if asked.elapsed() > Duration::from_secs(30) {
            let _ = run.kill();
            let _ = run.wait();
            panic!("the run still ran 30 s after one interrupt:\n{}", stderr());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(130), "{}", stderr());
}

#[test]
fn a_refused_connection_leaves_no_run_directory() {
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let p = Pipeline::new(ONE_STEP);
    let r = p.run(&["--nats", &format!("nats://127.0.0.1:{port}")]);
    assert_ne!(r.code, 0, "{}", r.stderr);
    let runs = p.dir().join(".baton/runs");
    let left: Vec<_> = std::fs::read_dir(&runs).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}\n{}", r.stderr);
}

/// Steps of boards `a` and `b` that each wait for the other's signal: they
/// pass only if both run at once.
const EACH_WAITS_FOR_THE_OTHER: &str = r#"
[plugins]
probe = "{probe}"

[[boards.a.steps]]
name = "x"
plugin = "probe"
emits = ["ax"]
with = { ops = [{ op = "emit", name = "ax" }, { op = "wait", names = ["b.y/by"] }] }

[[boards.b.steps]]
name = "y"
plugin = "probe"
emits = ["by"]
with = { ops = [{ op = "emit", name = "by" }, { op = "wait", names = ["a.x/ax"] }] }
"#;

const TWO_BOARDS: &str = r#"
[plugins]
probe = "{probe}"

[[boards.a.steps]]
name = "one"
plugin = "probe"
with = { ops = [{ op = "sleep", ms = 300 }] }

[[boards.b.steps]]
name = "two"
plugin = "probe"
with = { ops = [{ op = "sleep", ms = 300 }] }
"#;

fn names(live: &[serde_json::Value]) -> Vec<String> {
    live.iter().filter_map(|w| w["name"].as_str().map(String::from)).collect()
}

#[test]
fn with_no_jobs_a_cluster_run_has_the_live_workers_slots() {
    use crate::cluster_runs::WorkerProc;
    let server = NatsServer::start();
    let url = server.url();
    let w1 = WorkerProc::start(&url, "w1", 1, &[]);
    let w2 = WorkerProc::start(&url, "w2", 1, &[]);
    crate::cluster::wait_for(&url, "both workers listed", |l| names(l) == ["w1", "w2"]);
    // Two slots: both steps run at once (each waits for the other).
    let p = Pipeline::new(EACH_WAITS_FOR_THE_OTHER);
    let r = p.run(&["--nats", &url]);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stderr, w1.log(), w2.log());
    assert!(r.stderr.contains("2 job slots on 2 live workers"), "{}", r.stderr);

    // w2 leaves: one slot, so the two steps run one after the other on w1.
    drop(w2);
    crate::cluster::wait_for(&url, "only w1 listed", |l| names(l) == ["w1"]);
    let p = Pipeline::new(TWO_BOARDS);
    let r = p.run(&["--nats", &url]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, w1.log());
    assert!(r.stderr.contains("1 job slot on 1 live worker"), "{}", r.stderr);
    // In the worker's own order: one step ended before the other started.
    let log = w1.log();
    let at = |what: &str| log.find(what).unwrap_or_else(|| panic!("no `{what}` in the worker log:\n{log}"));
    let (one, two) = ((at(": start a.one "), at(": end a.one ")), (at(": start b.two "), at(": end b.two ")));
    assert!(one.1 < two.0 || two.1 < one.0, "one slot, yet both ran at once:\n{log}\n{}", r.stderr);

    // `--jobs` decides instead of the workers.
    let w3 = WorkerProc::start(&url, "w3", 1, &[]);
    crate::cluster::wait_for(&url, "w1 and w3 listed", |l| names(l) == ["w1", "w3"]);
    let p = Pipeline::new(TWO_BOARDS);
    let r = p.run(&["--nats", &url, "--jobs", "1"]);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stderr, w1.log(), w3.log());
    assert!(!r.stderr.contains("jobs follow the workers"), "{}", r.stderr);
}
