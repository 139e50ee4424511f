//! `secrets`: host variables passed to a step's processes whose values
//! appear nowhere baton writes or shows, whoever prints them and however
//! the output is cut.

use std::path::Path;

use crate::harness::Pipeline;

pub const VALUE: &str = "s3cr3t-Value-42";

pub const LEAKY: &str = r#"
[plugins]
probe = "{probe}"

[policy]
spawn = ["sh"]

[[boards.b.steps]]
name = "leaky"
plugin = "probe"
secrets = ["BATON_IT_TOKEN"]
with = { ops = [
  { op = "run", program = "sh", args = ["-c", "test \"$BATON_IT_TOKEN\" = s3cr3t-Value-42"] },
  { op = "run", program = "sh", args = ["-c", "echo \"token is $BATON_IT_TOKEN\"; echo \"stderr has $BATON_IT_TOKEN too\" >&2"] },
  { op = "run", program = "sh", args = ["-c", "printf 'split: %s' \"${BATON_IT_TOKEN%???????}\"; sleep 0.3; printf '%s end\\n' \"${BATON_IT_TOKEN#????????}\""] },
  { op = "run", program = "sh", args = ["-c", "printf %s \"$BATON_IT_TOKEN\""], log_stdout = true },
  { op = "run", program = "sh", args = ["-c", "printf %s \"$BATON_IT_TOKEN\""], expect_stdout = "something else" },
] }
"#;

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if entry.file_type().expect("type").is_dir() {
                todo.push(path);
            } else if std::fs::read(&path).expect("read").windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn a_secret_appears_in_no_file_and_no_output_of_baton() {
    let p = Pipeline::new(LEAKY);
    let report_dir = p.dir().join(".baton/copies");
    let run = p
        .baton()
        .env("BATON_IT_TOKEN", VALUE)
        .args(["run", "-v", "--json", "--report", "junit,html", "--report-dir"])
        .arg(&report_dir)
        .output()
        .expect("run");
    let mut shown = vec![run.stdout.clone(), run.stderr.clone()];
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    // The secret reached the process (the first op checks it), and the
    // failing op's error had it: masked, the rest of the message kept.
    assert!(
        stderr.contains("sh: expected stdout `something else`, got `***`"),
        "the error is masked, not dropped: {stderr}"
    );

    let logs = p.baton().args(["logs", "b.leaky"]).output().expect("logs");
    let log = String::from_utf8_lossy(&logs.stdout).into_owned();
    for line in ["token is ***", "stderr has *** too", "split: *** end", "info | sh said: ***"] {
        assert!(log.lines().any(|l| l.ends_with(line)), "the line stays, the value is masked: {line:?} in\n{log}");
    }
    shown.push(logs.stdout);
    for args in [&["logs", "--raw", "b.leaky"][..], &["logs", "-f"], &["logs"], &["runs"], &["runs", "--json"]] {
        let out = p.baton().args(args).output().expect("baton");
        shown.push(out.stdout);
        shown.push(out.stderr);
    }
    for (i, bytes) in shown.iter().enumerate() {
        assert!(
            !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
            "output {i} shows the secret: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    let leaks = files_containing(&p.dir().join(".baton"), VALUE.as_bytes());
    assert!(leaks.is_empty(), "files holding the secret: {leaks:?}");
    // The reports exist (so the scan above read them).
    for file in ["report.html", "junit.xml"] {
        assert!(report_dir.join(file).exists(), "{file}");
    }
}

#[test]
fn a_missing_secret_stops_the_run_before_any_step() {
    let p = Pipeline::new(LEAKY);
    let out = p.baton().env_remove("BATON_IT_TOKEN").arg("run").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: secret `BATON_IT_TOKEN` (listed by step b.leaky) is not set in baton's environment: export it \
         before `baton run`, or remove it from `secrets`\n"
    );
    assert!(!p.dir().join(".baton/runs").exists(), "no run was started");
}

#[test]
fn check_refuses_bad_secret_lists() {
    let p = Pipeline::new(
        r#"
[policy]
env = ["SHARED"]
secrets = ["SHARED"]
[policy.untrusted]
secrets = ["CI_TOKEN"]

[[boards.b.steps]]
name = "s"
secrets = ["1BAD"]

[[boards.b.steps]]
name = "u"
trust = "untrusted"
secrets = ["DEPLOY_KEY"]
"#,
    );
    let out = p.check();
    assert_eq!(out.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&out.stderr).into_owned();
    for want in [
        "policy.secrets: `SHARED` is listed in both `env` and `secrets`: list a secret in `secrets` only",
        "step b.s: invalid variable name `1BAD` (use letters, digits and `_`, not starting with a digit)",
        "step b.u: untrusted steps may not read secret `DEPLOY_KEY` (not in [policy.untrusted] secrets)",
    ] {
        assert!(errors.contains(want), "{want:?} in\n{errors}");
    }
}
