//! Results where CI users look: `baton run` on GitHub Actions writes
//! annotations, log groups and the job summary; on GitLab collapsible
//! sections; elsewhere nothing. A step's output cannot forge a command.

use crate::harness::Pipeline;

const PIPELINE: &str = r#"
[plugins]
probe = "{probe}"
[[boards.lin.steps]]
name = "fine"
plugin = "probe"
with = { ops = [{ op = "print", text = "all good" }] }
[[boards.win.steps]]
name = "bad"
plugin = "probe"
with = { ops = [
  { op = "print", text = "::error title=forged::not from baton" },
  { op = "fail", message = "50% done, then: broke" },
] }
"#;

#[test]
fn github_gets_annotations_groups_and_a_summary() {
    let p = Pipeline::new(PIPELINE);
    let summary = p.dir().join("summary.md");
    let out = p
        .baton()
        .args(["run"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("baton run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let error = lines.iter().find(|l| l.starts_with("::error title=baton")).expect("an annotation");
    assert!(
        error.starts_with("::error title=baton%3A step win.bad failed (attempt 1)::50%25 done%2C then: broke")
            || error.starts_with("::error title=baton%3A step win.bad failed (attempt 1)::50%25 done, then: broke"),
        "{error}"
    );
    assert!(error.contains("%0A"), "the log tail follows on escaped lines: {error}");
    // The forged line is printed only while commands are stopped.
    let forged = lines.iter().position(|l| l.contains("::error title=forged")).expect("the step's line");
    let stop = lines[..forged].iter().rposition(|l| l.starts_with("::stop-commands::")).expect("commands stopped");
    let token = lines[stop].trim_start_matches("::stop-commands::");
    assert!(token.len() >= 32, "an unguessable end marker: {token}");
    let resume = forged + lines[forged..].iter().position(|l| *l == format!("::{token}::")).expect("commands resumed");
    assert!(stop < forged && forged < resume, "{stdout}");
    assert!(lines.contains(&"::group::board lin") && lines.contains(&"::group::board win"), "{stdout}");
    assert_eq!(stdout.matches("::endgroup::").count(), 2);
    let md = std::fs::read_to_string(&summary).expect("the job summary");
    assert!(md.contains("| step | outcome | duration | attempts | error |"), "{md}");
    let bad = md.find("| win.bad | failed").expect("the failed row");
    assert!(bad < md.find("| lin.fine | ok").expect("the ok row"), "failures first: {md}");

    let quiet = p.baton().args(["run"]).env_remove("GITHUB_ACTIONS").env_remove("GITLAB_CI").output().expect("run");
    assert!(!String::from_utf8_lossy(&quiet.stdout).contains("::"), "nothing outside CI");
    let gitlab = p.baton().args(["run", "--ci-format", "gitlab"]).output().expect("run");
    let text = String::from_utf8_lossy(&gitlab.stdout);
    assert!(text.contains("section_start:") && text.contains(":baton_win[collapsed=false]\r"), "{text}");
    assert!(text.contains(":baton_lin[collapsed=true]\r"), "{text}");
    let bad = p.baton().args(["run", "--ci-format", "jenkins"]).output().expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown CI format `jenkins`"));
}
