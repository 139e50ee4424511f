//! A registry plugin on workers: the coordinator resolves and caches it, and
//! a worker gets it by digest through the cluster, so the registry need not
//! be reachable from workers (here it is stopped before the run).

use baton_test_artifacts::PROBE;

use crate::cluster_runs::WorkerProc;
use crate::harness::{Pipeline, Run};
use crate::nats_server::NatsServer;
use crate::registry::{baton, text};
use crate::registry_server::{Registry, oras};

#[test]
fn a_worker_runs_a_registry_plugin_it_gets_by_digest_from_the_coordinator() {
    let mut registry = Registry::start();
    let tag = format!("{}/acme/probe:3.0.0", registry.host());
    oras(&["push", &tag, PROBE, "application/wasm"], None);
    let p = Pipeline::new(&format!(
        r#"
[plugins]
stage = "oci://{tag}"

[[boards.b.steps]]
name = "s"
plugin = "stage"
with = {{ ops = [{{ op = "write", path = "out.txt", text = "from the registry" }}] }}
"#
    ));
    // The coordinator's machine locks the reference and fills its cache.
    let out = baton(&p, &["lock"]).output().expect("lock");
    assert!(out.status.success(), "{}", text(&out));
    let out = baton(&p, &["plugin", "pull", &format!("oci://{tag}")]).output().expect("pull");
    assert!(out.status.success(), "{}", text(&out));
    registry.stop();

    let server = NatsServer::start();
    let url = server.url();
    let worker = WorkerProc::start(&url, "w1", 1, &[]);
    let out = baton(&p, &["run", "--json", "--locked", "--offline", "--nats", &url]).output().expect("run");
    let r = Run::from_output(out);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, worker.log());
    assert_eq!(worker.passed(), ["b.s"], "{}", worker.log());
    assert_eq!(r.step("b.s")["attempts"][0]["worker"], "w1");
    let run_id = r.report["run_id"].as_str().expect("run id").to_string();
    let made = std::fs::read_to_string(worker.workspace(&run_id, "b").join("out.txt")).expect("the step ran there");
    assert_eq!(made, "from the registry");
}
