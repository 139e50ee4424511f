//! A cluster on a NATS server configured as docs/cluster.md says: TLS with
//! a private CA, separate users for coordinators and workers. A run with
//! secrets passes without `--insecure` or a warning; a client without
//! credentials is kept out; one with a worker's credentials cannot submit
//! attempts.

use std::time::Duration;

use crate::cluster_runs::{WorkerProc, finish_run, report_step};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn an_authenticated_tls_cluster_runs_secrets_and_keeps_rogue_clients_out() {
    let server = NatsServer::start_secure();
    let url = server.tls_url();
    let ca = server.ca().display().to_string();
    let w = WorkerProc::start_env(
        &url,
        "w1",
        1,
        &[],
        &[("BATON_NATS_CA", &ca), ("BATON_NATS_USER", "worker"), ("BATON_NATS_PASSWORD", "worker-pw")],
    );
    let value = "s3cr3t-tls-Value-99";
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "s"
plugin = "shell"
secrets = ["BATON_IT_TOKEN"]
with = { run = "case \"$BATON_IT_TOKEN\" in s3cr3t-*-99) echo ok ;; *) exit 1 ;; esac" }
"#,
    );
    let run = p
        .baton()
        .args(["run", "--json", "--nats", &url, "--nats-ca", &ca])
        .env("BATON_IT_TOKEN", value)
        .env("BATON_NATS_USER", "coordinator")
        .env("BATON_NATS_PASSWORD", "coordinator-pw")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start baton run");
    let (code, report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", w.log());
    assert_eq!(report_step(&report, "b.s")["attempts"][0]["worker"], "w1", "{report}");
    assert!(!stderr.contains("warning"), "an authenticated TLS server needs no warning:\n{stderr}");

    // No credentials: refused by the server.
    let out = p.baton().args(["workers", "--nats", &url, "--nats-ca", &ca]).output().expect("workers");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("cannot reach the NATS server at tls://localhost:"), "{said}");
    let refused = block_on(async {
        let options = async_nats::ConnectOptions::new().add_root_certificates(server.ca()).require_tls(true);
        tokio::time::timeout(Duration::from_secs(10), options.connect(&url)).await
    });
    assert!(!matches!(refused, Ok(Ok(_))), "a client without credentials got in");

    // A worker's credentials: cannot submit attempts or listen for secrets' requests.
    block_on(async {
        let options = async_nats::ConnectOptions::new()
            .add_root_certificates(server.ca())
            .require_tls(true)
            .user_and_password("worker".into(), "worker-pw".into());
        let client = options.connect(&url).await.expect("a worker's credentials connect");
        let js = async_nats::jetstream::new(client.clone());
        let submitted = async {
            let ack = js.publish("baton.attempts.w1", "{}".into()).await?;
            ack.await.map(|_| ()).map_err(|e| e.into())
        };
        let submitted: Result<(), Box<dyn std::error::Error + Send + Sync>> =
            tokio::time::timeout(Duration::from_secs(10), submitted).await.unwrap_or(Err("no ack".into()));
        assert!(submitted.is_err(), "a worker submitted an attempt");
        let sub = client.subscribe("baton.run.*.secrets").await;
        // The server refuses the subscription (asynchronously): nothing arrives.
        if let Ok(mut sub) = sub {
            use futures_util::StreamExt;
            let coordinator = async_nats::ConnectOptions::new()
                .add_root_certificates(server.ca())
                .require_tls(true)
                .user_and_password("coordinator".into(), "coordinator-pw".into())
                .connect(&url)
                .await
                .expect("coordinator connects");
            tokio::time::sleep(Duration::from_millis(500)).await;
            coordinator.publish("baton.run.x.secrets", "probe".into()).await.expect("publish");
            coordinator.flush().await.expect("flush");
            let got = tokio::time::timeout(Duration::from_secs(2), sub.next()).await;
            assert!(!matches!(got, Ok(Some(_))), "a worker's credentials listened in the coordinator's place");
        }
    });
}
