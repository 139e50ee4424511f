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
        let dir = tempfile::Builder::new().prefix("baton-worker-").tempdir().expect("dir");
        let mut cmd = Command::new(baton_bin());
        cmd.args(["worker", "--nats", url, "--name", name, "--jobs", &jobs.to_string(), "--dir"])
            .arg(dir.path().join("w"))
            .env("BATON_CACHE_DIR", cache_dir());
        for l in labels {
            cmd.args(["--label", l]);
        }
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

    /// The steps this worker ended with a commit (`end <id> ...: passed`).
    pub fn passed(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once(": end ").map(|(_, rest)| rest))
            .filter(|rest| rest.ends_with(": passed"))
            .map(|rest| rest.split(' ').next().unwrap_or("").to_string())
            .collect()
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

fn all_logs(workers: &[&WorkerProc]) -> String {
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
    let edges = [
        ("L1", "L2"),
        ("L2", "L3"),
        ("L2", "L4"),
        ("L2", "L5"),
        ("L4", "L6"),
        ("L5", "L6"),
        ("L4", "L7"),
        ("L5", "L7"),
        ("W4", "L7"),
        ("W5", "L7"),
        ("L7", "L8"),
        ("W1", "W3"),
        ("L3", "W3"),
        ("W2", "W4"),
        ("W3", "W4"),
        ("W2", "W5"),
        ("W3", "W5"),
        ("L4", "W5"),
    ];
    let id = |s: &str| if s.starts_with('L') { format!("linux.{s}") } else { format!("windows.{s}") };
    for (dep, step) in edges {
        r.assert_before(&id(dep), &id(step));
    }
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
    let mut want: Vec<String> = edges.iter().flat_map(|(a, b)| [id(a), id(b)]).collect();
    want.sort();
    want.dedup();
    assert_eq!(passed, want);
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
