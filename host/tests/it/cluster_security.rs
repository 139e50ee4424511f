//! A cluster attacked by another client of its NATS server (the attacks of
//! issue 20, each with a healthy step beside it): a forged end, forged log
//! lines and asks in a worker's name are refused; secrets are sealed to the
//! claiming worker; a planted object is replaced, not a trap; a worker
//! that accepts only untrusted work never runs trusted steps; and a big
//! artifact streams through worker and coordinator in bounded memory.

use std::time::{Duration, Instant};

use baton_host::cluster::identity::Identity;
use serde_json::json;

use crate::cluster_runs::{WorkerProc, all_logs, finish_run, report_step, start_run, wait_for_line};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn run_id(p: &Pipeline) -> String {
    p.latest_run().and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned())).expect("a run")
}

/// Waits (60 s at most) for `cond`.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_forged_end_log_line_and_ask_are_refused_and_the_deploy_after_the_failing_step_never_runs() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 2, &[]);
    let gate = tempfile::tempdir().expect("gate");
    let (gate_file, deployed) = (gate.path().join("open"), gate.path().join("deployed"));
    let p = Pipeline::new(&format!(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "check"
plugin = "shell"
with = {{ run = "echo checking; while [ ! -e '{gate}' ]; do sleep 0.05; done; exit 1" }}

[[boards.b.steps]]
name = "deploy"
plugin = "shell"
after = ["b.check"]
with = {{ run = "touch '{deployed}'" }}

[[boards.c.steps]]
name = "healthy"
plugin = "shell"
with = {{ run = "echo fine" }}
"#,
        gate = gate_file.display(),
        deployed = deployed.display()
    ));
    let run = start_run(&p, &url);
    wait_for_line(&[&w], ": start b.check ");
    let run = {
        let run_id = run_id(&p);
        let key = format!("{run_id}.0.1");
        block_on(async {
            // The attacker: a client of the server with no baton key.
            let client = async_nats::connect(&url).await.expect("connect");
            let js = async_nats::jetstream::new(client.clone());
            let kv = js.get_key_value("baton_attempts").await.expect("attempts bucket");
            let ended =
                json!({ "state": "ended", "worker": "w1", "passed": true, "outcome": { "outcome": "succeeded" } });
            kv.put(&key, ended.to_string().into()).await.expect("forge the end");
            let event = json!({ "event": "ended", "key": key, "worker": "w1", "outcome": { "outcome": "succeeded" }, "tail": [] });
            client.publish(format!("baton.run.{run_id}.events"), event.to_string().into()).await.expect("event");
            // The same, signed with a key of its own in w1's name.
            let mallory = Identity::generate();
            let signed = mallory.envelope("w1", "baton-event", event.to_string().into_bytes());
            let signed = serde_json::to_vec(&signed).expect("json");
            client.publish(format!("baton.run.{run_id}.events"), signed.into()).await.expect("event");
            let piece = json!({ "key": key, "offset": 0, "text": "FORGED LINE\n" });
            client.publish(format!("baton.run.{run_id}.log"), piece.to_string().into()).await.expect("log");
            // An ask (a signal) in w1's name, unsigned and signed by the wrong key.
            let ask = json!({ "key": key, "ask": { "kind": "emit", "name": "x" } }).to_string();
            let unsigned = client.request(format!("baton.run.{run_id}.ask"), ask.clone().into()).await.expect("ask");
            assert_eq!(
                String::from_utf8_lossy(&unsigned.payload),
                r#"{"answer":"refused","value":"not a signed message"}"#
            );
            let forged = serde_json::to_vec(&mallory.envelope("w1", "baton-ask", ask.into_bytes())).expect("json");
            let forged = client.request(format!("baton.run.{run_id}.ask"), forged.into()).await.expect("ask");
            assert_eq!(
                String::from_utf8_lossy(&forged.payload),
                r#"{"answer":"refused","value":"from worker w1: the signature does not verify with the key pinned for it in this run"}"#
            );
            client.flush().await.expect("flush");
        });
        run
    };
    std::fs::write(&gate_file, "").expect("open the gate");
    let (code, report, stderr) = finish_run(run);
    assert_eq!(code, Some(1), "the forged pass must not pass: {stderr}\n{}", w.log());
    assert!(!deployed.exists(), "deploy ran after a forged pass:\n{stderr}");
    let check = report_step(&report, "b.check");
    assert_eq!(check["status"], "failed", "{report}");
    let error = check["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.ends_with(
            "in the attempts bucket was refused: it is not signed by the key pinned for worker w1 in this run (it carries no signature); someone other than its worker wrote it"
        ),
        "{error}\n{stderr}"
    );
    assert!(stderr.contains("baton: refused "), "{stderr}");
    assert_eq!(report_step(&report, "c.healthy")["status"], "ok", "{report}");
    assert!(!p.log("b.check").contains("FORGED"), "a forged line reached the log:\n{}", p.log("b.check"));
}

#[test]
fn secrets_are_sealed_to_the_claiming_worker_and_refused_to_a_client_in_its_name() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let gate = tempfile::tempdir().expect("gate");
    let gate_file = gate.path().join("open");
    let value = "s3cr3t-sealed-Value-77";
    let p = Pipeline::new(&format!(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "s"
plugin = "shell"
secrets = ["BATON_IT_TOKEN"]
with = {{ run = "case \"$BATON_IT_TOKEN\" in s3cr3t-*-77) ;; *) exit 1 ;; esac; while [ ! -e '{}' ]; do sleep 0.05; done" }}
"#,
        gate_file.display()
    ));
    // Everything on the run's subjects, as a client that sees the traffic.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let sniff_url = url.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        block_on(async move {
            use futures_util::StreamExt;
            let client = async_nats::connect(&sniff_url).await.expect("connect");
            let mut all = client.subscribe(">").await.expect("subscribe");
            client.flush().await.expect("flush");
            let _ = ready_tx.send(());
            while let Some(m) = all.next().await {
                if tx.send(m.payload.to_vec()).is_err() {
                    return;
                }
            }
        })
    });
    ready_rx.recv().expect("sniffer ready");
    // Secrets through a server that lets anyone in: refused unless --insecure.
    let refused = p.baton().args(["run", "--nats", &url]).env("BATON_IT_TOKEN", value).output().expect("run");
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("refusing to run steps with secrets through the NATS server at nats://127.0.0.1:")
            && said.contains("pass --insecure to accept the risk"),
        "{said}"
    );
    let run = p
        .baton()
        .args(["run", "--json", "--insecure", "--nats", &url])
        .env("BATON_IT_TOKEN", value)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start baton run");
    wait_for_line(&[&w], ": start b.s ");
    let run_id = run_id(&p);
    let answers: Vec<String> = block_on(async {
        let client = async_nats::connect(&url).await.expect("connect");
        let mallory = Identity::generate();
        let sealing = baton_host::cluster::identity::SealKey::generate();
        let ask = json!({ "key": format!("{run_id}.0.1"), "worker": "w1", "seal_to": sealing.public_hex() });
        let mut out = Vec::new();
        for payload in [
            ask.to_string().into_bytes(),
            serde_json::to_vec(&mallory.envelope("w1", "baton-secrets", ask.to_string().into_bytes())).unwrap(),
        ] {
            let m = client.request(format!("baton.run.{run_id}.secrets"), payload.into()).await.expect("request");
            out.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
        out
    });
    assert_eq!(
        answers,
        [
            r#"{"refused":"not a signed message"}"#.to_string(),
            r#"{"refused":"from worker w1: the signature does not verify with the key pinned for it in this run"}"#
                .to_string(),
        ]
    );
    std::fs::write(&gate_file, "").expect("open the gate");
    let (code, _report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "the worker got the secret: {stderr}\n{}", w.log());
    // What crossed the server: the sealed answer, never the value.
    let seen: Vec<Vec<u8>> = rx.try_iter().collect();
    let sealed = seen.iter().filter(|m| m.starts_with(br#"{"sealed":"#)).count();
    assert!(sealed >= 1, "no sealed answer crossed the server");
    for m in &seen {
        assert!(!String::from_utf8_lossy(m).contains(value), "the value crossed the server in clear");
        assert!(!String::from_utf8_lossy(m).contains(&hex::encode(value)), "the value crossed the server as hex");
    }
}

#[test]
fn an_object_planted_under_the_pipelines_digest_is_replaced_not_a_trap() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[[boards.b.steps]]
name = "s"
plugin = "probe"
with = { ops = [{ op = "print", text = "hi" }] }
"#,
    );
    let text = std::fs::read(p.file()).expect("pipeline");
    let digest = baton_host::cluster::blobs::digest_of(&text);
    block_on(async {
        // The attacker plants bytes of the right size under the pipeline's name.
        let cluster = baton_host::cluster::Cluster::connect(&url).await.expect("connect");
        let js = async_nats::jetstream::new(cluster.client.clone());
        let store = js.get_object_store(baton_host::cluster::BLOBS_BUCKET).await.expect("bucket");
        let planted = vec![b'x'; text.len()];
        store.put(digest.as_str(), &mut &planted[..]).await.expect("plant");
    });
    for round in 0..2 {
        let (code, report, stderr) = finish_run(start_run(&p, &url));
        assert_eq!(code, Some(0), "round {round}: {stderr}\n{}\n{report}", w.log());
    }
    block_on(async {
        let cluster = baton_host::cluster::Cluster::connect(&url).await.expect("connect");
        assert_eq!(cluster.blobs.get(&digest).await.expect("the real pipeline"), text);
    });
}

#[test]
fn untrusted_steps_run_only_on_the_untrusted_worker_and_trusted_ones_only_on_the_trusted_one() {
    let server = NatsServer::start();
    let url = server.url();
    let wu = WorkerProc::start_args(&url, "wu", 2, &["--accept", "untrusted"]);
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[[boards.u1.steps]]
name = "s"
plugin = "probe"
trust = "untrusted"
with = { ops = [{ op = "print", text = "hi" }] }
[[boards.u2.steps]]
name = "s"
plugin = "probe"
trust = "untrusted"
with = { ops = [{ op = "print", text = "hi" }] }
[[boards.t1.steps]]
name = "s"
plugin = "probe"
with = { ops = [{ op = "print", text = "hi" }] }
[[boards.t2.steps]]
name = "s"
plugin = "probe"
with = { ops = [{ op = "print", text = "hi" }] }
"#,
    );
    let err_file = tempfile::NamedTempFile::new().expect("stderr file");
    let mut run = p
        .baton()
        .args(["run", "--json", "--nats", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(err_file.reopen().expect("stderr"))
        .spawn()
        .expect("start baton run");
    let stderr = || std::fs::read_to_string(err_file.path()).unwrap_or_default();
    // Only an untrusted worker is live: the trusted boards wait, and say why.
    let waits =
        "has trusted steps and waits for a worker that accepts them: the live workers do not (wu (--accept untrusted))";
    wait_until("the trusted boards to say why they wait", || stderr().contains(waits));
    wait_until("the untrusted boards to pass on wu", || wu.passed().len() == 2);
    let wt = WorkerProc::start_args(&url, "wt", 2, &["--accept", "trusted"]);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut run.stdout.take().expect("stdout"), &mut out).expect("report");
    let code = run.wait().expect("wait").code();
    let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(code, Some(0), "{}\n{}", stderr(), all_logs(&[&wu, &wt]));
    let mut on_u = wu.passed();
    on_u.sort();
    let mut on_t = wt.passed();
    on_t.sort();
    assert_eq!(on_u, ["u1.s", "u2.s"], "{}", all_logs(&[&wu, &wt]));
    assert_eq!(on_t, ["t1.s", "t2.s"], "{}", all_logs(&[&wu, &wt]));
    for (id, worker) in [("u1.s", "wu"), ("u2.s", "wu"), ("t1.s", "wt"), ("t2.s", "wt")] {
        assert_eq!(report_step(&report, id)["attempts"][0]["worker"], worker, "{report}");
    }
}

/// The peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

#[test]
fn a_300mb_artifact_streams_through_worker_and_coordinator_in_bounded_memory() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let gate = tempfile::tempdir().expect("gate");
    let gate_file = gate.path().join("open");
    let p = Pipeline::new(&format!(
        r#"
[policy]
spawn = ["sh", "truncate"]

[[boards.b.steps]]
name = "big"
plugin = "shell"
with = {{ run = "truncate -s 300M big.bin", publish = ["big.bin"] }}

[[boards.b.steps]]
name = "hold"
plugin = "shell"
after = ["b.big"]
with = {{ run = "while [ ! -e '{}' ]; do sleep 0.05; done" }}
"#,
        gate_file.display()
    ));
    let run = start_run(&p, &url);
    let coordinator = run.id();
    // The publish is answered once the coordinator holds the blob: by then
    // both sides have moved all 300 MB.
    wait_for_line(&[&w], ": start b.hold ");
    let (worker_peak, coordinator_peak) = (peak_rss(w.pid()), peak_rss(coordinator));
    std::fs::write(&gate_file, "").expect("open the gate");
    let (code, report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}\n{report}", w.log());
    assert_eq!(report_step(&report, "b.big")["artifacts"][0], "b.big/big.bin", "{report}");
    eprintln!("peak RSS: worker {} MiB, coordinator {} MiB", worker_peak >> 20, coordinator_peak >> 20);
    // Held whole, either would be over 300 MiB.
    assert!(worker_peak < 200 << 20, "the worker peaked at {} MiB", worker_peak >> 20);
    assert!(coordinator_peak < 200 << 20, "the coordinator peaked at {} MiB", coordinator_peak >> 20);
}
