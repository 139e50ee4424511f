//! Where boards go on a cluster: `runs_on` labels.

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
