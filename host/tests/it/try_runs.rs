//! Runs whose trust the operator decides, not the pipeline file: `baton run
//! --untrusted`, an operator policy (`--policy`, `BATON_POLICY`), and
//! `baton try --patch` (a patch under the trusted pipeline).

use std::path::Path;

use crate::harness::Pipeline;
use crate::secrets::{VALUE, files_containing};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A pipeline that declares everything trusted, widens `[policy.untrusted]`,
/// and gives a secret to `d.deploy`.
pub const ALL_TRUSTED: &str = r#"
[plugins]
probe = "{probe}"

[policy]
trust = "trusted"
spawn = ["sh", "bash"]

[policy.untrusted]
spawn = ["sh", "bash"]
memory = "2GiB"
max_children = 64

[[boards.b.steps]]
name = "who"
plugin = "probe"
trust = "trusted"
env = ["BATON_IT_TOKEN"]
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "id -u > uid.txt; env > env.txt; test -z \"$BATON_IT_TOKEN\""] },
] }

[[boards.b.steps]]
name = "bash"
plugin = "probe"
with = { ops = [{ op = "run", program = "bash", args = ["-c", "true"] }] }

[[boards.d.steps]]
name = "deploy"
plugin = "probe"
trust = "trusted"
secrets = ["BATON_IT_TOKEN"]
with = { ops = [{ op = "run", program = "sh", args = ["-c", "echo $BATON_IT_TOKEN > token.txt"] }] }

[[boards.d.steps]]
name = "after"
plugin = "probe"
with = { ops = [{ op = "run", program = "sh", args = ["-c", "true"] }] }
"#;

/// The checks every forced run passes: confined as the sandbox user, no
/// secret anywhere, the secret's step and its dependent skipped with why.
fn assert_confined_without_secrets(p: &Pipeline, r: &crate::harness::Run, why: &str) {
    let uid = std::fs::read_to_string(p.workspace("b").join("uid.txt")).expect("uid.txt");
    if is_root() {
        assert_eq!(uid.trim(), "65534", "the step's processes run as the sandbox user");
    }
    let env = std::fs::read_to_string(p.workspace("b").join("env.txt")).expect("env.txt");
    assert!(!env.contains(VALUE), "{env}");
    assert_eq!(r.status("d.deploy"), "skipped");
    assert_eq!(r.error("d.deploy"), why);
    assert_eq!(r.status("d.after"), "skipped");
    assert_eq!(r.error("d.after"), "dependency d.deploy was skipped");
    assert!(!p.workspace("d").join("token.txt").exists());
    assert_eq!(files_containing(&p.dir().join(".baton"), VALUE.as_bytes()), Vec::<String>::new());
}

#[test]
fn run_untrusted_confines_every_step_and_gives_no_secret() {
    let p = Pipeline::new(ALL_TRUSTED);
    let r = p.run_env(&[("BATON_IT_TOKEN", VALUE)], &["--untrusted"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, p.log("b.who"));
    assert_eq!(r.report["kind"], "untrusted");
    assert_confined_without_secrets(&p, &r, "secrets are not given to untrusted runs");
    // The file's [policy.untrusted] allows bash: without an operator policy it stands.
    assert_eq!(r.status("b.bash"), "ok");
    let notes = r.report["notes"].to_string();
    assert!(notes.contains("step b.who: untrusted steps may not read `BATON_IT_TOKEN`"), "{notes}");
}

#[test]
fn an_operator_policy_is_a_ceiling_the_pipeline_cannot_widen() {
    let p = Pipeline::new(ALL_TRUSTED);
    let policy = tempfile::tempdir().expect("tempdir");
    let file = policy.path().join("policy.toml");
    std::fs::write(
        &file,
        "[policy]\ntrust = \"untrusted\"\n[policy.untrusted]\nspawn = [\"sh\"]\nmemory = \"128MiB\"\nmax_children = 2\n",
    )
    .expect("write policy");
    let r = p.run_env(&[("BATON_IT_TOKEN", VALUE), ("BATON_POLICY", file.to_str().expect("utf-8"))], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.report["kind"], "untrusted");
    assert_confined_without_secrets(&p, &r, "secrets are not given to untrusted runs");
    assert_eq!(r.status("b.bash"), "failed");
    assert!(
        r.error("b.bash").starts_with("denied: program `bash` is not in the spawn allow-list"),
        "{}",
        r.error("b.bash")
    );
    let notes = r.report["notes"].to_string();
    for said in [
        "policy.untrusted.memory: memory 2GiB is above the untrusted cap 128MiB",
        "policy.untrusted.max_children: max_children 64 is above the untrusted cap 2",
        "policy.untrusted.spawn: untrusted steps may not run `bash`",
    ] {
        assert!(notes.contains(said), "{said} in {notes}");
    }
    assert!(r.stderr.contains("policy.untrusted.memory"), "said at the start: {}", r.stderr);

    // `--policy FILE` does the same; a bad policy file is refused by name.
    let r = p.run_env(&[("BATON_IT_TOKEN", VALUE)], &["--policy", file.to_str().expect("utf-8")]);
    assert_eq!(r.status("b.bash"), "failed");
    std::fs::write(&file, "[policy.untrusted]\nmemory = \"lots\"\n").expect("write policy");
    let r = p.run(&["--policy", file.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("policy.toml: policy.untrusted.memory"), "{}", r.stderr);
}

/// The trusted pipeline of the try tests: `b.look` reads the source,
/// `x.bash` runs a program only the patch allows, `d.deploy` has a secret.
const TRUSTED: &str = r#"
[plugins]
probe = "{probe}"

[policy.untrusted]
spawn = ["sh"]

[[boards.b.steps]]
name = "look"
plugin = "probe"
trust = "untrusted"
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "cat \"$BATON_SRC/hello.txt\" > seen.txt; id -u > uid.txt; env > env.txt"] },
] }

[[boards.x.steps]]
name = "bash"
plugin = "probe"
trust = "untrusted"
with = { ops = [{ op = "run", program = "bash", args = ["-c", "true"] }] }

[[boards.d.steps]]
name = "deploy"
plugin = "probe"
secrets = ["BATON_IT_TOKEN"]
with = { ops = [{ op = "run", program = "sh", args = ["-c", "echo $BATON_IT_TOKEN > token.txt"] }] }
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A committed trusted checkout with `hello.txt` = `old`.
fn checkout() -> Pipeline {
    let p = Pipeline::new(TRUSTED);
    std::fs::write(p.dir().join("hello.txt"), "old\n").expect("write");
    std::fs::write(p.dir().join(".gitignore"), ".baton/\n").expect("write");
    git(p.dir(), &["init", "-q"]);
    git(p.dir(), &["add", "."]);
    git(p.dir(), &["commit", "-q", "-m", "trusted"]);
    p
}

/// The diff of `edit` to the checkout, with the checkout restored.
fn patch_of(p: &Pipeline, edit: impl FnOnce(&Path)) -> Vec<u8> {
    edit(p.dir());
    git(p.dir(), &["add", "-N", "."]);
    let diff = git(p.dir(), &["diff", "--binary"]);
    git(p.dir(), &["reset", "-q", "--hard"]);
    git(p.dir(), &["clean", "-q", "-fd", "-e", ".baton"]);
    diff.into_bytes()
}

fn try_run(p: &Pipeline, patch: &[u8], env: &[(&str, &str)], more: &[&str]) -> crate::harness::Run {
    let outside = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(outside.path(), patch).expect("write patch");
    let mut c = p.baton();
    c.envs(env.iter().copied()).args(["try", "--json", "--patch"]).arg(outside.path()).args(more);
    crate::harness::Run::from_output(c.output().expect("run baton try"))
}

#[test]
fn a_patch_cannot_change_the_pipeline_reach_a_secret_or_the_checkout() {
    let p = checkout();
    let before = std::fs::read(p.file()).expect("read");
    let patch = patch_of(&p, |dir| {
        let text = std::fs::read_to_string(dir.join("baton.toml")).expect("read");
        let text = text
            .replace("spawn = [\"sh\"]", "spawn = [\"sh\", \"bash\"]")
            .replace("trust = \"untrusted\"\nwith", "trust = \"trusted\"\nsecrets = [\"BATON_IT_TOKEN\"]\nwith");
        std::fs::write(dir.join("baton.toml"), text).expect("write");
        std::fs::write(dir.join("hello.txt"), "new\n").expect("write");
        std::fs::write(dir.join("blob.bin"), [0u8, 159, 146, 150, 255]).expect("write");
    });
    let r = try_run(&p, &patch, &[("BATON_IT_TOKEN", VALUE)], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.report["kind"], "try");
    let info = &r.report["try_run"];
    assert_eq!(info["ignored"], serde_json::json!(["baton.toml"]));
    assert_eq!(info["files"], serde_json::json!(["baton.toml", "blob.bin", "hello.txt"]));
    assert_eq!(info["base"], format!("git:{}", git(p.dir(), &["rev-parse", "HEAD"]).trim()));
    assert!(
        r.stderr.contains("these changes to the pipeline are not used in a try run: baton.toml"),
        "said at the start: {}",
        r.stderr
    );
    // The patched source at /src; the trusted pipeline's confinement.
    assert_eq!(r.status("b.look"), "ok", "{}", p.log("b.look"));
    assert_eq!(std::fs::read_to_string(p.workspace("b").join("seen.txt")).expect("seen"), "new\n");
    if is_root() {
        let uid = std::fs::read_to_string(p.workspace("b").join("uid.txt")).expect("uid");
        assert_eq!(uid.trim(), "65534");
    }
    assert!(!std::fs::read_to_string(p.workspace("b").join("env.txt")).expect("env").contains(VALUE));
    assert_eq!(r.status("x.bash"), "failed");
    assert!(r.error("x.bash").starts_with("denied: program `bash`"), "{}", r.error("x.bash"));
    assert_eq!(r.status("d.deploy"), "skipped");
    assert_eq!(r.error("d.deploy"), "secrets are not given to try runs");
    assert_eq!(files_containing(&p.dir().join(".baton"), VALUE.as_bytes()), Vec::<String>::new());
    // The checkout is as it was, and `baton runs` lists the try run.
    assert_eq!(std::fs::read(p.file()).expect("read"), before);
    assert_eq!(std::fs::read_to_string(p.dir().join("hello.txt")).expect("read"), "old\n");
    assert!(!p.dir().join("blob.bin").exists());
    assert_eq!(git(p.dir(), &["status", "--porcelain"]), "");
    let runs = p.baton().arg("runs").output().expect("baton runs");
    let listed = String::from_utf8_lossy(&runs.stdout);
    assert!(listed.contains("try"), "{listed}");
    let html = std::fs::read_to_string(p.latest_run().expect("a run").join("report.html")).expect("html");
    assert!(html.contains("class=\"badge try\""), "the page has a try badge");
}

#[test]
fn a_directory_that_is_no_repository_is_its_own_base() {
    let p = Pipeline::new(TRUSTED);
    std::fs::write(p.dir().join("hello.txt"), "old\n").expect("write");
    let patch = b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-old\n+new\n";
    let r = try_run(&p, patch, &[], &[]);
    assert_eq!(r.status("b.look"), "ok", "{}\n{}", r.stderr, p.log("b.look"));
    assert!(r.report["try_run"]["base"].as_str().expect("base").starts_with("tree:"));
    assert_eq!(std::fs::read_to_string(p.workspace("b").join("seen.txt")).expect("seen"), "new\n");
    assert_eq!(std::fs::read_to_string(p.dir().join("hello.txt")).expect("read"), "old\n");
}

#[test]
fn bad_patches_are_refused_before_any_step_runs() {
    let p = checkout();
    let cases: [(&[u8], &[&str], &str); 5] = [
        (
            b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-other\n+new\n",
            &[],
            "patch failed: hello.txt:1",
        ),
        (
            b"diff --git a/../evil b/../evil\nnew file mode 100644\n--- /dev/null\n+++ b/../evil\n@@ -0,0 +1 @@\n+x\n",
            &[],
            "../evil",
        ),
        (
            b"diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/tmp\n\\ No newline at end of file\ndiff --git a/link/x b/link/x\nnew file mode 100644\n--- /dev/null\n+++ b/link/x\n@@ -0,0 +1 @@\n+x\n",
            &[],
            "link/x",
        ),
        (
            b"diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+../../..\n\\ No newline at end of file\n",
            &[],
            "`link` -> `../../..`",
        ),
        (
            b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-old\n+new\n",
            &["--max-patch", "16"],
            "over the patch size cap 16B",
        ),
    ];
    for (patch, args, culprit) in cases {
        let r = try_run(&p, patch, &[], args);
        assert_eq!(r.code, 2, "{culprit}: {}", r.stderr);
        assert!(r.stderr.contains(culprit), "{culprit} in {}", r.stderr);
        assert!(p.runs().is_empty(), "{culprit}: no run started");
        assert_eq!(git(p.dir(), &["status", "--porcelain"]), "");
    }
}

#[test]
fn with_try_signers_only_signed_patches_run() {
    let p = checkout();
    let keys = tempfile::tempdir().expect("tempdir");
    let keygen = |name: &str| {
        let key = keys.path().join(name);
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen");
        assert!(ok.success());
        key
    };
    let (good, bad) = (keygen("good"), keygen("bad"));
    let public = std::fs::read_to_string(good.with_extension("pub")).expect("pub");
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("good@example.com namespaces=\"baton-try\" {public}")).expect("write");
    let patch = b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-old\n+new\n";
    let patch_file = keys.path().join("p.diff");
    std::fs::write(&patch_file, patch).expect("write");
    let message = p.baton().args(["try", "--print-message", "--patch"]).arg(&patch_file).output().expect("baton");
    let message_file = keys.path().join("message");
    std::fs::write(&message_file, &message.stdout).expect("write");
    let sign = |key: &Path| {
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-Y", "sign", "-n", "baton-try", "-f"])
            .arg(key)
            .arg(&message_file)
            .output()
            .expect("ssh-keygen");
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        let sig = keys.path().join("message.sig");
        let bytes = std::fs::read(&sig).expect("sig");
        std::fs::remove_file(&sig).expect("remove");
        bytes
    };
    let signers = allowed.to_str().expect("utf-8");
    let env = [("BATON_TRY_SIGNERS", signers)];

    let r = try_run(&p, patch, &env, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("needs --signature FILE"), "{}", r.stderr);

    let wrong = keys.path().join("wrong.sig");
    std::fs::write(&wrong, sign(&bad)).expect("write");
    let r = try_run(&p, patch, &env, &["--signature", wrong.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is refused"), "{}", r.stderr);
    assert!(p.runs().is_empty());

    let right = keys.path().join("right.sig");
    std::fs::write(&right, sign(&good)).expect("write");
    // A good signature over another patch is refused too.
    let other = b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-old\n+evil\n";
    let r = try_run(&p, other, &env, &["--signature", right.to_str().expect("utf-8")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = try_run(&p, patch, &env, &["--signature", right.to_str().expect("utf-8")]);
    assert_eq!(r.status("b.look"), "ok", "{}", r.stderr);
}

/// `baton try --nats`: the patched tree travels to the worker as `/src`,
/// and the worker runs the step untrusted though the file says trusted.
#[test]
fn a_try_run_on_a_worker_sees_the_patch_and_runs_untrusted() {
    let server = crate::nats_server::NatsServer::start();
    let url = server.url();
    let w = crate::cluster_runs::WorkerProc::start(&url, "w1", 1, &[]);
    let uid = if is_root() { "65534" } else { "" };
    let p = Pipeline::new(&format!(
        r#"
[plugins]
probe = "{{probe}}"
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]

[[boards.b.steps]]
name = "look"
plugin = "probe"
with = {{ ops = [
  {{ op = "run", program = "sh", args = ["-c", "cat \"$BATON_SRC/hello.txt\"; test -n '{uid}' || exit 0; id -u"], expect_stdout = "new\n{uid}{nl}" }},
] }}

[[boards.d.steps]]
name = "deploy"
plugin = "probe"
secrets = ["BATON_IT_TOKEN"]
with = {{ ops = [{{ op = "run", program = "sh", args = ["-c", "true"] }}] }}
"#,
        nl = if uid.is_empty() { "" } else { "\\n" }
    ));
    std::fs::write(p.dir().join("hello.txt"), "old\n").expect("write");
    let patch = b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-old\n+new\n";
    let r = try_run(&p, patch, &[("BATON_IT_TOKEN", VALUE)], &["--nats", &url]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, w.log());
    assert_eq!(r.step("b.look")["attempts"][0]["worker"], "w1");
    assert_eq!(r.error("d.deploy"), "secrets are not given to try runs");
    assert_eq!(std::fs::read_to_string(p.dir().join("hello.txt")).expect("read"), "old\n");
}

/// A pool kept for strangers' code: with one `--accept untrusted` and one
/// `--accept trusted` worker, every step of a try run (trusted in the file)
/// runs on the first, and the second claims nothing.
#[test]
fn a_try_run_runs_only_on_workers_that_accept_untrusted_work() {
    let server = crate::nats_server::NatsServer::start();
    let url = server.url();
    let wt = crate::cluster_runs::WorkerProc::start_args(&url, "wt", 2, &["--accept", "trusted"]);
    let wu = crate::cluster_runs::WorkerProc::start_args(&url, "wu", 2, &["--accept", "untrusted"]);
    let mut toml = String::from(
        "[plugins]\nprobe = \"{probe}\"\n[policy]\nspawn = [\"sh\"]\n[policy.untrusted]\nspawn = [\"sh\"]\n",
    );
    for b in ["a", "b", "c"] {
        toml.push_str(&format!(
            "[[boards.{b}.steps]]\nname = \"look\"\nplugin = \"probe\"\nwith = {{ ops = [{{ op = \"run\", program = \"sh\", args = [\"-c\", \"cat \\\"$BATON_SRC/hello.txt\\\"\"], expect_stdout = \"new\\n\" }}] }}\n"
        ));
    }
    let p = Pipeline::new(&toml);
    std::fs::write(p.dir().join("hello.txt"), "old\n").expect("write");
    let patch = b"diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-old\n+new\n";
    let r = try_run(&p, patch, &[], &["--nats", &url]);
    let logs = crate::cluster_runs::all_logs(&[&wt, &wu]);
    assert_eq!(r.code, 0, "{}\n{logs}", r.stderr);
    for id in ["a.look", "b.look", "c.look"] {
        assert_eq!(r.step(id)["attempts"][0]["worker"], "wu", "{id}: {logs}");
    }
    let mut on_u = wu.passed();
    on_u.sort();
    assert_eq!(on_u, ["a.look", "b.look", "c.look"], "{logs}");
    assert!(wt.passed().is_empty(), "the trusted worker ran a step of a try run: {logs}");
}
