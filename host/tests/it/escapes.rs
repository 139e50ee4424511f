//! Escapes from a step to the host, written as the attacks: each test tries
//! to reach the host from a step's processes and asserts that the host saw
//! nothing (probe file absent, kernel setting unchanged, process dead).
//! CI runs as root, so these run with baton as root.

use crate::harness::Pipeline;

const HEAD: &str = r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]
"#;

fn pipeline(steps: &str) -> Pipeline {
    Pipeline::new(&format!("{HEAD}\n{steps}"))
}

/// Attempts on the host from inside the sandbox. Each prints a word only if
/// it worked, so the expected output is what an unprivileged,
/// capability-free process sees: its empty capability set.
const ATTACKS: [&str; 9] = [
    "mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED-USR",
    "mount -t tmpfs none /usr/local 2>/dev/null && echo MOUNTED",
    // The same value is written back, so a success is seen without harm.
    "v=$(cat /proc/sys/kernel/panic); echo $v > /proc/sys/kernel/panic 2>/dev/null && echo SYSCTL",
    "echo h > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ",
    "echo pwned >> /etc/passwd 2>/dev/null && echo PASSWD",
    "touch /sys/pwned 2>/dev/null && echo SYS",
    "echo x > /dev/pwned 2>/dev/null && echo DEV",
    "grep CapEff /proc/self/status",
    "exit 0",
];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Host processes whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| s.contains(") Z "));
        if text.contains(marker) && !zombie {
            found.push(format!("{name}: {text}"));
        }
    }
    found
}

/// An untrusted step `try.patch` that runs [`ATTACKS`], writes `owned.txt`
/// in its workspace, then runs `more_ops`.
fn attack_pipeline(more_ops: &str) -> Pipeline {
    let attacks = ATTACKS.join("; ");
    pipeline(&format!(
        r#"
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "{attacks}"], expect_stdout = "CapEff:\t0000000000000000\n" }},
  {{ op = "run", program = "sh", args = ["-c", "echo mine > owned.txt"] }},
{more_ops}] }}
"#
    ))
}

/// What the attacks would change on the host, taken before them.
struct HostFiles {
    panic: String,
    passwd: Vec<u8>,
}

impl HostFiles {
    fn now() -> Self {
        Self {
            panic: std::fs::read_to_string("/proc/sys/kernel/panic").expect("kernel.panic"),
            passwd: std::fs::read("/etc/passwd").expect("passwd"),
        }
    }

    fn assert_unchanged(&self) {
        let now = Self::now();
        assert_eq!(now.panic, self.panic, "sysctl unchanged");
        assert_eq!(now.passwd, self.passwd, "bound host file unchanged");
    }
}

/// As root, `file` (written by an untrusted process) belongs to the sandbox user.
fn assert_sandbox_owned(file: &std::path::Path, what: &str) {
    if is_root() {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).expect("written");
        assert_eq!(meta.uid(), 65534, "{what}");
    }
}

#[test]
fn untrusted_processes_hold_no_host_privilege_even_when_baton_is_root() {
    let before = HostFiles::now();
    let p = attack_pipeline("");
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.patch"));
    before.assert_unchanged();
    let owned = p.workspace("try").join("owned.txt");
    assert_sandbox_owned(&owned, "an untrusted process's file belongs to the sandbox user, not root");
}

/// The same attacks from an untrusted step that runs on a `baton worker`:
/// a worker confines it exactly as a local run does.
#[test]
fn untrusted_processes_on_a_worker_hold_no_host_privilege_either() {
    use crate::cluster_runs::{WorkerProc, finish_run, report_step, start_run};
    let server = crate::nats_server::NatsServer::start();
    let url = server.url();
    let w = WorkerProc::start(&url, "w1", 1, &[]);
    let before = HostFiles::now();
    let p = attack_pipeline(
        r#"  { op = "run", program = "sh", args = ["-c", "test -f $BATON_SRC/baton.toml && test ! -e $BATON_SRC/.baton && echo SRC"], expect_stdout = "SRC\n" },
"#,
    );
    let (code, report, stderr) = finish_run(start_run(&p, &url));
    assert_eq!(code, Some(0), "{stderr}\n{}\n{report}", w.log());
    assert_eq!(report_step(&report, "try.patch")["attempts"][0]["worker"], "w1");
    before.assert_unchanged();
    let run = report["run_id"].as_str().expect("run id");
    let owned = w.workspace(run, "try").join("owned.txt");
    assert_sandbox_owned(&owned, "an untrusted process's file on a worker belongs to the sandbox user");
}

#[test]
fn a_stage_chosen_ld_preload_never_reaches_a_process_in_the_host_namespaces() {
    // A real shared object whose constructor leaves a file at a host path
    // that exists only outside the sandbox: if bubblewrap (which runs in the
    // host's namespaces) loaded it, the file would appear.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("evil.c");
    let so = dir.path().join("evil.so");
    let probe = dir.path().join("PWNED");
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void pwn(void) {{ FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\n",
            probe.display()
        ),
    )
    .expect("write evil.c");
    let cc = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .expect("cc (gcc) is needed to build the attack's shared object: run ./setup.sh --deps");
    assert!(cc.success());
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let p = pipeline(&format!(
        r#"
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "echo ran"], env = {{ LD_PRELOAD = "{so}", LD_LIBRARY_PATH = "{dir}" }}, expect_stdout = "ran\n" }},
] }}
"#,
        so = so.display(),
        dir = dir.path().display(),
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.patch"));
    assert!(!probe.exists(), "the stage's LD_PRELOAD was loaded by a process in the host's namespaces");
    // The sanity check of the attack itself: the object works when loaded.
    let direct = std::process::Command::new("true").env("LD_PRELOAD", &so).status().expect("true");
    assert!(direct.success());
    assert!(probe.exists(), "the attack's shared object did not run when preloaded on the host");
}

#[test]
fn untrusted_tmpfs_mounts_are_capped_by_the_step_memory() {
    let p = pipeline(
        r#"
[[boards.try.steps]]
name = "fill"
plugin = "probe"
trust = "untrusted"
memory = "64MiB"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "head -c 1073741824 /dev/zero > /tmp/big 2>/dev/null || echo tmp-full; head -c 1073741824 /dev/zero > /dev/shm/big 2>/dev/null || echo shm-full; exit 0"], expect_stdout = "tmp-full\nshm-full\n" },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.fill"));
}

#[test]
fn untrusted_steps_see_only_their_dependencies_artifacts_in_list_and_get() {
    let p = pipeline(
        r#"
[[boards.b.steps]]
name = "secret"
plugin = "probe"
with = { ops = [{ op = "write", path = "token.txt", text = "hunter2" }, { op = "put", name = "token", path = "token.txt" }] }
[[boards.b.steps]]
name = "shared"
plugin = "probe"
after = []
with = { ops = [{ op = "write", path = "pub.txt", text = "public" }, { op = "put", name = "public", path = "pub.txt" }] }
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
after = ["b.shared"]
with = { ops = [
  { op = "wait", names = ["b.secret"] },
  { op = "list", expect = ["b.shared/public"] },
  { op = "get", reference = "b.secret/token", dest = "stolen.txt", expect_error = "untrusted step try.patch may only read artifacts of steps it depends on, not b.secret" },
  { op = "get", reference = "b.shared/public", dest = "pub.txt" },
] }
"#,
    );
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.patch"));
    assert!(!p.workspace("try").join("stolen.txt").exists());
}

#[test]
fn a_board_mixing_trusted_and_untrusted_steps_is_refused_by_check() {
    let p = pipeline(
        r#"
[[boards.linux.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
[[boards.linux.steps]]
name = "build"
plugin = "probe"
"#,
    );
    let out = p.check();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "board linux mixes trusted steps (linux.build) and untrusted steps (linux.patch); they would share one \
             workspace, where a trusted step could run what an untrusted one planted: move the untrusted steps to a \
             board of their own and pass files through artifacts"
        ),
        "{err}"
    );
}

#[test]
fn a_trusted_process_that_calls_setsid_dies_with_its_step() {
    let marker = format!("{}.{}", 700 + std::process::id() % 200, std::process::id());
    let p = pipeline(&format!(
        r#"
[[boards.a.steps]]
name = "leaves"
plugin = "probe"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "setsid sleep {marker} > /dev/null 2>&1 < /dev/null & echo started"], expect_stdout = "started\n" }},
  {{ op = "sleep", ms = 200 }},
] }}
[[boards.a.steps]]
name = "after"
plugin = "probe"
with = {{ ops = [{{ op = "sleep", ms = 100 }}] }}
"#
    ));
    let r = p.run(&[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("a.leaves"));
    assert_eq!(processes_with(&format!("sleep {marker}")), Vec::<String>::new(), "a setsid process outlived its step");
}

#[test]
fn a_trusted_process_cannot_read_baton_environment_through_proc() {
    let p = pipeline(
        r#"
[[boards.a.steps]]
name = "snoop"
plugin = "probe"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "cat /proc/$PPID/environ /proc/1/environ /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c BATON_TEST_CANARY; exit 0"], expect_stdout = "0\n" },
] }
"#,
    );
    let r = p.run_env(&[("BATON_TEST_CANARY", "canary-value")], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("a.snoop"));
}

#[test]
fn the_sandbox_user_cannot_be_root() {
    if !is_root() {
        return;
    }
    let p = pipeline(
        r#"
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "true"] }] }
"#,
    );
    let r = p.run_env(&[("BATON_SANDBOX_UID", "0")], &[]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.error("try.patch"),
        "cannot confine `sh` for untrusted step try.patch: BATON_SANDBOX_UID / BATON_SANDBOX_GID must name an \
         unprivileged user and group, not 0"
    );
}

#[test]
fn confinement_holds_when_baton_runs_as_an_ordinary_user() {
    if !is_root() {
        // The suite already runs as an ordinary user: every test above is this one.
        return;
    }
    let marker = format!("{}.{}", 400 + std::process::id() % 100, std::process::id());
    let attacks = ATTACKS.join("; ");
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "probe.wasm"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "{attacks}"], expect_stdout = "CapEff:\t0000000000000000\n" }},
  {{ op = "run", program = "sh", args = ["-c", "echo mine > owned.txt"] }},
] }}
[[boards.a.steps]]
name = "leaves"
plugin = "probe"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "setsid sleep {marker} > /dev/null 2>&1 < /dev/null & echo started"], expect_stdout = "started\n" }},
  {{ op = "sleep", ms = 200 }},
] }}
"#
    ));
    // Everything baton needs, where an ordinary user can reach it.
    std::fs::copy(baton_test_artifacts::PROBE, p.dir().join("probe.wasm")).expect("copy probe");
    std::fs::copy(crate::harness::baton_bin(), p.dir().join("baton")).expect("copy baton");
    let chown = std::process::Command::new("chown").args(["-R", "65534:65534"]).arg(p.dir()).status();
    assert!(chown.expect("chown").success());
    std::fs::set_permissions(p.dir(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(p.dir().join("baton"))
        .args(["run", "--json"])
        .current_dir(p.dir())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", p.dir())
        .env("BATON_CACHE_DIR", p.dir().join("cache"))
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux) runs baton as nobody");
    let r = crate::harness::Run::from_output(out);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stderr, p.log("try.patch"), p.log("a.leaves"));
    assert_eq!(processes_with(&format!("sleep {marker}")), Vec::<String>::new(), "a setsid process outlived its step");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(p.workspace("try").join("owned.txt")).expect("written");
    assert_eq!(meta.uid(), 65534, "written as the user baton runs as");
}

#[test]
fn untrusted_processes_work_in_a_checkout_the_sandbox_user_cannot_walk_to() {
    // CI as root often checks out under /root (mode 0700): the sandbox user
    // cannot reach the workspace or the project by their paths.
    let outer = tempfile::tempdir().expect("tempdir");
    let project = outer.path().join("checkout");
    std::fs::create_dir(&project).expect("mkdir");
    std::fs::write(
        project.join("baton.toml"),
        crate::harness::expand(&format!(
            r#"{HEAD}
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "echo built > out.txt; cat /src/notes.txt"], expect_stdout = "from the checkout\n" }},
] }}
"#
        )),
    )
    .expect("baton.toml");
    std::fs::write(project.join("notes.txt"), "from the checkout\n").expect("notes");
    std::fs::set_permissions(outer.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod 700");
    let out = std::process::Command::new(crate::harness::baton_bin())
        .args(["run", "--json"])
        .current_dir(&project)
        .env("BATON_CACHE_DIR", crate::harness::cache_dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("run baton");
    let r = crate::harness::Run::from_output(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("try.patch"), "ok");
}

#[test]
fn a_secret_never_shows_in_a_host_command_line() {
    // Any host user can read /proc/*/cmdline: bubblewrap gets its
    // arguments (the variables among them) from a memory file instead.
    let value = format!("s3cr3t-{}", std::process::id());
    let p = Pipeline::new(
        r#"
[plugins]
probe = "{probe}"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]
secrets = ["BATON_TEST_TOKEN"]
[[boards.try.steps]]
name = "patch"
plugin = "probe"
trust = "untrusted"
secrets = ["BATON_TEST_TOKEN"]
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "touch started; sleep 2; test -n \"$BATON_TEST_TOKEN\" && echo has-token"], expect_stdout = "has-token\n" },
] }
[[boards.ci.steps]]
name = "build"
plugin = "probe"
secrets = ["BATON_TEST_TOKEN"]
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "touch started; sleep 2; test -n \"$BATON_TEST_TOKEN\" && echo has-token"], expect_stdout = "has-token\n" },
] }
"#,
    );
    let child = p
        .baton()
        .env("BATON_TEST_TOKEN", &value)
        .args(["run", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn baton");
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    while !(p.workspace("try").join("started").exists() && p.workspace("ci").join("started").exists()) {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "the steps did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for _ in 0..10 {
        seen.extend(processes_with(&value));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait");
    let r = crate::harness::Run::from_output(out);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("try.patch"));
    assert_eq!(seen, Vec::<String>::new(), "a secret in a host command line");
}
