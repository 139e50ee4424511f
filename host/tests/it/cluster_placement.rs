//! Where boards go on a cluster (`runs_on` labels), and what a cluster run
//! survives or refuses: a server restart, cancellation, a killed
//! coordinator, a worker told to stop, forged messages, tampered plugins.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster_runs::{WorkerProc, all_logs, finish_run, report_step, start_run};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

/// One board of three steps, the middle one long enough to be caught
/// running; each step checks that the one before it left its file.
const THREE_STEPS: &str = r#"[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "one"
plugin = "shell"
with = { run = "echo 1 > one" }

[[boards.b.steps]]
name = "two"
plugin = "shell"
with = { run = "sleep 4 && test -f one && echo 2 > two" }

[[boards.b.steps]]
name = "three"
plugin = "shell"
with = { run = "test -f two" }
"#;

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
    let p = Pipeline::new(&format!("[pipeline]\nname = \"restart\"\n\n{THREE_STEPS}"));
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
    let p = Pipeline::new(THREE_STEPS);
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
with = { run = "sleep 4 && echo done-on-the-worker" }
"#,
    );
    let run = start_run(&p, &url);
    crate::cluster_runs::wait_for_line(&[&w], ": start b.slow ");
    // `baton workers` lists what it runs.
    let running = |l: &[serde_json::Value]| l.first().is_some_and(|w| w["running"] == serde_json::json!(["b.slow"]));
    crate::cluster::wait_for(&url, "listed as running b.slow", running);
    w.signal(libc::SIGTERM);
    let (code, report, stderr) = crate::cluster_runs::finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", w.log());
    assert_eq!(report["steps"][0]["attempts"][0]["worker"], "w1");
    crate::cluster_runs::wait_for_line(&[&w], "worker w1 left");
    let log = w.log();
    let (ended, left) = (log.find(": end b.slow ").expect("ended"), log.find("worker w1 left").expect("left"));
    assert!(ended < left, "{log}");
    // The step's log came back with its end: the coordinator's run has it.
    assert!(p.log("b.slow").contains("done-on-the-worker"), "{}", p.log("b.slow"));
}

#[test]
fn a_worker_refuses_a_forged_attempt_whose_run_id_would_leave_its_directory() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    crate::cluster_runs::wait_for_line(&[&w], "worker w1 joined");
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let cluster = baton_host::cluster::Cluster::connect(&url).await.expect("connect");
        let digest = baton_host::cluster::blobs::digest_of(b"x");
        let msg = baton_host::cluster::queue::AttemptMsg {
            key: "forged.0.1".into(),
            run: "../../etc".into(),
            step: 0,
            attempt: 1,
            board: "../b".into(),
            plugin: digest.clone(),
            plan: digest,
            workspace: "../../etc".into(),
            src: None,
        };
        cluster.queue.submit(&msg, "w1").await.expect("submit");
    });
    crate::cluster_runs::wait_for_line(&[&w], "worker w1: refusing attempt forged.0.1: invalid run id");
    assert!(!w.log().contains(": start "), "{}", w.log());
}

#[test]
fn a_plugin_planted_under_its_digest_is_replaced_and_the_run_passes() {
    let server = NatsServer::start();
    let url = server.url();
    // The attack: before the run, someone with write access to the bucket
    // stores other bytes of the same size under the shell plugin's digest
    // (so the coordinator takes it for the plugin it was about to upload).
    let real = baton_host::plan::bundled::bytes("shell").expect("bundled shell");
    let digest = baton_host::cluster::blobs::digest_of(real);
    let mut evil = real.to_vec();
    let mid = evil.len() / 2;
    evil[mid] ^= 0xff;
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let cluster = baton_host::cluster::Cluster::connect(&url).await.expect("connect");
        let js = async_nats::jetstream::new(cluster.client.clone());
        let store = js.get_object_store(baton_host::cluster::BLOBS_BUCKET).await.expect("bucket");
        store.put(digest.as_str(), &mut &evil[..]).await.expect("plant");
    });
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let p = Pipeline::new(
        r#"
[pipeline]
name = "tampered"

[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "s"
plugin = "shell"
with = { run = "true" }
"#,
    );
    // The coordinator's put checks the stored bytes, not their size: the
    // planted plugin is replaced, not an availability trap (reading a
    // tampered blob is refused: see cluster.rs).
    let (code, report, stderr) = finish_run(start_run(&p, &url));
    assert_eq!(code, Some(0), "{stderr}\n{}\n{report}", w.log());
    assert_eq!(w.passed(), ["b.s"], "{}", w.log());
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
        let cluster = baton_host::cluster::Cluster::connect(&url).await.expect("connect");
        assert_eq!(cluster.blobs.get(&digest).await.expect("the real plugin"), real);
    });
}

#[test]
fn a_step_on_a_worker_is_held_to_its_policy_as_locally() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    // No [policy] spawn: the shell may not start `sh`, on a worker as here.
    let p = Pipeline::new("[[boards.b.steps]]\nname = \"s\"\nplugin = \"shell\"\nwith = { run = \"true\" }\n");
    let (code, report, stderr) = finish_run(start_run(&p, &url));
    assert_eq!(code, Some(1), "{stderr}\n{}", w.log());
    let step = report_step(&report, "b.s");
    assert_eq!(step["attempts"][0]["worker"], "w1");
    assert_eq!(
        step["error"],
        "denied: program `sh` is not in the spawn allow-list of step b.s (allowed: none); to allow it, add it to [policy] spawn and to the step's `spawn` if it sets one"
    );
}
