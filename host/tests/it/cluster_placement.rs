//! Where boards go on a cluster (`runs_on` labels), and a run through a
//! server restart.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster_runs::{WorkerProc, all_logs, start_run};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

#[test]
fn a_board_whose_labels_no_worker_has_waits_says_so_and_runs_when_one_joins() {
    let server = NatsServer::start();
    let url = server.url();
    let plain = WorkerProc::start(&url, "plain", 2, &["os=linux"]);
    let p = Pipeline::new(
        r#"
[pipeline]
name = "labels"

[policy]
spawn = ["sh"]

[[boards.anywhere.steps]]
name = "s"
plugin = "shell"
with = { run = "true" }

[boards.special]
runs_on = { os = "plan9" }

[[boards.special.steps]]
name = "s"
plugin = "shell"
with = { run = "true" }
"#,
    );
    let mut run = start_run(&p, &url);
    let stderr = Arc::new(Mutex::new(String::new()));
    let reader = {
        let stderr = stderr.clone();
        let pipe = run.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = stderr.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    let said = "baton: board special waits for a worker with labels os=plan9 (start one with `baton worker --label ...`); live workers: plain [os=linux]";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stderr.lock().unwrap_or_else(|p| p.into_inner()).contains(said) {
        assert!(Instant::now() < deadline, "the run did not say why it waits: {}", stderr.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The other board was not held up, and the run waits (no silent hang, no failure).
    crate::cluster_runs::wait_for_line(&[&plain], ": end anywhere.s ");
    assert!(run.try_wait().expect("try_wait").is_none(), "the run ended without a worker for board special");

    let p9 = WorkerProc::start(&url, "p9", 1, &["os=plan9", "arch=mips"]);
    let status = run.wait().expect("wait");
    reader.join().expect("reader");
    let stderr = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{stderr}\n{}", all_logs(&[&plain, &p9]));
    assert!(stderr.contains("baton: board special placed on worker p9"), "{stderr}");
    assert_eq!(p9.passed(), ["special.s"]);
    assert_eq!(plain.passed(), ["anywhere.s"]);
}

#[test]
fn a_run_completes_through_a_server_restart_on_the_same_store() {
    let mut server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 2, &[]);
    let p = Pipeline::new(
        r#"
[pipeline]
name = "restart"

[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "one"
plugin = "shell"
with = { run = "echo 1 > one" }

[[boards.b.steps]]
name = "two"
plugin = "shell"
with = { run = "sleep 2 && test -f one && echo 2 > two" }

[[boards.b.steps]]
name = "three"
plugin = "shell"
with = { run = "test -f two" }
"#,
    );
    let run = start_run(&p, &url);
    crate::cluster_runs::wait_for_line(&[&w], ": start b.two ");
    server.restart();
    let (code, _report, stderr) = crate::cluster_runs::finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}\nserver:\n{}", w.log(), server.log());
    assert_eq!(w.passed(), ["b.one", "b.two", "b.three"], "{}", w.log());
}

#[test]
fn cancelling_the_coordinator_cancels_the_step_on_its_worker() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "long"
plugin = "shell"
with = { run = "sleep 60" }
"#,
    );
    let run = start_run(&p, &url);
    crate::cluster_runs::wait_for_line(&[&w], ": start b.long ");
    // SAFETY: kill(2) on the pid of our own child, not reaped yet.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let (code, report, stderr) = crate::cluster_runs::finish_run(run);
    assert_eq!(code, Some(130), "{stderr}\n{}", w.log());
    // As a local run reports it.
    assert_eq!(report["status"], "cancelled", "{stderr}");
    assert_eq!(crate::cluster_runs::report_step(&report, "b.long")["error"], "cancelled", "{stderr}");
    // The worker stopped the step (it does not run on for a minute) and committed that end.
    crate::cluster_runs::wait_for_line(&[&w], ": end b.long (attempt 1, run ");
    assert!(w.log().contains(": cancelled\n"), "{}", w.log());
}

#[test]
fn after_the_coordinator_is_killed_resume_keeps_what_the_workers_finished() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 2, &[]);
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "one"
plugin = "shell"
with = { run = "echo 1 > one" }

[[boards.b.steps]]
name = "two"
plugin = "shell"
with = { run = "sleep 2 && test -f one && echo 2 > two" }

[[boards.b.steps]]
name = "three"
plugin = "shell"
with = { run = "test -f two" }
"#,
    );
    let mut first = start_run(&p, &url);
    crate::cluster_runs::wait_for_line(&[&w], ": start b.two ");
    first.kill().expect("kill -9 the coordinator");
    let _ = first.wait();
    // The worker finishes the step it was running, with no one listening.
    crate::cluster_runs::wait_for_line(&[&w], ": end b.two (attempt 1, run ");
    assert_eq!(w.passed(), ["b.one", "b.two"], "{}", w.log());

    let r = p.run(&["--nats", &url, "--resume"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, w.log());
    assert_eq!(r.step("b.one")["previously_done"], true);
    assert_eq!(r.step("b.two")["previously_done"], true, "{}", r.stderr);
    assert_eq!(r.step("b.three")["previously_done"], false);
    // Nothing finished ran again; three ran in the same workspace, on the same worker.
    assert_eq!(w.passed(), ["b.one", "b.two", "b.three"], "{}", w.log());
}

#[test]
fn a_worker_told_to_stop_finishes_its_step_before_it_leaves() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "slow"
plugin = "shell"
with = { run = "sleep 1 && echo done > out" }
"#,
    );
    let run = start_run(&p, &url);
    crate::cluster_runs::wait_for_line(&[&w], ": start b.slow ");
    w.signal(libc::SIGTERM);
    let (code, report, stderr) = crate::cluster_runs::finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", w.log());
    assert_eq!(report["steps"][0]["attempts"][0]["worker"], "w1");
    crate::cluster_runs::wait_for_line(&[&w], "worker w1 left");
    let log = w.log();
    let (ended, left) = (log.find(": end b.slow ").expect("ended"), log.find("worker w1 left").expect("left"));
    assert!(ended < left, "{log}");
}
