//! A worker whose step waits for a coordinator that does not answer gives
//! the step up instead of holding its job slot for ever: after
//! `--give-up-after`, or at once when it is told to stop. The attempt is
//! marked given up, so its result never counts, and the step runs again:
//! in the run that resumes, or in the same run once its coordinator answers.

use std::time::{Duration, Instant};

use crate::cluster_coordinator::slow_publish;
use crate::cluster_runs::{WorkerProc, all_logs, finish_run, start_run, wait_for_line};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

/// Starts `p` on the workers and kills its coordinator (`kill -9`) once
/// `a.slow` waits for it; returns the run's id.
fn kill_the_coordinator_while_a_slow_waits(p: &Pipeline, url: &str, workers: &[&WorkerProc]) -> String {
    let mut first = start_run(p, url);
    wait_for_line(workers, ": start a.slow ");
    first.kill().expect("kill -9 the coordinator");
    let _ = first.wait();
    p.latest_run().and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned())).expect("a run")
}

/// The resumed run ran `a.slow` once more, and it passed on `worker`.
fn resume_runs_a_slow_again_on(p: &Pipeline, url: &str, worker: &WorkerProc, workers: &[&WorkerProc]) {
    let r = p.run(&["--nats", url, "--resume"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, all_logs(workers));
    assert!(!r.stderr.contains("taken over"), "a given-up attempt was taken over:\n{}", r.stderr);
    let attempts = r.step("a.slow")["attempts"].as_array().expect("attempts").clone();
    assert_eq!(attempts.len(), 1, "{attempts:?}\n{}", r.stderr);
    assert_eq!((&attempts[0]["status"], &attempts[0]["worker"]), (&"ok".into(), &worker.name.as_str().into()));
    assert_eq!(r.step("a.slow")["artifacts"], serde_json::json!(["a.slow/out.txt"]));
    assert_eq!(worker.passed(), ["a.slow"], "{}", all_logs(workers));
}

#[test]
fn a_worker_gives_up_a_step_whose_coordinator_stays_away_and_its_slot_runs_the_resumed_step() {
    let server = NatsServer::start();
    let url = server.url();
    // One job: the resumed step can only run once the given-up one let go of it.
    let w = WorkerProc::start_args(&url, "w1", 1, &["--give-up-after", "2s"]);
    let p = Pipeline::new(&slow_publish(3000));
    let run = kill_the_coordinator_while_a_slow_waits(&p, &url, &[&w]);

    wait_for_line(&[&w], "worker w1: gave up a.slow");
    wait_for_line(&[&w], "worker w1: a.slow (attempt 1) was given up: its end is not committed");
    let log = w.step_log(&run, "a.slow");
    let (waited, gave_up) = (log.find("waiting for the coordinator"), log.find("no coordinator answered for 2s"));
    assert!(waited.is_some() && gave_up.is_some() && waited < gave_up, "{log}");
    assert!(!w.log().contains(": end a.slow"), "{}", w.log());
    // The worker lives on, and its heartbeat soon lists nothing running.
    let idle = |l: &[serde_json::Value]| l.iter().any(|b| b["name"] == "w1" && b["running"] == serde_json::json!([]));
    crate::cluster::wait_for(&url, "w1 beats with nothing running", idle);

    resume_runs_a_slow_again_on(&p, &url, &w, &[&w]);
}

#[test]
fn a_worker_told_to_stop_hands_back_a_step_that_waits_for_a_dead_coordinator() {
    let server = NatsServer::start();
    let url = server.url();
    // The default --give-up-after (an hour): only the stop ends the wait.
    let mut w1 = WorkerProc::start(&url, "w1", 2, &[]);
    let p = Pipeline::new(&slow_publish(3000));
    let run = kill_the_coordinator_while_a_slow_waits(&p, &url, &[&w1]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !w1.step_log(&run, "a.slow").contains("waiting for the coordinator") {
        assert!(Instant::now() < deadline, "a.slow never waited:\n{}", w1.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(w1.step_log(&run, "a.slow").contains("this worker gives it up after 1h"));

    w1.signal(libc::SIGTERM);
    let code = w1.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", w1.log());
    let log = w1.log();
    assert!(
        log.contains("worker w1: gave up a.slow")
            && log.contains("the worker was told to stop while no coordinator answered"),
        "{log}"
    );
    assert!(log.ends_with("worker w1 left\n"), "{log}");

    let w2 = WorkerProc::start(&url, "w2", 2, &[]);
    resume_runs_a_slow_again_on(&p, &url, &w2, &[&w1, &w2]);
}

#[test]
fn a_step_given_up_under_a_stopped_coordinator_ends_as_lost_and_runs_again_when_it_wakes() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start_args(&url, "w1", 2, &["--give-up-after", "2s"]);
    let p = Pipeline::new(&slow_publish(3000));
    let first = start_run(&p, &url);
    wait_for_line(&[&w], ": start a.slow ");
    // SAFETY: kill(2) on the pid of our own child, not reaped yet.
    unsafe { libc::kill(first.id() as i32, libc::SIGSTOP) };
    wait_for_line(&[&w], "worker w1: a.slow (attempt 1) was given up: its end is not committed");
    // SAFETY: as above.
    unsafe { libc::kill(first.id() as i32, libc::SIGCONT) };

    let (code, report, stderr) = finish_run(first);
    assert_eq!(code, Some(0), "{stderr}\n{}", w.log());
    let step = report["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == "a.slow")).expect("a.slow");
    let attempts = step["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{step}");
    assert_eq!((&attempts[0]["status"], &attempts[0]["kind"]), (&"failed".into(), &"lost".into()), "{step}");
    assert_eq!(attempts[0]["error"], "worker lost: w1 gave this attempt up (no coordinator answered for 2s)", "{step}");
    assert_eq!((&attempts[1]["status"], &attempts[1]["worker"]), (&"ok".into(), &"w1".into()), "{step}");
    assert_eq!(w.passed(), ["a.slow"], "{}", w.log());
}
