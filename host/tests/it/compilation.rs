//! Compilation of plugins (docs/compilation.md): tiered compilation starts a
//! cold plugin on Winch's code and moves later steps to Cranelift's; Winch's
//! refusals fall back to Cranelift and say why; a damaged compiled artifact
//! is compiled again, never loaded; two processes compiling at once leave
//! one valid artifact; a plugin path that is not a regular file is refused
//! at once.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;
use sha2::Digest;

use crate::harness::Pipeline;

fn digest_of(path: &str) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).expect("read fixture")))
}

/// The compiled artifacts of component `digest` in cache `dir`.
fn artifacts(dir: &Path, digest: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("compiled"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(digest) && name.ends_with(".cwasm")
        })
        .collect();
    found.sort();
    found
}

/// `plugins[]` entry `name` of a run report.
fn plugin<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["plugins"].as_array().and_then(|a| a.iter().find(|p| p["name"] == name)).unwrap_or(&Value::Null)
}

/// The compiler each attempt of `step` ran on, per `plugins[].steps`.
fn ran_on(report: &Value, plugin_name: &str, step: &str) -> Vec<String> {
    plugin(report, plugin_name)["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["step"] == step)
        .map(|s| s["compiler"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn check_with(p: &Pipeline, env: &[(&str, &str)]) -> Output {
    p.baton().envs(env.iter().copied()).arg("check").output().expect("run baton check")
}

#[test]
fn a_cold_run_starts_on_winch_and_later_steps_run_on_cranelift_code() {
    let probe = baton_test_artifacts::PROBE;
    let digest = digest_of(probe);
    // The name of the probe's Cranelift artifact, learnt from a cache of its own.
    let p = Pipeline::new(
        "[plugins]\nprobe = \"{probe}\"\n[[boards.a.steps]]\nname = \"s\"\nplugin = \"probe\"\nwith = { ops = [] }\n",
    );
    let learn = p.dir().join("learn-cache");
    let out = check_with(&p, &[("BATON_CACHE_DIR", learn.to_str().unwrap()), ("BATON_COMPILER", "cranelift")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cranelift = artifacts(&learn, &digest);
    assert_eq!(cranelift.len(), 1, "{cranelift:?}");
    let name = cranelift[0].file_name().unwrap().to_string_lossy().into_owned();

    // A cold cache in the project, where the waiting step can see it: the
    // second probe step waits until Cranelift's artifact exists.
    p.write(&format!(
        r#"
[plugins]
probe = "{{probe}}"
[policy]
spawn = ["sh"]
[[boards.a.steps]]
name = "first"
plugin = "probe"
with = {{ ops = [{{ op = "log", message = "on the first code" }}] }}
[[boards.a.steps]]
name = "wait"
plugin = "probe"
timeout = "120s"
with = {{ ops = [{{ op = "run", program = "sh", args = ["-c", "until [ -e \"$BATON_SRC/cold/compiled/{name}\" ]; do sleep 0.05; done; sleep 1"] }}] }}
[[boards.a.steps]]
name = "later"
plugin = "probe"
with = {{ ops = [{{ op = "log", message = "on the later code" }}] }}
"#
    ));
    let cold = p.dir().join("cold");
    let r = p.run_env(&[("BATON_CACHE_DIR", cold.to_str().unwrap()), ("BATON_COMPILER", "tiered")], &["-v"]);
    r.assert_status("ok", &["a.first", "a.wait", "a.later"]);
    let load = plugin(&r.report, "probe");
    assert_eq!(load["compiler"], "winch", "{load}");
    assert_eq!(load["cache"], "compiled", "{load}");
    assert_eq!(ran_on(&r.report, "probe", "a.first"), ["winch"], "{load}");
    assert_eq!(ran_on(&r.report, "probe", "a.later"), ["cranelift"], "{load}");
    assert!(load["tier_up_seconds"].as_f64().is_some(), "{load}");
    assert!(r.stderr.contains("winch code"), "{}", r.stderr);
    // Winch's artifact is gone; the next run loads Cranelift's.
    assert_eq!(artifacts(&cold, &digest), [cold.join("compiled").join(&name)]);
    let again =
        p.run_env(&[("BATON_CACHE_DIR", cold.to_str().unwrap()), ("BATON_COMPILER", "tiered")], &["--only", "a.first"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let load = plugin(&again.report, "probe");
    assert_eq!((load["cache"].as_str(), load["compiler"].as_str()), (Some("hit"), Some("cranelift")), "{load}");
}

#[test]
fn a_component_winch_refuses_falls_back_to_cranelift_and_says_why() {
    let p = Pipeline::new(
        r#"
[plugins]
simd = "{relaxed-simd}"
[[boards.a.steps]]
name = "madd"
plugin = "simd"
with = {}
"#,
    );
    for compiler in ["tiered", "winch"] {
        let cache = tempfile::tempdir().expect("tempdir");
        let r =
            p.run_env(&[("BATON_CACHE_DIR", cache.path().to_str().unwrap()), ("BATON_COMPILER", compiler)], &["-v"]);
        assert_eq!(r.code, 0, "{compiler}: {}", r.stderr);
        let load = plugin(&r.report, "simd");
        assert_eq!(load["compiler"], "cranelift", "{load}");
        let why = load["fallback"].as_str().unwrap_or_default();
        assert!(why.starts_with("winch refused it: ") && why.contains("relaxed"), "{compiler}: {load}");
        assert_eq!(ran_on(&r.report, "simd", "a.madd"), ["cranelift"], "{load}");
        assert!(r.stderr.contains("cranelift code (winch refused it: "), "{}", r.stderr);
        assert!(p.log("a.madd").contains("6 * 7 = 42"), "{}", p.log("a.madd"));
    }
}

#[test]
fn a_truncated_or_corrupt_artifact_is_compiled_again_never_loaded() {
    let noop = baton_test_artifacts::NOOP;
    let digest = digest_of(noop);
    let p =
        Pipeline::new("[plugins]\nnoop = \"{noop}\"\n[[boards.a.steps]]\nname = \"s\"\nplugin = \"noop\"\nwith = {}\n");
    for compiler in ["winch", "cranelift"] {
        let cache = tempfile::tempdir().expect("tempdir");
        let env = [("BATON_CACHE_DIR", cache.path().to_str().unwrap()), ("BATON_COMPILER", compiler)];
        let r = p.run_env(&env, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(plugin(&r.report, "noop")["compiler"], compiler);
        let found = artifacts(cache.path(), &digest);
        assert_eq!(found.len(), 1, "{compiler}: {found:?}");
        let whole = std::fs::read(&found[0]).expect("read artifact");
        let mut flipped = whole.clone();
        flipped[whole.len() / 2] ^= 0x40;
        for (what, damaged) in [("truncated", whole[..whole.len() - 100].to_vec()), ("corrupt", flipped)] {
            std::fs::write(&found[0], &damaged).expect("damage");
            let r = p.run_env(&env, &[]);
            assert_eq!(r.code, 0, "{compiler} {what}: {}", r.stderr);
            let load = plugin(&r.report, "noop");
            assert_eq!(load["cache"], "compiled", "{compiler} {what}: the damaged artifact was loaded: {load}");
            assert_eq!(std::fs::read(&found[0]).expect("read artifact").len(), whole.len(), "{compiler} {what}");
            let r = p.run_env(&env, &[]);
            assert_eq!(plugin(&r.report, "noop")["cache"], "hit", "{compiler} {what}");
        }
    }
}

#[test]
fn two_processes_compiling_one_plugin_at_once_leave_one_valid_artifact() {
    let hostile = baton_test_artifacts::HOSTILE;
    let digest = digest_of(hostile);
    let p = Pipeline::new(
        "[plugins]\nh = \"{hostile}\"\n[[boards.a.steps]]\nname = \"s\"\nplugin = \"h\"\nwith = { attack = \"panic\" }\n",
    );
    for compiler in ["winch", "cranelift"] {
        let cache = tempfile::tempdir().expect("tempdir");
        let env = [("BATON_CACHE_DIR", cache.path().to_str().unwrap()), ("BATON_COMPILER", compiler)];
        let spawn = || {
            let mut c = p.baton();
            c.envs(env).arg("check").stdout(Stdio::piped()).stderr(Stdio::piped());
            c.spawn().expect("spawn baton check")
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            assert!(out.status.success(), "{compiler}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let found = artifacts(cache.path(), &digest);
        assert_eq!(found.len(), 1, "{compiler}: {found:?}");
        let left: Vec<_> = std::fs::read_dir(cache.path().join("compiled"))
            .expect("compiled dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{compiler}: temporary files left: {left:?}");
        let out = p.baton().envs(env).args(["check", "-v"]).output().expect("check");
        assert!(out.status.success(), "{compiler}: {}", String::from_utf8_lossy(&out.stderr));
        let r = p.run_env(&env, &[]);
        assert_eq!(plugin(&r.report, "h")["cache"], "hit", "{compiler}: {}", r.report);
    }
}

#[test]
fn a_fifo_or_a_device_as_plugin_path_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("plugin.wasm");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for (path, kind) in [(fifo.to_str().unwrap(), "a FIFO"), ("/dev/zero", "a character device")] {
        let p = Pipeline::new(&format!(
            "[plugins]\nbad = \"{path}\"\n[[boards.a.steps]]\nname = \"s\"\nplugin = \"bad\"\nwith = {{}}\n"
        ));
        let t0 = std::time::Instant::now();
        let out = p.check();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let said = format!("plugin `bad` ({path}): is not a regular file ({kind}): a plugin must be a `.wasm` file");
        assert!(stderr.contains(&said), "{said} in:\n{stderr}");
        let r = p.run(&[]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(&said), "{said} in:\n{}", r.stderr);
        assert!(t0.elapsed() < std::time::Duration::from_secs(60), "{path}: took {:?}", t0.elapsed());
    }
}
