//! The cluster's shared state on a real NATS server (started per test on a
//! loopback port, see `nats_server`): blobs verified by digest, attempt
//! ownership by compare-and-set, signals across connections, and real
//! `baton worker` processes that join, beat, leave and survive a server
//! restart.

use std::process::Command;
use std::time::{Duration, Instant};

use baton_host::cluster::Cluster;
use baton_host::cluster::attempts::{AttemptState, OwnershipError, attempt_key};
use baton_host::cluster::blobs::{BlobError, digest_of};
use baton_host::cluster::queue::AttemptMsg;
use serde_json::Value;

use crate::cluster_runs::WorkerProc;
use crate::harness::baton_bin;
use crate::nats_server::NatsServer;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn a_blob_reads_back_by_digest_and_a_tampered_one_is_refused() {
    let server = NatsServer::start();
    block_on(async {
        let cluster = Cluster::connect(&server.url()).await.expect("connect");
        let bytes: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
        let digest = cluster.blobs.put(&bytes).await.expect("put");
        assert_eq!(digest, digest_of(&bytes));
        assert_eq!(cluster.blobs.get(&digest).await.expect("get"), bytes);

        // The attack: someone with write access stores other bytes under the
        // same name (the server computes its own digest of them, so its check passes).
        let js = async_nats::jetstream::new(cluster.client.clone());
        let store = js.get_object_store(baton_host::cluster::BLOBS_BUCKET).await.expect("bucket");
        store.put(digest.as_str(), &mut &b"evil"[..]).await.expect("overwrite");
        let err = cluster.blobs.get(&digest).await.unwrap_err();
        assert!(matches!(err, BlobError::Tampered { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "blob {digest} was tampered with in the object store: its content hashes to {}; refused (remove it from bucket `baton_blobs` and publish it again)",
                digest_of(b"evil")
            )
        );

        let absent = digest_of(b"never stored");
        let err = cluster.blobs.get(&absent).await.unwrap_err().to_string();
        assert_eq!(err, format!("blob {absent} is not in the cluster's object store (was it published by this run?)"));
    });
}

#[test]
fn a_revoked_attempt_refuses_the_stale_workers_late_result() {
    let server = NatsServer::start();
    block_on(async {
        let a = Cluster::connect(&server.url()).await.expect("connect a");
        let b = Cluster::connect(&server.url()).await.expect("connect b");
        let key = attempt_key("run-1", 4, 1).expect("key");
        let lease_a = a.attempts.claim(&key, "wa").await.expect("wa claims");
        // Only one claim wins.
        let taken = b.attempts.claim(&key, "wb").await.unwrap_err();
        assert!(
            matches!(&taken, OwnershipError::Taken { state: AttemptState::Running { worker }, .. } if worker == "wa")
        );

        // The coordinator declares wa lost: its attempt is revoked.
        let (_, revision) = b.attempts.state(&key).await.expect("state").expect("claimed");
        b.attempts.revoke(&key, revision, "worker lost").await.expect("revoke");
        // wa wakes up and tries to commit its success: refused.
        let late = a.attempts.commit(&lease_a, true).await.unwrap_err();
        assert_eq!(
            late.to_string(),
            "the result of attempt run-1.4.1 by worker wa is refused: the attempt is no longer its own \
             (Some(Revoked { worker: \"wa\", reason: \"worker lost\" }))"
        );
        // The next attempt runs on wb and its result counts.
        let next = attempt_key("run-1", 4, 2).expect("key");
        let lease_b = b.attempts.claim(&next, "wb").await.expect("wb claims");
        b.attempts.commit(&lease_b, true).await.expect("wb commits");
        let (state, _) = a.attempts.state(&next).await.expect("state").expect("ended");
        assert_eq!(
            state,
            AttemptState::Ended { worker: "wb".into(), passed: true, outcome: None, log: None, sig: None }
        );

        // A commit that lands first wins over a revocation based on the older revision.
        let third = attempt_key("run-1", 5, 1).expect("key");
        let lease = a.attempts.claim(&third, "wa").await.expect("claim");
        a.attempts.commit(&lease, false).await.expect("commit");
        let err = b.attempts.revoke(&third, lease.revision, "worker lost").await.unwrap_err();
        assert!(matches!(err, OwnershipError::Changed { .. }), "{err}");
    });
}

#[test]
fn a_signal_raised_on_one_connection_wakes_a_wait_on_another() {
    let server = NatsServer::start();
    block_on(async {
        let a = Cluster::connect(&server.url()).await.expect("connect a");
        let b = Cluster::connect(&server.url()).await.expect("connect b");
        let waiting = tokio::spawn(async move { b.signals.raised("run-2", "built:linux").await });
        assert!(!a.signals.is_raised("run-2", "built:linux").await.expect("read"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "the wait ended before the signal was raised");
        a.signals.raise("run-2", "built:linux", "wa").await.expect("raise");
        tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("woken").expect("task").expect("raised");
        // A wait that starts after the raise ends at once; raising again is harmless.
        a.signals.raise("run-2", "built:linux", "wb").await.expect("raise again");
        a.signals.raised("run-2", "built:linux").await.expect("already raised");
        // Another run's signal of the same name is another signal.
        assert!(!a.signals.is_raised("run-3", "built:linux").await.expect("read"));
    });
}

/// `baton workers --json`: the live workers' heartbeats.
pub fn live_workers(url: &str) -> Vec<Value> {
    let out = Command::new(baton_bin()).args(["workers", "--json", "--nats", url]).output().expect("baton workers");
    assert!(out.status.success(), "baton workers failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).expect("json").as_array().cloned().unwrap_or_default()
}

fn names(workers: &[Value]) -> Vec<String> {
    workers.iter().map(|w| w["name"].as_str().unwrap_or("").to_string()).collect()
}

/// Polls `baton workers` until `want` holds (30 s at most).
pub fn wait_for(url: &str, what: &str, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_for_or(url, what, want, String::new)
}

/// As `wait_for`; `context` tells more when it fails.
fn wait_for_or(url: &str, what: &str, want: impl Fn(&[Value]) -> bool, context: impl Fn() -> String) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = live_workers(url);
        if want(&live) {
            return live;
        }
        assert!(Instant::now() < deadline, "{what}: never happened; live workers: {live:?}\n{}", context());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn workers_join_with_their_labels_leave_on_sigterm_and_drop_out_when_killed() {
    let server = NatsServer::start();
    let url = server.url();
    let mut w1 = WorkerProc::start(&url, "w1", 2, &["os=linux", "gpu=none"]);
    let w2 = WorkerProc::start(&url, "w2", 2, &[]);
    let live = wait_for(&url, "both workers listed", |l| names(l) == ["w1", "w2"]);
    assert_eq!(live[0]["labels"], serde_json::json!({"gpu": "none", "os": "linux"}));
    assert_eq!(live[0]["jobs"], 2);

    // A second worker of the same name is refused while the first one lives.
    let dup = Command::new(baton_bin()).args(["worker", "--nats", &url, "--name", "w1"]).output().expect("dup");
    assert_eq!(dup.status.code(), Some(2));
    // (after the warning that this test server lets anyone in)
    assert_eq!(
        String::from_utf8_lossy(&dup.stderr).trim().lines().last().unwrap_or(""),
        format!("baton: a live worker named `w1` already beats on {url}: choose another --name")
    );

    // SIGTERM: w1 leaves at once and says so.
    w1.signal(libc::SIGTERM);
    let code = w1.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", w1.log());
    assert!(w1.log().contains("worker w1 joined"), "{}", w1.log());
    assert!(w1.log().ends_with("worker w1 left\n"), "{}", w1.log());
    assert_eq!(names(&live_workers(&url)), ["w2"]);

    // SIGKILL: w2 says nothing, its heartbeats stop and it drops out of the list.
    w2.signal(libc::SIGKILL);
    wait_for(&url, "the killed worker dropped out", |l| l.is_empty());
    let out = Command::new(baton_bin()).args(["workers", "--nats", &url]).output().expect("baton workers");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("no live workers on {url} (start one with `baton worker --nats {url}`)")
    );
}

#[test]
fn a_worker_keeps_beating_through_a_server_restart() {
    let mut server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "steady", 2, &[]);
    wait_for(&url, "the worker listed", |l| names(l) == ["steady"]);
    server.restart();
    // The heartbeat written after the restart is younger than the restart.
    let restarted = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let fresh = |l: &[Value]| {
        l.iter().any(|w| w["name"] == "steady" && w["at_ms"].as_u64().is_some_and(|t| u128::from(t) > restarted))
    };
    wait_for_or(&url, "a heartbeat after the restart", fresh, || {
        format!("worker:\n{}\nserver:\n{}", w.log(), server.log())
    });
    assert!(w.log().contains("worker steady joined"), "{}\nserver: {}", w.log(), server.log());
}

#[test]
fn cluster_commands_without_a_server_say_what_to_do() {
    let out = Command::new(baton_bin()).args(["workers"]).env_remove("BATON_NATS").output().expect("baton workers");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "baton: no NATS server given: pass --nats nats://HOST:PORT or set BATON_NATS"
    );
    // A port nobody listens on (bound and released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = Command::new(baton_bin()).args(["workers"]).env("BATON_NATS", &url).output().expect("baton workers");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("baton: cannot reach the NATS server at {url}: ")), "{err}");
    assert!(err.trim_end().ends_with("(start one with `nats-server -js`, or check --nats / BATON_NATS)"), "{err}");
    let bad = Command::new(baton_bin()).args(["worker", "--nats", &url, "--label", "linux"]).output().expect("worker");
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).trim(), "baton: invalid --label `linux`: write KEY=VALUE");
}

#[test]
fn an_attempt_goes_to_one_worker_at_a_time_and_a_lapsed_lease_moves_it_without_a_second_owner() {
    let server = NatsServer::start();
    block_on(async {
        let coordinator = Cluster::connect(&server.url()).await.expect("connect");
        let a = Cluster::connect(&server.url()).await.expect("connect a");
        let b = Cluster::connect(&server.url()).await.expect("connect b");
        let key = attempt_key("run-q", 0, 1).expect("key");
        let msg = AttemptMsg {
            key: key.clone(),
            run: "run-q".into(),
            step: 0,
            attempt: 1,
            board: "L".into(),
            plugin: digest_of(b"plugin"),
            plan: digest_of(b"plan"),
            workspace: "run-q".into(),
            src: None,
        };
        assert!(coordinator.queue.submit(&msg, "pool").await.expect("submit"));
        assert!(!coordinator.queue.submit(&msg, "pool").await.expect("submit again"), "a duplicate was queued twice");

        let lease_wait = Duration::from_secs(2);
        let qa = a.queue.consumer("pool", lease_wait).await.expect("consumer a");
        let qb = b.queue.consumer("pool", lease_wait).await.expect("consumer b");
        let da = qa.next(Duration::from_secs(5)).await.expect("fetch").expect("a gets the attempt");
        assert_eq!((da.msg.clone(), da.delivered), (msg.clone(), 1));
        let lease_a = a.attempts.claim(&key, "wa").await.expect("wa claims");

        // While a reports progress, the message stays with it.
        let renewing = async {
            for _ in 0..15 {
                da.progress().await.expect("progress");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let (_, meanwhile) = tokio::join!(renewing, qb.next(Duration::from_secs(3)));
        assert!(meanwhile.expect("fetch").is_none(), "the attempt was handed to b while a renewed its lease");

        // a goes silent: the message goes to b, but the attempt is still a's.
        let db = qb.next(Duration::from_secs(10)).await.expect("fetch").expect("redelivered to b");
        assert_eq!((db.msg.clone(), db.delivered), (msg.clone(), 2));
        let taken = b.attempts.claim(&key, "wb").await.unwrap_err();
        assert!(matches!(taken, OwnershipError::Taken { .. }), "{taken}");

        // The coordinator declares a lost: b runs attempt 2, a's late result is refused.
        let (_, revision) = coordinator.attempts.state(&key).await.expect("state").expect("claimed");
        coordinator.attempts.revoke(&key, revision, "worker lost").await.expect("revoke");
        db.done().await.expect("b drops the message of attempt 1");
        let retry = AttemptMsg { key: attempt_key("run-q", 0, 2).expect("key"), attempt: 2, ..msg };
        assert!(coordinator.queue.submit(&retry, "pool").await.expect("submit retry"));
        let d2 = qb.next(Duration::from_secs(5)).await.expect("fetch").expect("b gets attempt 2");
        assert_eq!(d2.msg, retry);
        let lease_b = b.attempts.claim(&retry.key, "wb").await.expect("wb claims attempt 2");
        b.attempts.commit(&lease_b, true).await.expect("wb commits");
        d2.done().await.expect("ack");
        assert!(matches!(a.attempts.commit(&lease_a, true).await, Err(OwnershipError::Refused { .. })));
        assert!(qa.next(Duration::from_millis(1500)).await.expect("fetch").is_none(), "the queue is not empty");
    });
}
