use std::path::Path;

use crate::plan::{OnFailure, Plan, PlanErrors, Trust};

fn parse(text: &str) -> Result<Plan, PlanErrors> {
    Plan::parse(text, Path::new("/p/baton.toml"))
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

fn deps_of(plan: &Plan, id: &str) -> Vec<String> {
    let s = &plan.steps[plan.step_index(id).expect(id)];
    s.deps.iter().map(|&d| plan.steps[d].id.clone()).collect()
}

const ISSUE_EXAMPLE: &str = r#"
[pipeline]
name = "demo"
jobs = 4

[plugins]
shell = "plugins/shell.wasm"

[policy]
spawn = ["sh"]

[[boards.linux.steps]]
name = "L1"
plugin = "shell"
with = { run = "echo hello > hello.txt" }

[[boards.linux.steps]]
name = "L2"

[[boards.windows.steps]]
name = "W1"
plugin = "shell"
after = ["linux.L1"]
with = { run = "true" }
"#;

#[test]
fn the_issue_example_is_valid() {
    let plan = parse(ISSUE_EXAMPLE).expect("valid");
    assert_eq!(plan.name, "demo");
    assert_eq!(plan.jobs, 4);
    assert_eq!(plan.boards, ["linux", "windows"]);
    let ids: Vec<_> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["linux.L1", "linux.L2", "windows.W1"]);
    assert_eq!(deps_of(&plan, "linux.L2"), ["linux.L1"]);
    assert_eq!(deps_of(&plan, "windows.W1"), ["linux.L1"]);
    let l1 = &plan.steps[0];
    assert_eq!(l1.config, r#"{"run":"echo hello > hello.txt"}"#);
    assert_eq!(l1.policy.spawn, ["sh"]);
    // L2 names no plugin and no `with`: a sync point.
    assert_eq!(plan.steps[1].plugin, None);
    let shell = &plan.plugins[l1.plugin.expect("plugin")];
    assert_eq!(shell.source, crate::plan::PluginSource::File("/p/plugins/shell.wasm".into()));
}

#[test]
fn cycles_are_printed_as_a_full_path() {
    let errs = errors(
        r#"
[[boards.b.steps]]
name = "a"
after = ["c"]
[[boards.b.steps]]
name = "b"
[[boards.b.steps]]
name = "c"
"#,
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].ends_with("dependency cycle: b.a -> b.c -> b.b -> b.a"), "{}", errs[0]);
}

#[test]
fn every_error_is_reported_with_its_key_path() {
    let errs = errors(
        r#"
[pipeline]
jobs = 0
colour = "red"

[[boards.linux.steps]]
name = "L1"
plugin = "shel"

[[boards.linux.steps]]
name = "L1"

[[boards.windows.steps]]
name = "W3"
after = ["linux.L9"]
pool = "fg"
memory = "lots"
"#,
    );
    let joined = errs.join("\n");
    assert!(
        joined.contains("pipeline.colour: unknown key `colour` (expected one of: name, jobs, cache_salt)"),
        "{joined}"
    );
    assert!(
        joined.contains("boards.linux.steps[0].plugin: step linux.L1: unknown plugin `shel` (did you mean shell?)"),
        "{joined}"
    );
    assert!(
        joined.contains("boards.linux.steps[1].name: duplicate step linux.L1 (first defined at boards.linux.steps[0])"),
        "{joined}"
    );
    assert!(
        joined.contains(
            "boards.windows.steps[0].after[0]: step windows.W3: unknown dependency linux.L9 (did you mean linux.L1?)"
        ),
        "{joined}"
    );
    assert!(joined.contains("boards.windows.steps[0].pool: step windows.W3: unknown pool `fg`"), "{joined}");
    assert!(joined.contains("boards.windows.steps[0].memory: step windows.W3: bad size `lots`"), "{joined}");
}

#[test]
fn unknown_step_keys_are_rejected_with_a_suggestion_and_no_knock_on_errors() {
    let errs = errors(
        r#"
[[boards.b.steps]]
name = "a"
afterr = ["x"]
retires = 3
[[boards.b.steps]]
name = "c"
after = ["a"]
"#,
    );
    assert_eq!(
        errs,
        [
            "boards.b.steps[0].afterr: unknown key `afterr` (did you mean after?)",
            "boards.b.steps[0].retires: unknown key `retires` (did you mean retries?)",
        ],
        "step a still exists for c's `after`"
    );
}

#[test]
fn syntax_errors_say_where() {
    let errs = errors("[pipeline\nname = 1");
    assert!(errs[0].starts_with("not valid TOML"), "{}", errs[0]);
    assert!(errs[0].contains("line 1"), "{}", errs[0]);
}

#[test]
fn templates_expand_per_board_with_extra_steps() {
    let plan = parse(
        r#"
[pools]
foreground = 1

[templates.cros]
steps = [
  { name = "build", pool = "foreground" },
  { name = "test", on_failure = "continue" },
  { name = "archive", after = ["build"], always = true },
]

[boards.x86-generic]
template = "cros"

[boards.arm-generic]
template = "cros"
[[boards.arm-generic.steps]]
name = "upload"
after = ["archive", "x86-generic.archive"]
"#,
    )
    .expect("valid");
    let ids: Vec<_> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "x86-generic.build",
            "x86-generic.test",
            "x86-generic.archive",
            "arm-generic.build",
            "arm-generic.test",
            "arm-generic.archive",
            "arm-generic.upload"
        ]
    );
    assert_eq!(deps_of(&plan, "arm-generic.test"), ["arm-generic.build"]);
    assert_eq!(deps_of(&plan, "arm-generic.archive"), ["arm-generic.build"]);
    assert_eq!(deps_of(&plan, "arm-generic.upload"), ["arm-generic.archive", "x86-generic.archive"]);
    let test = &plan.steps[plan.step_index("x86-generic.test").expect("test")];
    assert_eq!(test.on_failure, OnFailure::Continue);
    assert!(plan.steps[2].always);
    assert_eq!(plan.steps[0].pool, Some(0));
}

#[test]
fn template_errors_name_the_board() {
    let errs = errors(
        r#"
[templates.cros]
steps = [{ name = "build" }, { name = "test", after = ["biuld"] }]
[boards.x86-generic]
template = "cros"
[boards.amd64]
template = "crso"
"#,
    );
    let joined = errs.join("\n");
    assert!(
        joined.contains("templates.cros.steps[1] (board x86-generic).after[0]: step x86-generic.test: unknown dependency x86-generic.biuld (did you mean x86-generic.build?)"),
        "{joined}"
    );
    assert!(joined.contains("boards.amd64.template: unknown template `crso` (did you mean cros?)"), "{joined}");
}

#[test]
fn untrusted_steps_cannot_raise_their_caps() {
    let errs = errors(
        r#"
[policy]
spawn = ["sh", "make"]
[policy.untrusted]
spawn = ["sh"]
memory = "128MiB"
[plugins]
trybot = { path = "trybot.wasm", trust = "untrusted" }
[[boards.try.steps]]
name = "t1"
plugin = "trybot"
memory = "1GiB"
spawn = ["make"]
trust = "trusted"
"#,
    );
    let joined = errs.join("\n");
    assert!(
        joined.contains("boards.try.steps[0].memory: step try.t1: memory 1GiB is above the untrusted cap 128MiB"),
        "{joined}"
    );
    assert!(joined.contains("boards.try.steps[0].spawn: step try.t1: untrusted steps may not run `make`"), "{joined}");
    assert!(joined.contains("a step cannot make it trusted"), "{joined}");
}

#[test]
fn untrusted_steps_start_from_the_untrusted_policy() {
    let plan = parse(
        r#"
[policy]
spawn = ["sh", "make"]
memory = "2GiB"
[policy.untrusted]
memory = "128MiB"
[[boards.try.steps]]
name = "t1"
trust = "untrusted"
[[boards.try.steps]]
name = "t2"
"#,
    )
    .expect("valid");
    assert_eq!(plan.steps[0].policy.trust, Trust::Untrusted);
    assert_eq!(plan.steps[0].policy.memory, 128 << 20);
    assert!(plan.steps[0].policy.spawn.is_empty());
    assert_eq!(plan.steps[1].policy.memory, 2 << 30);
    assert_eq!(plan.steps[1].policy.spawn, ["sh", "make"]);
}

#[test]
fn a_changed_step_changes_its_fingerprint_only() {
    let a = parse("[[boards.b.steps]]\nname = \"x\"\n[[boards.b.steps]]\nname = \"y\"\n").expect("valid");
    let b = parse("[[boards.b.steps]]\nname = \"x\"\n[[boards.b.steps]]\nname = \"y\"\nretries = 2\n").expect("valid");
    assert_eq!(a.steps[0].fingerprint, b.steps[0].fingerprint);
    assert_ne!(a.steps[1].fingerprint, b.steps[1].fingerprint);
}

#[test]
fn the_wasm_stack_is_set_for_the_whole_pipeline() {
    let plan = parse("[policy]\nstack = \"4MiB\"\n[[boards.b.steps]]\nname = \"s\"\n").expect("valid");
    assert_eq!(plan.wasm_stack, 4 << 20);
    assert_eq!(plan.steps[0].policy.stack, 4 << 20);
    let errs = errors("[policy]\nstack = \"1GiB\"\n[[boards.b.steps]]\nname = \"s\"\nstack = \"2MiB\"\n");
    assert!(errs.iter().any(|e| e == "policy.stack: must be between 64KiB and 64MiB"), "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("boards.b.steps[0].stack: step b.s: the wasm stack is set for the whole pipeline")),
        "{errs:?}"
    );
}

#[test]
fn registry_plugins_are_references_as_strings_or_tables() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let plan = parse(&format!(
        r#"
[plugins]
junit = "oci://registry.example/acme/baton-junit:1.2.0"
pinned = {{ oci = "registry.example/acme/baton-junit", version = "1.2.0", digest = "{digest}", trust = "untrusted" }}

[[boards.b.steps]]
name = "s"
plugin = "junit"
"#
    ))
    .expect("valid");
    let source = |name: &str| plan.plugins.iter().find(|p| p.name == name).map(|p| p.source.clone()).expect(name);
    let crate::plan::PluginSource::Oci { reference, blob: None } = source("junit") else { panic!("oci source") };
    assert_eq!(reference.to_string(), "oci://registry.example/acme/baton-junit:1.2.0");
    let crate::plan::PluginSource::Oci { reference, .. } = source("pinned") else { panic!("oci source") };
    assert_eq!(reference.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(reference.tag.as_deref(), Some("1.2.0"));
    assert_eq!(plan.plugins.iter().find(|p| p.name == "pinned").and_then(|p| p.trust), Some(Trust::Untrusted));
}

#[test]
fn bad_registry_entries_name_their_key() {
    let errs = errors(
        r#"
[plugins]
a = "oci://registry.example/acme/junit"
b = { oci = "registry.example/acme/junit:1.0", version = "1.1" }
c = { oci = "registry.example/acme/junit", version = "1", sha256 = "00" }
d = { path = "x.wasm", oci = "registry.example/acme/junit:1" }
e = { path = "x.wasm", digest = "sha256:00" }

[[boards.b.steps]]
name = "s"
"#,
    );
    assert_eq!(
        errs,
        [
            "plugins.a: invalid oci reference `oci://registry.example/acme/junit`: no tag or digest (add `:1.2.0` or `@sha256:…`; `latest` is never assumed)",
            "plugins.b: give the tag and digest either in `oci` or as `version` and `digest`, not both",
            "plugins.c.sha256: a registry plugin is pinned by `digest` (its manifest digest), not `sha256`",
            "plugins.d: give either `path` (a .wasm file) or `oci` (a registry reference), not both",
            "plugins.e.digest: `digest` goes with `oci`; a file plugin is pinned by `sha256`",
        ]
    );
}

#[test]
fn boards_may_require_worker_labels() {
    let plan = parse(
        "[boards.l]\nruns_on = { os = \"linux\", arch = \"x86_64\" }\n[[boards.l.steps]]\nname = \"a\"\n[[boards.w.steps]]\nname = \"b\"\n",
    )
    .expect("valid");
    assert_eq!(plan.runs_on[0].get("os").map(String::as_str), Some("linux"));
    assert_eq!(plan.runs_on[0].len(), 2);
    assert!(plan.runs_on[1].is_empty());
    let errs = errors("[boards.l]\nruns_on = { \"o s\" = \"linux\" }\n[[boards.l.steps]]\nname = \"a\"\n");
    assert_eq!(errs, ["boards.l.runs_on: invalid label `o s` (use letters, digits, `_` and `-`)"]);
}
