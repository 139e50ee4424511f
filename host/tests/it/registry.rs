//! Plugins from OCI registries: a real registry on loopback
//! (`docker-registry`), outside clients (oras-py, skopeo) pushing and
//! pulling next to baton, the lock, the cache, offline runs, refusals and
//! Basic auth.

use std::path::Path;
use std::process::{Command, Output};

use baton_host::runtime::contract::VERSION as CONTRACT;
use baton_test_artifacts::{CONTRACT_V0_2_0, NOOP, PROBE, WRONG_WORLD};
use sha2::{Digest, Sha256};

use crate::harness::{Pipeline, Run};
use crate::registry_server::{Registry, fake_registry, oras, skopeo_raw_manifest};

pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn file_digest(path: &str) -> String {
    sha256(&std::fs::read(path).expect("read fixture"))
}

/// A pipeline whose one step runs `plugin = "<reference>"` and writes `out.txt`
/// (the probe does; the noop plugin does not).
fn pipeline(reference: &str) -> Pipeline {
    Pipeline::new(&format!(
        r#"
[plugins]
stage = "{reference}"

[[boards.b.steps]]
name = "s"
plugin = "stage"
with = {{ ops = [{{ op = "write", path = "out.txt", text = "pinned" }}] }}
"#
    ))
}

/// `baton ARGS` in the pipeline's directory with a private plugin cache
/// (under `.baton/`), no registry credentials and an empty Docker config.
pub(crate) fn baton(p: &Pipeline, args: &[&str]) -> Command {
    let mut c = p.baton();
    c.args(args)
        .env("BATON_PLUGIN_CACHE", p.dir().join(".baton/plugin-cache"))
        .env("DOCKER_CONFIG", p.dir().join("no-docker-config"))
        .env_remove("BATON_REGISTRY_HOST")
        .env_remove("BATON_REGISTRY_USERNAME")
        .env_remove("BATON_REGISTRY_PASSWORD")
        .env_remove("BATON_REGISTRY_TOKEN")
        .env_remove("BATON_REGISTRY_PLAIN_HTTP");
    c
}

fn run(p: &Pipeline, args: &[&str]) -> Run {
    let mut all = vec!["run", "--json"];
    all.extend_from_slice(args);
    Run::from_output(baton(p, &all).output().expect("run baton"))
}

pub(crate) fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lock(p: &Pipeline) -> toml::Table {
    let text = std::fs::read_to_string(p.dir().join("baton.lock")).expect("baton.lock written");
    toml::from_str(&text).expect("valid toml")
}

fn locked_plugin(p: &Pipeline) -> toml::Table {
    lock(p)["plugin"].as_array().and_then(|a| a.first()).and_then(|t| t.as_table()).cloned().expect("one entry")
}

fn runs(p: &Pipeline) -> usize {
    std::fs::read_dir(p.dir().join(".baton/runs")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_plugin_pushed_by_an_outside_client_runs_by_reference_and_is_locked() {
    let registry = Registry::start();
    let tag = format!("{}/acme/probe:1.0.0", registry.host());
    oras(&["push", &tag, PROBE, "application/wasm"], None);
    let manifest = sha256(&skopeo_raw_manifest(&tag));

    let p = pipeline(&format!("oci://{tag}"));
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_status("ok", &["b.s"]);
    assert_eq!(std::fs::read_to_string(p.workspace("b").join("out.txt")).expect("probe ran"), "pinned");

    let entry = locked_plugin(&p);
    assert_eq!(entry["name"].as_str(), Some("stage"));
    assert_eq!(entry["reference"].as_str(), Some(format!("oci://{tag}").as_str()));
    assert_eq!(entry["manifest"].as_str(), Some(manifest.as_str()));
    assert_eq!(entry["component"].as_str(), Some(file_digest(PROBE).as_str()));
    assert_eq!(entry["size"].as_integer(), Some(std::fs::metadata(PROBE).expect("size").len() as i64));
}

#[test]
fn baton_pushes_the_cncf_layout_that_an_outside_client_pulls_byte_for_byte() {
    let registry = Registry::start();
    let tag = format!("{}/acme/probe:2.1.0", registry.host());
    let p = pipeline("shell");
    let out = baton(&p, &["plugin", "push", PROBE, &format!("oci://{tag}")]).output().expect("push");
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();

    let raw = skopeo_raw_manifest(&tag);
    assert_eq!(sha256(&raw), printed, "the printed digest is the manifest's");
    let m: serde_json::Value = serde_json::from_slice(&raw).expect("manifest json");
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(m["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(m["layers"][0]["digest"], file_digest(PROBE));
    assert_eq!(m["annotations"]["dev.baton.stage.contract"], CONTRACT);
    assert_eq!(m["annotations"]["org.opencontainers.image.title"], "probe");

    let out = baton(&p, &["plugin", "inspect", "--json", &format!("oci://{tag}")]).output().expect("inspect");
    assert!(out.status.success(), "{}", text(&out));
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(inspected["manifest"], printed.as_str());
    assert_eq!(inspected["contract"], CONTRACT);
    assert_eq!(inspected["sha256"].as_str(), file_digest(PROBE).strip_prefix("sha256:"));

    let outdir = tempfile::tempdir().expect("tempdir");
    let files = oras(&["pull", &tag, &outdir.path().display().to_string()], None);
    let pulled = files.lines().next().expect("one file pulled");
    assert_eq!(std::fs::read(pulled).expect("pulled file"), std::fs::read(PROBE).expect("probe"));
}

#[test]
fn a_moved_tag_changes_nothing_until_updated_and_locked_refuses_an_edited_reference() {
    let registry = Registry::start();
    let tag = format!("{}/acme/stage:1.0.0", registry.host());
    oras(&["push", &tag, PROBE, "application/wasm"], None);
    let p = pipeline(&format!("oci://{tag}"));
    assert_eq!(run(&p, &[]).code, 0);
    let pinned = locked_plugin(&p)["manifest"].as_str().map(str::to_string);

    // The tag now names another component.
    oras(&["push", &tag, NOOP, "application/wasm"], None);
    let r = run(&p, &["--locked"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report["plugins"][0]["digest"].as_str(), file_digest(PROBE).strip_prefix("sha256:"));
    assert!(p.workspace("b").join("out.txt").exists(), "the pinned probe ran, not the new noop");
    assert_eq!(locked_plugin(&p)["manifest"].as_str().map(str::to_string), pinned, "the lock did not move");

    let out = baton(&p, &["lock", "--update", "stage"]).output().expect("lock --update");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(locked_plugin(&p)["component"].as_str(), Some(file_digest(NOOP).as_str()));
    let r = run(&p, &["--locked"]);
    assert_eq!(r.report["plugins"][0]["digest"].as_str(), file_digest(NOOP).strip_prefix("sha256:"));

    // The file names another tag: --locked refuses, naming the plugin.
    p.write(&std::fs::read_to_string(p.file()).expect("read").replace(":1.0.0", ":1.1.0"));
    let before = runs(&p);
    let r = run(&p, &["--locked"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "--locked: plugin `stage` (oci://{}/acme/stage:1.1.0): baton.lock locks it as oci://{tag}; run `baton lock`",
            registry.host()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(runs(&p), before, "nothing ran");
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "plugin `stage` (oci://{host}/acme/stage:1.1.0): registry {host} has no acme/stage:1.1.0 (manifest or tag unknown)",
            host = registry.host()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn with_the_registry_stopped_offline_runs_from_the_cache_and_an_uncached_plugin_fails_naming_it() {
    let mut registry = Registry::start();
    let host = registry.host();
    oras(&["push", &format!("{host}/acme/probe:1.0.0"), PROBE, "application/wasm"], None);
    oras(&["push", &format!("{host}/acme/noop:1.0.0"), NOOP, "application/wasm"], None);
    let p = pipeline(&format!("oci://{host}/acme/probe:1.0.0"));
    assert_eq!(run(&p, &[]).code, 0, "locks and caches the probe");
    registry.stop();

    let r = run(&p, &["--offline"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.assert_status("ok", &["b.s"]);
    let r = run(&p, &[]);
    assert_eq!(r.code, 0, "locked and cached: the registry is not needed\n{}", r.stderr);

    // Locked but no longer cached: the error says so.
    let cache = p.dir().join(".baton/plugin-cache");
    let kept = p.dir().join("kept-cache");
    std::fs::rename(&cache, &kept).expect("move the cache away");
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("plugin `stage` (oci://{host}/acme/probe:1.0.0): registry {host} is unreachable: "))
            && r.stderr.contains("; the plugin is not cached, so it cannot run without the registry"),
        "{}",
        r.stderr
    );
    std::fs::rename(&kept, &cache).expect("put the cache back");

    p.write(&std::fs::read_to_string(p.file()).expect("read").replace("acme/probe", "acme/noop"));
    let before = runs(&p);
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("plugin `stage` (oci://{host}/acme/noop:1.0.0): registry {host} is unreachable")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("the plugin is not locked"), "{}", r.stderr);
    let r = run(&p, &["--offline"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "plugin `stage` (oci://{host}/acme/noop:1.0.0): --offline, and the manifest of tag 1.0.0 (not locked) is not cached (registry {host} was not contacted)"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(runs(&p), before, "no step ran");
}

#[test]
fn core_modules_wrong_media_types_and_corrupt_layers_are_refused_each_with_its_message() {
    let registry = Registry::start();
    let host = registry.host();
    let dir = tempfile::tempdir().expect("tempdir");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let core = core.display().to_string();

    // A core module behind the right media type.
    oras(&["push", &format!("{host}/acme/core:1.0.0"), &core, "application/wasm"], None);
    let p = pipeline(&format!("oci://{host}/acme/core:1.0.0"));
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "plugin `stage` (oci://{host}/acme/core:1.0.0): registry {host} serves a layer that is a core WebAssembly module, not a component"
        )),
        "{}",
        r.stderr
    );

    // A component under another media type.
    oras(&["push", &format!("{host}/acme/octet:1.0.0"), PROBE, "application/octet-stream"], None);
    let p = pipeline(&format!("oci://{host}/acme/octet:1.0.0"));
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "registry {host} serves no plugin there: the layer has media type `application/octet-stream`, not `application/wasm`"
        )),
        "{}",
        r.stderr
    );

    // A component built against a contract this host cannot run: refused before any step.
    oras(&["push", &format!("{host}/acme/future:1.0.0"), CONTRACT_V0_2_0, "application/wasm"], None);
    let p = pipeline(&format!("oci://{host}/acme/future:1.0.0"));
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "plugin `stage` (oci://{host}/acme/future:1.0.0): was built against baton:stage@0.2.0, but this host speaks baton:stage@{CONTRACT}"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(runs(&p), 0, "no step ran");

    // A layer whose bytes do not match its digest (a registry that lies).
    let real = std::fs::read(NOOP).expect("noop");
    let claimed = sha256(&real);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(b"{}"), "size": 2 },
        "layers": [{ "mediaType": "application/wasm", "digest": claimed, "size": real.len() }],
    });
    let mut served = std::fs::read(PROBE).expect("probe");
    served.truncate(real.len());
    let fake = fake_registry(vec![
        (
            "/v2/acme/liar/manifests/1.0.0".into(),
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().into_bytes(),
        ),
        (format!("/v2/acme/liar/blobs/{claimed}"), "application/octet-stream", served.clone()),
    ]);
    let p = pipeline(&format!("oci://{fake}/acme/liar:1.0.0"));
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "registry {fake} served blob {claimed} of acme/liar whose bytes hash to {}, not {claimed}: the bytes are discarded",
            sha256(&served)
        )),
        "{}",
        r.stderr
    );
    assert!(!p.dir().join(".baton/plugin-cache/sha256").join(claimed.trim_start_matches("sha256:")).exists());
    assert!(!p.dir().join("baton.lock").exists(), "nothing is locked");

    // The right bytes under a manifest that gives another size.
    let mut bigger = manifest.clone();
    bigger["layers"][0]["size"] = (real.len() + 10).into();
    let fake = fake_registry(vec![
        (
            "/v2/acme/size/manifests/1.0.0".into(),
            "application/vnd.oci.image.manifest.v1+json",
            bigger.to_string().into_bytes(),
        ),
        (format!("/v2/acme/size/blobs/{claimed}"), "application/octet-stream", real.clone()),
    ]);
    let p = pipeline(&format!("oci://{fake}/acme/size:1.0.0"));
    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "registry {fake} serves no plugin there: the manifest says the component is {} bytes, it is {}",
            real.len() + 10,
            real.len()
        )),
        "{}",
        r.stderr
    );

    // baton itself refuses to push a core module or a component that is not a stage.
    let out = baton(&p, &["plugin", "push", &core, &format!("oci://{host}/acme/core:2.0.0")]).output().expect("push");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("refusing to push") && text(&out).contains("a core WebAssembly module"),
        "{}",
        text(&out)
    );
    let out =
        baton(&p, &["plugin", "push", WRONG_WORLD, &format!("oci://{host}/acme/other:1.0.0")]).output().expect("push");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("is a component but not a baton:stage plugin"), "{}", text(&out));
}

#[test]
fn basic_auth_is_refused_without_credentials_accepted_with_them_and_never_stored() {
    const PASSWORD: &str = "s3cret-Baton-pw";
    let registry = Registry::with_basic_auth("ci", PASSWORD);
    let host = registry.host();
    oras(&["push", &format!("{host}/acme/probe:1.0.0"), PROBE, "application/wasm"], Some(("ci", PASSWORD)));
    let p = pipeline(&format!("oci://{host}/acme/probe:1.0.0"));

    let r = run(&p, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "registry {host} refused access to acme/probe:1.0.0 (401): give credentials with BATON_REGISTRY_HOST={host}"
        )),
        "{}",
        r.stderr
    );

    let wrong = baton(&p, &["run"])
        .env("BATON_REGISTRY_HOST", &host)
        .env("BATON_REGISTRY_USERNAME", "ci")
        .env("BATON_REGISTRY_PASSWORD", "wrong")
        .output()
        .expect("run");
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong).contains("the credentials given for it (basic auth as ci) were refused"), "{}", text(&wrong));
    assert!(!text(&wrong).contains("wrong"), "{}", text(&wrong));

    let out = baton(&p, &["run", "-v"])
        .env("BATON_REGISTRY_HOST", &host)
        .env("BATON_REGISTRY_USERNAME", "ci")
        .env("BATON_REGISTRY_PASSWORD", PASSWORD)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));

    // Docker's config file works too.
    let docker = p.dir().join("docker");
    std::fs::create_dir_all(&docker).expect("mkdir");
    let auth = base64_encode(&format!("ci:{PASSWORD}"));
    std::fs::write(docker.join("config.json"), format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#))
        .expect("write");
    std::fs::remove_dir_all(p.dir().join(".baton/plugin-cache")).expect("empty the cache");
    let out = baton(&p, &["lock", "--update"]).env("DOCKER_CONFIG", &docker).output().expect("lock");
    assert!(out.status.success(), "{}", text(&out));

    // And its credential helpers (`docker-credential-<name> get`).
    let helpers = tempfile::tempdir().expect("tempdir");
    let helper = helpers.path().join("docker-credential-batontest");
    let script = format!(
        "#!/bin/sh\nread host\n[ \"$host\" = \"{host}\" ] || exit 1\necho '{{\"Username\":\"ci\",\"Secret\":\"{PASSWORD}\"}}'\n"
    );
    std::fs::write(&helper, script).expect("write helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    std::fs::write(docker.join("config.json"), format!(r#"{{"credHelpers":{{"{host}":"batontest"}}}}"#))
        .expect("write");
    std::fs::remove_dir_all(p.dir().join(".baton/plugin-cache")).expect("empty the cache");
    let path = format!("{}:{}", helpers.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = baton(&p, &["lock", "--update"]).env("DOCKER_CONFIG", &docker).env("PATH", path).output().expect("lock");
    assert!(out.status.success(), "{}", text(&out));

    std::fs::remove_dir_all(&docker).expect("rm");
    for file in walk(p.dir()) {
        let bytes = std::fs::read(&file).expect("read");
        let found = bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes())
            || bytes.windows(auth.len()).any(|w| w == auth.as_bytes());
        assert!(!found, "the password is in {}", file.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = e.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else if path.is_file() {
            out.push(path);
        }
    }
    out
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
