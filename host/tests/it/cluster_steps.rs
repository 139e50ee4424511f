//! What a step running on a worker sees, as it would locally: its secrets
//! (masked everywhere, never stored on the server), the project at `/src`,
//! its log as it runs.

use crate::cluster_runs::{WorkerProc, finish_run, report_step};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;
use crate::secrets::{LEAKY, VALUE, files_containing};

/// A NATS server (kept alive by the first value), its URL and one worker
/// `w1` with one job.
fn one_worker() -> (NatsServer, String, WorkerProc) {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    (server, url, w)
}

/// A pipeline of probe `steps` that may run `sh`, in a project holding
/// `data/hello.txt` ("from the project").
fn project_pipeline(steps: &str) -> Pipeline {
    let p = Pipeline::new(&format!("[plugins]\nprobe = \"{{probe}}\"\n\n[policy]\nspawn = [\"sh\"]\n{steps}"));
    std::fs::create_dir(p.dir().join("data")).expect("mkdir");
    std::fs::write(p.dir().join("data/hello.txt"), "from the project").expect("write");
    p
}

#[test]
fn a_secret_reaches_the_step_on_a_worker_and_no_file_output_or_server_store() {
    let (server, url, w) = one_worker();
    // The pipeline travels to the workers through the server: it checks the
    // value without spelling it.
    let check = r#"test \"$BATON_IT_TOKEN\" = s3cr3t-Value-42"#;
    assert!(LEAKY.contains(check));
    let p = Pipeline::new(&LEAKY.replace(check, r#"case \"$BATON_IT_TOKEN\" in s3cr3t-*-42) ;; *) exit 1 ;; esac"#));
    let run = p
        .baton()
        .args(["run", "--json", "--insecure", "--nats", &url])
        .env("BATON_IT_TOKEN", VALUE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start baton run");
    let (code, report, stderr) = finish_run(run);
    // The first op checks that the process had the value; the last fails
    // on purpose, with the value in its error: masked, the rest kept.
    assert_eq!(code, Some(1), "{stderr}\n{}", w.log());
    let step = report_step(&report, "b.leaky");
    assert_eq!(step["attempts"][0]["worker"], "w1");
    assert_eq!(step["error"], "sh: expected stdout `something else`, got `***`", "{stderr}\n{}", w.log());
    let log = p.log("b.leaky");
    for line in ["token is ***", "stderr has *** too", "split: *** end", "info | sh said: ***"] {
        assert!(log.lines().any(|l| l.ends_with(line)), "the line stays, the value is masked: {line:?} in\n{log}");
    }
    for (what, text) in [("the run's output", format!("{report}{stderr}")), ("the worker's output", w.log())] {
        assert!(!text.contains(VALUE), "{what} shows the secret:\n{text}");
    }
    for dir in [p.dir().join(".baton"), w.dir(), server.store_dir()] {
        let leaks = files_containing(&dir, VALUE.as_bytes());
        let around: Vec<String> = leaks
            .iter()
            .map(|f| {
                let b = std::fs::read(f).unwrap_or_default();
                let at = b.windows(VALUE.len()).position(|w| w == VALUE.as_bytes()).unwrap_or(0);
                String::from_utf8_lossy(&b[at.saturating_sub(300)..(at + 100).min(b.len())]).into_owned()
            })
            .collect();
        assert!(leaks.is_empty(), "files holding the secret: {leaks:?}\n{around:?}");
    }
    // The scans read something: the worker's step log and the server's streams.
    assert!(w.dir().join("runs").exists() && server.store_dir().join("jetstream").exists());
}

#[test]
fn a_step_on_a_worker_reads_the_project_at_src_and_its_processes_at_baton_src_without_baton() {
    let (_server, url, w) = one_worker();
    let p = project_pipeline(
        r#"
[[boards.b.steps]]
name = "guest"
plugin = "probe"
with = { ops = [
  { op = "read", path = "/src/data/hello.txt", expect = "from the project" },
  { op = "ls", path = "/src", expect = ["baton.toml", "data", "link"] },
  { op = "read", path = "/src/link", expect = "from the project" },
  { op = "missing", path = "/src/.baton" },
] }

[[boards.b.steps]]
name = "process"
plugin = "probe"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "cat \"$BATON_SRC/data/hello.txt\"; test ! -e \"$BATON_SRC/.baton\" && echo ' and no state'"], expect_stdout = "from the project and no state\n" },
] }
"#,
    );
    std::os::unix::fs::symlink("data/hello.txt", p.dir().join("link")).expect("symlink");
    let (code, report, stderr) = finish_run(crate::cluster_runs::start_run(&p, &url));
    assert_eq!(code, Some(0), "{stderr}\n{}\n{report}", w.log());
    for id in ["b.guest", "b.process"] {
        assert_eq!(report_step(&report, id)["attempts"][0]["worker"], "w1");
    }
    // One copy of the project on the worker, for both steps, read-only.
    let copies: Vec<_> = std::fs::read_dir(w.dir().join("src")).expect("src copies").flatten().collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let file = copies[0].path().join("data/hello.txt");
    assert!(std::fs::metadata(&file).expect("copy").permissions().readonly(), "{}", file.display());
}

/// A trusted step's process (root, here) writes into the worker's shared
/// copy of the project; the next run of the same project on that worker
/// sees the project as it is, not what the earlier run did to the copy.
#[test]
fn a_run_never_sees_what_an_earlier_runs_step_did_to_src_on_a_worker() {
    let (_server, url, w) = one_worker();
    let p = project_pipeline(
        r#"
[[boards.b.steps]]
name = "reads"
plugin = "probe"
with = { ops = [
  { op = "read", path = "/src/data/hello.txt", expect = "from the project" },
  { op = "run", program = "sh", args = ["-c", "chmod -R u+w $BATON_SRC 2>/dev/null; echo tampered > $BATON_SRC/data/hello.txt"] },
] }
"#,
    );
    for run in 1..=2 {
        let (code, report, stderr) = finish_run(crate::cluster_runs::start_run(&p, &url));
        assert_eq!(code, Some(0), "run {run}: {stderr}\n{}\n{report}", w.log());
        assert_eq!(report_step(&report, "b.reads")["attempts"][0]["worker"], "w1");
    }
    assert!(w.log().contains("was changed by a step; unpacking it again"), "{}", w.log());
    assert_eq!(std::fs::read_to_string(p.dir().join("data/hello.txt")).expect("project"), "from the project");
}

#[test]
fn baton_logs_shows_a_worker_steps_line_while_the_step_still_runs() {
    let (_server, url, w) = one_worker();
    // The step prints, then waits until the test opens its gate.
    let gate = tempfile::tempdir().expect("gate dir");
    let gate_file = gate.path().join("open");
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"

[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "s"
plugin = "probe"
with = {{ ops = [
  {{ op = "print", text = "hello from the worker\n" }},
  {{ op = "run", program = "sh", args = ["-c", "while [ ! -e '{}' ]; do sleep 0.05; done; echo gate opened"] }},
] }}
"#,
        gate_file.display()
    ));
    let run = crate::cluster_runs::start_run(&p, &url);
    let logs = || {
        let out = p.baton().args(["logs", "b.s"]).output().expect("baton logs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !logs().contains("hello from the worker") {
        assert!(std::time::Instant::now() < deadline, "the line never reached the run:\n{}", w.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Seen while the step still runs: it cannot end before the gate opens.
    assert!(!gate_file.exists() && !w.log().contains(": end b.s "), "{}", w.log());
    std::fs::write(&gate_file, "").expect("open the gate");
    let (code, _report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", w.log());
    // The whole log, in order, each line once.
    let log = p.log("b.s");
    let lines: Vec<&str> = log.lines().filter_map(|l| l.split_once(" | ").map(|(_, t)| t)).collect();
    let hello = lines.iter().filter(|l| **l == "hello from the worker").count();
    let opened = lines.iter().position(|l| *l == "gate opened");
    assert_eq!(hello, 1, "{log}");
    assert!(opened > lines.iter().position(|l| *l == "hello from the worker"), "{log}");
}

#[test]
fn the_coordinator_gives_secrets_only_to_the_worker_that_claimed_the_attempt() {
    let (_server, url, w) = one_worker();
    let gate = tempfile::tempdir().expect("gate dir");
    let gate_file = gate.path().join("open");
    let p = Pipeline::new(&format!(
        r#"
[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "s"
plugin = "shell"
secrets = ["BATON_IT_TOKEN"]
with = {{ run = "while [ ! -e '{}' ]; do sleep 0.05; done" }}
"#,
        gate_file.display()
    ));
    let run = p
        .baton()
        .args(["run", "--json", "--insecure", "--nats", &url])
        .env("BATON_IT_TOKEN", VALUE)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start baton run");
    crate::cluster_runs::wait_for_line(&[&w], ": start b.s ");
    let run_id = p.latest_run().and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned())).expect("run");
    // The attack: another client of the server asks for the running
    // attempt's secrets in another worker's name, and for an attempt that
    // does not exist.
    let answers: Vec<String> =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(async {
            let client = async_nats::connect(&url).await.expect("connect");
            let mut out = Vec::new();
            for (key, worker) in [(format!("{run_id}.0.1"), "mallory"), (format!("{run_id}.7.1"), "w1")] {
                let ask = serde_json::json!({ "key": key, "worker": worker }).to_string();
                let m = client.request(format!("baton.run.{run_id}.secrets"), ask.into()).await.expect("request");
                out.push(String::from_utf8_lossy(&m.payload).into_owned());
            }
            out
        });
    // Asks are believed only signed by the claiming worker's key (see
    // cluster_security for asks signed with another key).
    assert_eq!(answers, [r#"{"refused":"not a signed message"}"#, r#"{"refused":"not a signed message"}"#]);
    std::fs::write(&gate_file, "").expect("open the gate");
    let (code, _report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", w.log());
}

/// A recursion 30,000 deep overflows a 1MiB wasm stack (a worker's
/// default engine) and fits in 2MiB; 10,000 deep overflows 256KiB and fits
/// in 1MiB (measured locally with the probe's `recurse`).
#[test]
fn a_worker_runs_steps_with_the_pipelines_wasm_stack() {
    let (_server, url, w) = one_worker();
    for (stack, depth, expect) in
        [("2MiB", 30_000, None), ("256KiB", 10_000, Some("stack limit 256KiB exceeded (wasm stack overflow)"))]
    {
        let p = Pipeline::new(&format!(
            r#"
[policy]
stack = "{stack}"
[plugins]
probe = "{{probe}}"
[[boards.h.steps]]
name = "deep"
plugin = "probe"
with = {{ ops = [{{ op = "recurse", depth = {depth} }}] }}
"#
        ));
        let (code, report, stderr) = finish_run(crate::cluster_runs::start_run(&p, &url));
        let step = report_step(&report, "h.deep");
        assert_eq!(step["attempts"][0]["worker"], "w1", "{stack}: {stderr}\n{}\n{report}", w.log());
        match expect {
            None => assert_eq!(code, Some(0), "{stack}: {stderr}\n{}\n{report}", w.log()),
            Some(error) => {
                assert_eq!(code, Some(1), "{stack}: {report}");
                assert_eq!(step["error"], error, "{report}");
            }
        }
    }
}

/// Without `BATON_CACHE_DIR`, a worker keeps what it compiles in its own
/// `--dir`, not in the user's cache.
#[test]
fn a_worker_compiles_plugins_into_its_own_dir() {
    let server = NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start_with(&url, "w1", 1, &[], false);
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
    let (code, report, stderr) = finish_run(crate::cluster_runs::start_run(&p, &url));
    assert_eq!(code, Some(0), "{stderr}\n{}\n{report}", w.log());
    let compiled = std::fs::read_dir(w.dir().join("compiled")).map(|d| d.count()).unwrap_or(0);
    assert!(compiled > 0, "nothing compiled under {}:\n{}", w.dir().display(), w.log());
}
