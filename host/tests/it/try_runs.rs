//! Runs whose trust the operator decides, not the pipeline file: `baton run
//! --untrusted`, an operator policy (`--policy`, `BATON_POLICY`), and
//! `baton try --patch` (a patch under the trusted pipeline).


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
    assert!(r.error("b.bash").starts_with("denied: program `bash` is not in the spawn allow-list"), "{}", r.error("b.bash"));
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

