//! Whole runs on a cluster: a real NATS server, real `baton worker`
//! processes and `baton run --nats` as the coordinator, all on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::{Pipeline, baton_bin, cache_dir};
use crate::nats_server::NatsServer;

/// A `baton worker` process with its own directory; its stderr in a file.
pub struct WorkerProc {
    pub name: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl WorkerProc {
    pub fn start(url: &str, name: &str, jobs: usize, labels: &[&str]) -> Self {
        Self::start_with(url, name, jobs, labels, true)
    }

    /// As [`WorkerProc::start`]; `shared_cache: false` leaves
    /// `BATON_CACHE_DIR` unset (the worker compiles into its own `--dir`).
    pub fn start_with(url: &str, name: &str, jobs: usize, labels: &[&str], shared_cache: bool) -> Self {
        Self::spawn(url, name, jobs, labels, shared_cache, &[], &[])
    }

    /// As [`WorkerProc::start`], with more arguments to `baton worker`.
    pub fn start_args(url: &str, name: &str, jobs: usize, args: &[&str]) -> Self {
        Self::spawn(url, name, jobs, &[], true, args, &[])
    }

    /// As [`WorkerProc::start_args`], with environment variables.
    pub fn start_env(url: &str, name: &str, jobs: usize, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(url, name, jobs, &[], true, args, env)
    }

    fn spawn(
        url: &str,
        name: &str,
        jobs: usize,
        labels: &[&str],
        shared_cache: bool,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::Builder::new().prefix("baton-worker-").tempdir().expect("dir");
        let mut cmd = Command::new(baton_bin());
        cmd.args(["worker", "--nats", url, "--name", name, "--jobs", &jobs.to_string(), "--dir"])
            .arg(dir.path().join("w"))
            .args(args);
        if shared_cache {
            cmd.env("BATON_CACHE_DIR", cache_dir());
        } else {
            cmd.env_remove("BATON_CACHE_DIR").env("HOME", dir.path()).env_remove("XDG_CACHE_HOME");
        }
        for l in labels {
            cmd.args(["--label", l]);
        }
        cmd.envs(env.iter().copied());
        let log = std::fs::File::create(dir.path().join("worker.log")).expect("log");
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().expect("start worker");
        Self { name: name.into(), child, dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    /// The workspace of `board` in run `run` on this worker.
    pub fn workspace(&self, run: &str, board: &str) -> PathBuf {
        self.dir.path().join("w/ws").join(run).join(board)
    }

    /// The worker's `--dir`.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("w")
    }

    /// The step log of `id` in this worker's copy of run `run`.
    pub fn step_log(&self, run: &str, id: &str) -> String {
        std::fs::read_to_string(self.dir().join("runs").join(run).join("logs").join(format!("{id}.log")))
            .unwrap_or_default()
    }

    /// The steps this worker ended with a commit (`end <id> ...: passed`).
    pub fn passed(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once(": end ").map(|(_, rest)| rest))
            .filter(|rest| rest.ends_with(": passed"))
            .map(|rest| rest.split(' ').next().unwrap_or("").to_string())
            .collect()
    }

    /// Waits (at most `limit`) for the worker to exit: its exit code, or
    /// a failed test naming its log if it does not.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the worker") {
                return status.code();
            }
            assert!(std::time::Instant::now() < deadline, "worker {} did not exit:\n{}", self.name, self.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The worker process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of our own child, not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example(name: &str) -> Pipeline {
    let path = format!("{}/../examples/{name}/baton.toml", env!("CARGO_MANIFEST_DIR"));
    Pipeline::new(&std::fs::read_to_string(path).expect("example"))
}

fn run_id(p: &Pipeline) -> String {
    p.latest_run().and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned())).expect("a run")
}

pub fn all_logs(workers: &[&WorkerProc]) -> String {
    workers.iter().map(|w| format!("--- {}:\n{}", w.name, w.log())).collect::<Vec<_>>().join("\n")
}

fn exists_on_any(workers: &[&WorkerProc], run: &str, board: &str, rel: &str) -> bool {
    workers.iter().any(|w| w.workspace(run, board).join(Path::new(rel)).exists())
}

#[test]
fn buildbot_lw_runs_on_three_workers_with_every_edge_respected() {
    let server = NatsServer::start();
    let url = server.url();
    let workers: Vec<WorkerProc> = ["w1", "w2", "w3"].iter().map(|n| WorkerProc::start(&url, n, 4, &[])).collect();
    let p = example("buildbot-lw");
    // A Blocker-style wait across boards: W1 waits inside its stage for a
    // signal L2 raises halfway through.
    let text = std::fs::read_to_string(p.file()).expect("read");
    let l2 = r#"with = { run = "mkdir -p generated && echo 'int answer(void) { return 42; }' > generated/gen.c && sleep 0.3" }"#;
    let w1 = "name = \"W1\"                    # checkout\nplugin = \"shell\"\nwith = { run = \"sleep 0.2\" }";
    assert!(text.contains(l2) && text.contains(w1), "the example changed; update this test");
    let text = text.replacen(
        l2,
        r#"emits = ["generated"]
with = { run = ["mkdir -p generated && echo 'int answer(void) { return 42; }' > generated/gen.c", { emit = "generated" }, "sleep 0.3"] }"#,
        1,
    );
    let waiting =
        "name = \"W1\"\nplugin = \"shell\"\nwith = { run = [{ wait = [\"linux.L2/generated\"] }, \"sleep 0.2\"] }";
    let text = text.replacen(w1, waiting, 1);
    std::fs::write(p.file(), text).expect("write");
    let r = p.run(&["--nats", &url]);
    let refs: Vec<&WorkerProc> = workers.iter().collect();
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, all_logs(&refs));
    crate::scheduler::assert_lw_edges(&r);
    // Each board ran on one worker, the two boards on two different ones.
    let on = |board: &str| -> Vec<&str> {
        workers
            .iter()
            .filter(|w| w.passed().iter().any(|s| s.starts_with(&format!("{board}."))))
            .map(|w| w.name.as_str())
            .collect()
    };
    let (linux, windows) = (on("linux"), on("windows"));
    assert_eq!((linux.len(), windows.len()), (1, 1), "{}", all_logs(&refs));
    assert_ne!(linux, windows, "both boards ran on one worker");
    // Every step passed exactly once, somewhere.
    let mut passed: Vec<String> = workers.iter().flat_map(|w| w.passed()).collect();
    passed.sort();
    let id = crate::scheduler::lw_id;
    let mut want: Vec<String> = crate::scheduler::LW_EDGES.iter().flat_map(|(a, b)| [id(a), id(b)]).collect();
    want.sort();
    want.dedup();
    assert_eq!(passed, want);
    // The report says where each attempt ran.
    for s in &want {
        let worker = r.step(s)["attempts"][0]["worker"].as_str().unwrap_or("").to_string();
        let ran = workers.iter().find(|w| w.passed().contains(s)).map(|w| w.name.clone());
        assert_eq!(Some(worker), ran, "worker of {s}");
    }
    // So does the HTML timeline: a legend names each worker that ran
    // something once, and each step's bar names its worker.
    let html = std::fs::read_to_string(p.latest_run().expect("run").join("report.html")).expect("report.html");
    let linux_on = r.step("linux.L1")["attempts"][0]["worker"].as_str().unwrap_or("").to_string();
    let mut used: Vec<&str> = [linux, windows].concat();
    used.sort();
    for (i, w) in used.iter().enumerate() {
        assert_eq!(html.matches(&format!("data-legend-worker=\"{w}\"")).count(), 1, "{html}");
        assert!(html.contains(&format!("<i class=\"sw wk wk-{i}\"></i>{w}</span>")), "{html}");
    }
    assert_eq!(html.matches("data-legend-worker=").count(), used.len(), "only workers that ran something: {html}");
    for s in &want {
        let worker = r.step(s)["attempts"][0]["worker"].as_str().unwrap_or("").to_string();
        assert!(html.contains(&format!("data-step=\"{s}\" data-worker=\"{worker}\" ")), "bar of {s}: {html}");
    }
    assert!(html.contains(&format!("title=\"cluster worker\">{linux_on}</span>")), "{html}");
    assert!(html.contains(&format!("title=\"attempt 1: ok (on worker {linux_on})\"")), "{html}");
    // The artifacts crossed machines, by digest: W3 got L3's generated code, W5 L4's jar.
    let run = run_id(&p);
    assert!(exists_on_any(&refs, &run, "windows", "generated/gen.c"), "{}", all_logs(&refs));
    assert!(exists_on_any(&refs, &run, "windows", "app.jar"));
    assert!(!exists_on_any(&refs, &run, "linux", "app.jar"), "the jar was built under out/, not fetched");
    assert_eq!(r.step("linux.L3")["artifacts"][0], "linux.L3/generated");
    // W1 (on another worker) waited for L2's signal.
    assert_eq!(r.step("windows.W1")["waits"][0]["on"][0], "linux.L2/generated", "{}", r.step("windows.W1"));
    assert!(r.end("windows.W1") > r.start("linux.L2"));
}

/// Waits (60 s at most) until some worker's log has `line`; returns it.
pub fn wait_for_line<'a>(workers: &'a [&'a WorkerProc], line: &str) -> &'a WorkerProc {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(w) = workers.iter().find(|w| w.log().contains(line)) {
            return w;
        }
        assert!(std::time::Instant::now() < deadline, "no worker logged {line:?}:\n{}", all_logs(workers));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_killed_worker_loses_only_its_board_which_replays_and_passes_once_elsewhere() {
    let server = NatsServer::start();
    let url = server.url();
    let workers: Vec<WorkerProc> = ["w1", "w2", "w3"].iter().map(|n| WorkerProc::start(&url, n, 2, &[])).collect();
    let refs: Vec<&WorkerProc> = workers.iter().collect();
    // build.compile needs what build.checkout left in the board's workspace,
    // so on a new worker checkout must be replayed first.
    let p = Pipeline::new(
        r#"
[pipeline]
name = "lose-a-worker"
jobs = 4

[policy]
spawn = ["sh"]

[[boards.build.steps]]
name = "checkout"
plugin = "shell"
with = { run = "echo source > checked-out" }

[[boards.build.steps]]
name = "compile"
plugin = "shell"
with = { run = "test -f checked-out && sleep 4 && echo built > binary" }

[[boards.docs.steps]]
name = "render"
plugin = "shell"
with = { run = "sleep 1" }

[[boards.docs.steps]]
name = "publish"
plugin = "shell"
with = { run = "sleep 1" }
"#,
    );
    let mut coordinator = p
        .baton()
        .args(["run", "--json", "--nats", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton run");
    let victim = wait_for_line(&refs, ": start build.compile ");
    victim.signal(libc::SIGKILL);
    let out = {
        let mut stdout = String::new();
        let mut stderr = String::new();
        use std::io::Read;
        coordinator.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read");
        coordinator.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read");
        let status = coordinator.wait().expect("wait");
        (status, stdout, stderr)
    };
    assert_eq!(out.0.code(), Some(0), "{}\n{}", out.2, all_logs(&refs));
    assert!(
        out.2.contains(&format!("baton: worker {} lost; board build moves to another worker (1 step(s) to run again, 1 replayed first: build.checkout)", victim.name)),
        "{}",
        out.2
    );
    let report: serde_json::Value = serde_json::from_str(&out.1).expect("json report");
    let step =
        |id: &str| report["steps"].as_array().expect("steps").iter().find(|s| s["id"] == id).expect("step").clone();
    // The report shows the lost attempt with its worker and the reason, then
    // the one successful attempt, elsewhere.
    let compile = step("build.compile");
    assert_eq!(compile["status"], "ok");
    let attempts = compile["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{compile}");
    assert_eq!(
        (&attempts[0]["status"], &attempts[0]["kind"], &attempts[0]["worker"]),
        (&serde_json::json!("failed"), &serde_json::json!("lost"), &serde_json::json!(victim.name))
    );
    assert_eq!(attempts[0]["error"], format!("worker lost: {} stopped beating while it ran this attempt", victim.name));
    assert_eq!(attempts[1]["status"], "ok");
    assert_ne!(attempts[1]["worker"], victim.name.as_str());
    // compile passed exactly once, not on the killed worker; checkout was replayed there first.
    let others: Vec<&WorkerProc> = workers.iter().filter(|w| w.name != victim.name).collect();
    let compiled: Vec<&str> =
        others.iter().filter(|w| w.passed().contains(&"build.compile".to_string())).map(|w| w.name.as_str()).collect();
    assert_eq!(compiled.len(), 1, "{}", all_logs(&refs));
    assert!(!victim.log().contains(": end build.compile "), "{}", victim.log());
    let new_home = others.iter().find(|w| w.name == compiled[0]).expect("worker");
    assert_eq!(new_home.passed(), ["build.checkout", "build.compile"], "{}", new_home.log());
    let run = run_id(&p);
    assert!(new_home.workspace(&run, "build").join("binary").exists());
    // The docs board was not disturbed: each step passed once, on one worker.
    let docs: Vec<Vec<String>> = workers
        .iter()
        .map(|w| w.passed().into_iter().filter(|s| s.starts_with("docs.")).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    assert_eq!(docs, [vec!["docs.render".to_string(), "docs.publish".to_string()]], "{}", all_logs(&refs));
}

/// `baton run --json --nats URL` started in the background.
pub fn start_run(p: &Pipeline, url: &str) -> Child {
    p.baton()
        .args(["run", "--json", "--nats", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton run")
}

/// Waits for a background run: exit code, the JSON report, stderr.
pub fn finish_run(mut run: Child) -> (Option<i32>, serde_json::Value, String) {
    use std::io::Read;
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let mut out = run.stdout.take().expect("stdout");
    let mut err = run.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let _ = err.read_to_string(&mut stderr);
        stderr
    });
    out.read_to_string(&mut stdout).expect("read");
    let stderr = reader.join().expect("stderr reader");
    let code = run.wait().expect("wait").code();
    (code, serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null), stderr)
}

pub fn report_step(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == id)).cloned().unwrap_or_default()
}

#[test]
fn a_stopped_worker_that_wakes_after_its_board_moved_has_its_result_refused() {
    let server = NatsServer::start();
    let url = server.url();
    let workers: Vec<WorkerProc> = ["w1", "w2"].iter().map(|n| WorkerProc::start(&url, n, 2, &[])).collect();
    let refs: Vec<&WorkerProc> = workers.iter().collect();
    let p = Pipeline::new(
        r#"
[pipeline]
name = "stall"

[policy]
spawn = ["sh"]

[[boards.build.steps]]
name = "checkout"
plugin = "shell"
with = { run = "echo source > checked-out" }

[[boards.build.steps]]
name = "compile"
plugin = "shell"
with = { run = "test -f checked-out && sleep 4 && echo built > binary" }
"#,
    );
    let run = start_run(&p, &url);
    let victim = wait_for_line(&refs, ": start build.compile ");
    victim.signal(libc::SIGSTOP);
    let other: Vec<&WorkerProc> = workers.iter().filter(|w| w.name != victim.name).collect();
    // Silent past its lease: the board moves and compile starts on the other worker.
    wait_for_line(&other, ": start build.compile ");
    victim.signal(libc::SIGCONT);
    let (code, report, stderr) = finish_run(run);
    assert_eq!(code, Some(0), "{stderr}\n{}", all_logs(&refs));
    wait_for_line(&[victim], ": result of build.compile (attempt 1) refused: the attempt was taken from this worker");
    assert!(!victim.passed().contains(&"build.compile".to_string()), "{}", victim.log());
    assert_eq!(other[0].passed(), ["build.checkout", "build.compile"], "{}", other[0].log());
    let compile = report_step(&report, "build.compile");
    assert_eq!((compile["status"].as_str(), compile["attempts"].as_array().map(Vec::len)), (Some("ok"), Some(2)));
    assert_eq!(compile["attempts"][0]["kind"], "lost");
    assert_eq!(compile["attempts"][1]["worker"], other[0].name.as_str());
}

#[test]
fn a_local_run_records_no_worker() {
    let p = Pipeline::new(
        "[policy]\nspawn = [\"sh\"]\n[[boards.b.steps]]\nname = \"s\"\nplugin = \"shell\"\nwith = { run = \"true\" }\n",
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let attempt = &r.step("b.s")["attempts"][0];
    assert!(attempt.get("worker").is_some_and(serde_json::Value::is_null), "{attempt}");
}
