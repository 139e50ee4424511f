//! The scheduler's rules hold across workers: a pool is one pool for the
//! whole cluster, steps on two workers waiting on each other fail with the
//! cycle named, and a replay on a new worker that publishes different bytes
//! than the first time is reported (stderr, the JSON, text and HTML reports).

use std::io::Read;

use serde_json::Value;

use crate::cluster_runs::{WorkerProc, all_logs, finish_run, start_run, wait_for_line};
use crate::harness::Pipeline;
use crate::nats_server::NatsServer;

/// Two workers, each with a label its own board requires.
fn two_boxes(url: &str) -> (WorkerProc, WorkerProc) {
    (WorkerProc::start(url, "w1", 2, &["box=one"]), WorkerProc::start(url, "w2", 2, &["box=two"]))
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == id)).unwrap_or_else(|| panic!("no {id}"))
}

#[test]
fn a_pool_of_one_is_one_slot_for_the_whole_cluster() {
    let server = NatsServer::start();
    let url = server.url();
    let (w1, w2) = two_boxes(&url);
    // Boards `a` and `b`, one per worker, each with a step in the pool.
    let board = |name: &str, on: &str| {
        format!(
            "[boards.{name}]\nruns_on = {{ box = \"{on}\" }}\n\n[[boards.{name}.steps]]\nname = \"train\"\n\
             plugin = \"probe\"\npool = \"gpu\"\nwith = {{ ops = [{{ op = \"sleep\", ms = 700 }}] }}\n"
        )
    };
    let head = "[pipeline]\njobs = 4\n\n[plugins]\nprobe = \"{probe}\"\n\n[pools]\ngpu = 1\n";
    let p = Pipeline::new(&format!("{head}\n{}\n{}", board("a", "one"), board("b", "two")));
    let r = p.run(&["--nats", &url]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, all_logs(&[&w1, &w2]));
    let attempt = |id: &str| r.step(id)["attempts"][0].clone();
    let (a, b) = (attempt("a.train"), attempt("b.train"));
    assert_eq!((&a["worker"], &b["worker"]), (&"w1".into(), &"w2".into()));
    // One after the other, though on two machines with free job slots: the
    // second waited in the queue for the pool.
    let (first, second) = if a["start"].as_f64() < b["start"].as_f64() { (a, b) } else { (b, a) };
    let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert!(num(&first, "end") <= num(&second, "start"), "the pool was shared: {first} {second}");
    assert!(num(&second, "queued") < num(&first, "end"), "{first} {second}");
    assert_eq!(w1.passed(), ["a.train"]);
    assert_eq!(w2.passed(), ["b.train"]);
}

#[test]
fn steps_on_two_workers_waiting_on_each_other_fail_with_the_cycle_and_the_rest_goes_on() {
    let server = NatsServer::start();
    let url = server.url();
    let (w1, w2) = two_boxes(&url);
    let p = Pipeline::new(&format!(
        r#"
[pipeline]
jobs = 3

[plugins]
probe = "{{probe}}"
{}
[boards.linux]
runs_on = {{ box = "one" }}

[boards.windows]
runs_on = {{ box = "two" }}

[[boards.other.steps]]
name = "busy"
plugin = "probe"
with = {{ ops = [{{ op = "sleep", ms = 300 }}] }}
"#,
        crate::signals::WAITING_ON_EACH_OTHER
    ));
    let r = p.run(&["--nats", &url]);
    assert_eq!(r.code, 1, "{}\n{}", r.stderr, all_logs(&[&w1, &w2]));
    assert_eq!(r.step("linux.L1")["attempts"][0]["worker"], "w1");
    assert_eq!(r.step("windows.W1")["attempts"][0]["worker"], "w2");
    crate::signals::assert_the_cycle_is_named(&r);
    r.assert_status("ok", &["other.busy"]);
}

#[test]
fn a_replay_that_publishes_different_bytes_is_reported_and_the_first_bytes_are_kept() {
    let server = NatsServer::start();
    let url = server.url();
    let workers: Vec<WorkerProc> = ["w1", "w2"].iter().map(|n| WorkerProc::start(&url, n, 2, &[])).collect();
    let refs: Vec<&WorkerProc> = workers.iter().collect();
    // build.stamp publishes a time stamp, which a replay cannot reproduce.
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"

[policy]
spawn = ["sh"]

[[boards.build.steps]]
name = "stamp"
plugin = "probe"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "date +%s.%N > stamp.txt"] },
  { op = "put", name = "stamp.txt", path = "stamp.txt" },
] }

[[boards.build.steps]]
name = "compile"
plugin = "shell"
with = { run = "test -f stamp.txt && sleep 4" }
"#,
    );
    let run = start_run(&p, &url);
    let victim = wait_for_line(&refs, ": start build.compile ");
    victim.signal(libc::SIGKILL);
    let (code, report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", all_logs(&refs));

    let kept =
        report["artifacts"].as_array().and_then(|a| a.iter().find(|a| a["reference"] == "build.stamp/stamp.txt"));
    let kept = kept.expect("the stamp in the report")["digest"].as_str().expect("digest").to_string();
    let notes: Vec<&str> = report["notes"].as_array().expect("notes").iter().filter_map(Value::as_str).collect();
    let moved = format!(
        "worker {} lost; board build moves to another worker (1 step(s) to run again, 1 replayed first: build.stamp)",
        victim.name
    );
    assert_eq!(notes.first(), Some(&moved.as_str()), "{notes:?}");
    let differs = notes.iter().find(|n| n.starts_with("the replay of build.stamp published different bytes"));
    let differs = differs.unwrap_or_else(|| panic!("no note of the difference: {notes:?}"));
    let prefix = format!(
        "the replay of build.stamp published different bytes for build.stamp/stamp.txt: {kept} the first time, sha256:"
    );
    assert!(differs.starts_with(&prefix) && differs.ends_with(" now; the run keeps the first"), "{differs}");
    assert!(stderr.contains(&format!("baton: {differs}")), "{stderr}");
    assert_eq!(step(&report, "build.compile")["status"], "ok");

    // The terminal summary and the HTML page show the notes too.
    assert!(stderr.contains("\nnotes (2):\n"), "{stderr}");
    let html_path = p.latest_run().expect("run").join("report.html");
    let mut html = String::new();
    std::fs::File::open(&html_path).and_then(|mut f| f.read_to_string(&mut html)).expect("report.html");
    assert!(
        html.contains("<a href=\"#notes\">notes (2)</a>") && html.contains("<li>the replay of build.stamp"),
        "{html}"
    );
}
