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
    let mut run = (p.baton().args(["run", "--nats", &url]))
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start baton run");
    let stderr = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let waiting = Instant::now();
    while !stderr().contains("waits for a live worker") {
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
