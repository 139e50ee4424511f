//! Attacks on the host from one machine's steps (issue 20): what a stage or
//! its processes can plant to hang, wedge or exhaust baton. Each runs next to
//! a healthy step and asserts that baton ends on its own, within a bound, and
//! says what happened; a baton that hangs is killed by the test and fails it.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Pipeline, Run};

/// Waits for `child` at most `limit`; kills it and fails the test if it is
/// still running then (the attacks below used to hang baton for ever).
fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> Run {
    let t0 = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Run::from_output(child.wait_with_output().expect("output"));
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{what}: baton still running after {limit:?}; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `baton run --json <args>` in `p`, bounded by `limit`.
fn run_bounded(p: &Pipeline, args: &[&str], limit: Duration) -> Run {
    let child = p
        .baton()
        .arg("run")
        .arg("--json")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton");
    wait_bounded(child, limit, "run")
}

/// Steps `fifo.<trust>` that make FIFOs with a process and open them from
/// the stage, for reading and for writing, and a healthy step beside them.
fn fifo_pipeline() -> Pipeline {
    let mut toml = String::from(
        r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = { ops = [{ op = "write", path = "fine.txt", text = "fine" }, { op = "read", path = "fine.txt", expect = "fine" }] }
"#,
    );
    for trust in ["untrusted", "trusted"] {
        for (name, op) in
            [("read", r#"{ op = "read", path = "trap" }"#), ("write", r#"{ op = "write", path = "trap", text = "x" }"#)]
        {
            toml += &format!(
                r#"
[[boards.{trust}.steps]]
name = "{name}"
plugin = "probe"
trust = "{trust}"
after = []
on_failure = "continue"
timeout = "30s"
with = {{ ops = [{{ op = "run", program = "sh", args = ["-c", "rm -f trap; mkfifo trap"] }}, {op}] }}
"#
            );
        }
    }
    Pipeline::new(&toml)
}

#[test]
fn a_stage_that_opens_a_fifo_is_refused_at_once_and_baton_ends() {
    let p = fifo_pipeline();
    // One job: a blocked worker thread would have been the whole runtime.
    let r = run_bounded(&p, &["--jobs", "1"], Duration::from_secs(90));
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["ok.healthy"]);
    for trust in ["untrusted", "trusted"] {
        for op in ["read", "write"] {
            let id = format!("{trust}.{op}");
            let e = r.error(&id);
            assert!(e.starts_with(&format!("{op} trap: ")), "{id} refused by the open, not by a timeout: {e:?}");
            assert!(!e.contains("timed out"), "{id}: {e}");
        }
    }
}

#[test]
fn a_stage_that_opens_a_fifo_is_refused_when_baton_runs_as_an_ordinary_user_too() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // The suite already runs as an ordinary user: the test above is this one.
    }
    let p = fifo_pipeline();
    let toml = std::fs::read_to_string(p.file()).expect("toml");
    std::fs::write(p.file(), toml.replace(baton_test_artifacts::PROBE, "probe.wasm")).expect("toml");
    // Everything baton needs, where an ordinary user can reach it.
    std::fs::copy(baton_test_artifacts::PROBE, p.dir().join("probe.wasm")).expect("copy probe");
    std::fs::copy(crate::harness::baton_bin(), p.dir().join("baton")).expect("copy baton");
    let chown = std::process::Command::new("chown").args(["-R", "65534:65534"]).arg(p.dir()).status();
    assert!(chown.expect("chown").success());
    std::fs::set_permissions(p.dir(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let child = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(p.dir().join("baton"))
        .args(["run", "--json", "--jobs", "1"])
        .current_dir(p.dir())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", p.dir())
        .env("BATON_CACHE_DIR", p.dir().join("cache"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv (util-linux) runs baton as nobody");
    let r = wait_bounded(child, Duration::from_secs(120), "run as nobody");
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["ok.healthy"]);
    for id in ["untrusted.read", "untrusted.write", "trusted.read", "trusted.write"] {
        let e = r.error(id);
        assert!(!e.contains("timed out") && e.contains(" trap: "), "{id} refused by the open: {e:?}");
    }
}

#[test]
fn untrusted_spawns_hold_while_a_background_process_churns_temporary_files() {
    // Before each untrusted process the workspace is handed to the sandbox
    // user (as root): an entry removed during that walk used to fail the
    // spawn ("cannot hand the workspace to the sandbox user 65534: No such
    // file or directory").
    let mut runs = String::new();
    for i in 0..40 {
        runs += &format!(r#"  {{ op = "run", program = "sh", args = ["-c", "echo {i} > out{i}"] }},"#);
        runs.push('\n');
    }
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"
[policy.untrusted]
spawn = ["sh"]

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = {{ ops = [{{ op = "write", path = "fine.txt", text = "fine" }}] }}

[[boards.try.steps]]
name = "churn"
plugin = "probe"
trust = "untrusted"
timeout = "120s"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "mkdir -p many; for i in $(seq 2000); do : > many/f$i; done"] }},
  {{ op = "spawn", id = "bg", program = "sh", args = ["-c", "while :; do for i in 1 2 3 4 5 6 7 8; do mkdir -p d$i; : > d$i/t; : > t$i; rm -rf t$i d$i; done; done"] }},
{runs}  {{ op = "kill", id = "bg" }},
] }}
"#
    ));
    let r = run_bounded(&p, &[], Duration::from_secs(240));
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.churn"));
    r.assert_status("ok", &["ok.healthy", "try.churn"]);
    assert_eq!(std::fs::read_to_string(p.workspace("try").join("out39")).expect("out39"), "39\n");
}

#[test]
fn a_trusted_process_cannot_uncover_the_host_proc_and_baton_holds_no_secret_in_its_environment() {
    // A trusted process is root in baton's pid namespace: `umount /proc`
    // used to uncover the host's, where `/proc/<baton>/environ` lists every
    // variable baton was given (all steps' secrets, registry passwords).
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
secrets = ["BATON_TEST_SECRET"]
with = { ops = [{ op = "run", program = "sh", args = ["-c", "test \"$BATON_TEST_SECRET\" = s3cr3t-value-for-the-healthy-step && echo given"], expect_stdout = "given\n" }] }

[[boards.a.steps]]
name = "snoop"
plugin = "probe"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "umount /proc 2>/dev/null && echo UNMOUNTED; umount -l /proc 2>/dev/null && echo DETACHED; mount -t proc proc /mnt 2>/dev/null && echo MOUNTED; unshare -Urm --mount-proc sh -c 'umount /proc 2>/dev/null && echo NESTED' 2>/dev/null; cat /proc/[0-9]*/environ /mnt/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c -e BATON_TEST_CANARY -e s3cr3t; exit 0"], expect_stdout = "0\n" },
] }
"#,
    );
    let r = p.run_env(
        &[("BATON_TEST_CANARY", "canary-value"), ("BATON_TEST_SECRET", "s3cr3t-value-for-the-healthy-step")],
        &[],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("a.snoop"));
    r.assert_status("ok", &["ok.healthy", "a.snoop"]);
}

#[test]
fn baton_own_environment_holds_no_secret_while_steps_run() {
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]

[[boards.a.steps]]
name = "uses"
plugin = "probe"
secrets = ["BATON_TEST_SECRET"]
with = { ops = [{ op = "run", program = "sh", args = ["-c", "test -n \"$BATON_TEST_SECRET\" && touch started && sleep 3"] }] }
"#,
    );
    let child = p
        .baton()
        .env("BATON_TEST_SECRET", "s3cr3t-in-the-environment")
        .env("BATON_REGISTRY_PASSWORD", "registry-password-value")
        .env("BATON_TEST_CANARY", "canary-value")
        .args(["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton");
    let environ = format!("/proc/{}/environ", child.id());
    let started = p.dir().join(".baton");
    let t0 = Instant::now();
    // Once the step's process runs, baton has read its secrets.
    let seen = loop {
        let running = std::fs::read_dir(started.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| run.path().join("ws/a/started").exists());
        if running {
            break std::fs::read(&environ).expect("environ");
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let seen = String::from_utf8_lossy(&seen).into_owned();
    let r = wait_bounded(child, Duration::from_secs(60), "run");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(seen.contains("BATON_TEST_CANARY=canary-value"), "the environment was read");
    assert!(!seen.contains("s3cr3t"), "no step secret in baton's environment");
    assert!(!seen.contains("registry-password-value"), "no registry password in baton's environment");
}

#[test]
fn no_pipeline_state_under_the_project_is_readable_through_src() {
    // A monorepo: a sub-pipeline's run left a credentials file in its
    // workspace, under `sub/.baton/`.
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = { ops = [{ op = "read", path = "/src/sub/keep.txt", expect = "kept" }] }

[[boards.try.steps]]
name = "snoop"
plugin = "probe"
trust = "untrusted"
with = { ops = [
  { op = "missing", path = "/src/sub/.baton/runs/r1/ws/b/creds.txt" },
  { op = "missing", path = "/src/a/b/.baton" },
  { op = "ls", path = "/src/sub", expect = ["keep.txt"] },
  { op = "run", program = "sh", args = ["-c", "cat /src/sub/.baton/runs/r1/ws/b/creds.txt /src/a/b/.baton/x 2>/dev/null; ls -A /src/sub /src/sub/.baton /src/a/b/.baton"], expect_stdout = "/src/a/b/.baton:\n\n/src/sub:\n.baton\nkeep.txt\n\n/src/sub/.baton:\n" },
] }

[[boards.mine.steps]]
name = "snoop"
plugin = "probe"
with = { ops = [
  { op = "missing", path = "/src/sub/.baton/runs/r1/ws/b/creds.txt" },
  { op = "ls", path = "/src/sub", expect = ["keep.txt"] },
] }
"#,
    );
    let ws = p.dir().join("sub/.baton/runs/r1/ws/b");
    std::fs::create_dir_all(&ws).expect("sub state");
    std::fs::write(ws.join("creds.txt"), "sub-pipeline-credential").expect("creds");
    std::fs::write(p.dir().join("sub/keep.txt"), "kept").expect("keep");
    std::fs::create_dir_all(p.dir().join("a/b/.baton")).expect("deep state");
    std::fs::write(p.dir().join("a/b/.baton/x"), "deep-state-secret").expect("x");
    let r = run_bounded(&p, &[], Duration::from_secs(120));
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stderr, p.log("try.snoop"), p.log("mine.snoop"));
    r.assert_status("ok", &["ok.healthy", "try.snoop", "mine.snoop"]);
    for id in ["try.snoop", "mine.snoop"] {
        let log = p.log(id);
        assert!(!log.contains("sub-pipeline-credential") && !log.contains("deep-state-secret"), "{id}: {log}");
    }
}

/// A 40-character secret for the capture-window test.
const CUT_TOKEN: &str = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0ffee";

#[test]
fn a_secret_cut_by_the_capture_window_shows_no_tail_anywhere() {
    // stderr ends with the token's line and 989 more bytes: the last 1 KiB
    // (the capture window) starts 35 characters into the token.
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]

[[boards.ok.steps]]
name = "healthy"
plugin = "shell"
with = { run = "true" }

[[boards.b.steps]]
name = "cut"
plugin = "shell"
secrets = ["BATON_IT_CUT_TOKEN"]
output_limit = "1KiB"
with = { run = "printf 'prefix %s\\n' \"$BATON_IT_CUT_TOKEN\" >&2; printf '%0987d\\n' 0 >&2; exit 3" }
"#,
    );
    let report_dir = p.dir().join("copies");
    let child = p
        .baton()
        .env("BATON_IT_CUT_TOKEN", CUT_TOKEN)
        .args(["run", "-v", "--json", "--report", "junit,html", "--report-dir"])
        .arg(&report_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn baton");
    let r = wait_bounded(child, Duration::from_secs(120), "run");
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["ok.healthy"]);
    let error = r.error("b.cut");
    assert!(error.contains("exit") || error.contains("3"), "the step failed for its exit code: {error}");
    // Any 12 characters of the token are a leak.
    let pieces: Vec<&str> = (0..=CUT_TOKEN.len() - 12).map(|i| &CUT_TOKEN[i..i + 12]).collect();
    let mut shown = vec![("stderr".to_string(), r.stderr.clone()), ("report".to_string(), r.report.to_string())];
    for file in ["report.html", "junit.xml"] {
        let text = std::fs::read_to_string(report_dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        shown.push((file.to_string(), text));
    }
    let json = std::fs::read_to_string(p.latest_run().expect("run").join("report.json")).expect("report.json");
    shown.push(("report.json".to_string(), json));
    for (what, text) in &shown {
        for piece in &pieces {
            assert!(!text.contains(piece), "{what} shows part of the secret ({piece}):\n{text}");
        }
    }
}

/// A registry on loopback that answers every request with a 500 whose error
/// message carries terminal escape sequences (OSC 52 writes the clipboard,
/// OSC 0 the window title).
fn hostile_registry() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let body = r#"{"errors":[{"code":"UNKNOWN","message":"\u001b]52;c;cHduZWQ=\u0007\u001b]0;pwned\u0007\u009b31m overloaded"}]}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    host
}

#[test]
fn a_hostile_registry_message_reaches_the_terminal_escaped() {
    let host = hostile_registry();
    let p = Pipeline::new(&format!(
        r#"
[plugins]
stage = "oci://{host}/acme/evil:1.0.0"
probe = "{{probe}}"

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = {{ ops = [] }}

[[boards.b.steps]]
name = "s"
plugin = "stage"
"#
    ));
    for args in [&["run"][..], &["check"], &["lock"]] {
        let out = p
            .baton()
            .args(args)
            .env("BATON_PLUGIN_CACHE", p.dir().join("plugin-cache"))
            .env("DOCKER_CONFIG", p.dir().join("no-docker-config"))
            .env_remove("BATON_REGISTRY_HOST")
            .output()
            .expect("baton");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("registry {host}")), "{args:?} names the registry: {stderr}");
        assert!(stderr.contains("\\x1b]52;c;cHduZWQ=\\x07\\x1b]0;pwned\\x07\\x9b31m overloaded"), "{args:?}: {stderr}");
        for (i, b) in out.stderr.iter().enumerate() {
            assert!(*b != 0x1b && *b != 0x07, "{args:?}: a raw control byte at {i}: {stderr}");
        }
        assert!(!stderr.contains('\u{9b}'), "{args:?}: a raw C1 control: {stderr}");
    }
}

#[test]
fn a_project_the_sandbox_user_cannot_read_is_refused_before_any_step() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // As an ordinary user, untrusted processes run as that user.
    }
    use std::os::unix::fs::PermissionsExt;
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[policy.untrusted]
spawn = ["sh"]

[[boards.ok.steps]]
name = "healthy"
plugin = "probe"
with = { ops = [] }

[[boards.t.steps]]
name = "u"
plugin = "probe"
trust = "untrusted"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "cat /src/baton.toml"] }] }
"#,
    );
    std::fs::set_permissions(p.dir(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let r = run_bounded(&p, &[], Duration::from_secs(60));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let dir = p.dir().display().to_string();
    assert!(
        r.stderr.contains(&format!(
            "untrusted steps run as the sandbox user 65534, who cannot read the project directory {dir} (mode 700, owner 0): \
             make it readable (`chmod o+rx {dir}`"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no step was started"), "{}", r.stderr);
    assert!(p.runs().is_empty(), "no run was made");
    // Readable, the same pipeline runs.
    std::fs::set_permissions(p.dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let r = run_bounded(&p, &[], Duration::from_secs(60));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_status("ok", &["ok.healthy", "t.u"]);
}
