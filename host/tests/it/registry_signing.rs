//! Signed plugins: `baton plugin sign` and `BATON_ALLOWED_SIGNERS`, against a
//! real registry on loopback, with keys made by `ssh-keygen`.

use std::path::Path;
use std::process::Command;

use baton_test_artifacts::{NOOP, PROBE};

use crate::harness::Pipeline;
use crate::registry::{baton, sha256, text};
use crate::registry_server::{Registry, oras, require, skopeo_raw_manifest};

#[test]
fn untrusted_steps_need_plugins_signed_by_an_allowed_key_when_the_operator_requires_it() {
    let registry = Registry::start();
    let host = registry.host();
    oras(&["push", &format!("{host}/acme/noop:1.0.0"), NOOP, "application/wasm"], None);
    oras(&["push", &format!("{host}/acme/unsigned:1.0.0"), PROBE, "application/wasm"], None);
    let keys = tempfile::tempdir().expect("tempdir");
    let allowed = |name: &str| {
        let key = keys.path().join(name);
        let out = Command::new(require("ssh-keygen"))
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
        let list = keys.path().join(format!("{name}.allowed"));
        std::fs::write(&list, format!("{name}@acme {}\n", public.trim())).expect("write allowed_signers");
        (key, list)
    };
    let (signer, signer_list) = allowed("signer");
    let (_, other_list) = allowed("other");

    let p = Pipeline::new(&format!(
        "[plugins]\nstage = {{ oci = \"{host}/acme/noop\", version = \"1.0.0\", trust = \"untrusted\" }}\n\
         [[boards.b.steps]]\nname = \"s\"\nplugin = \"stage\"\n"
    ));
    let out = baton(&p, &["plugin", "sign", &format!("oci://{host}/acme/noop:1.0.0"), "--key"])
        .arg(&signer)
        .output()
        .expect("sign");
    assert!(out.status.success(), "{}", text(&out));
    let manifest = sha256(&skopeo_raw_manifest(&format!("{host}/acme/noop:1.0.0")));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), manifest);

    let with = |list: &Path| {
        let out = baton(&p, &["run"]).env("BATON_ALLOWED_SIGNERS", list).output().expect("run");
        (out.status.code(), text(&out))
    };
    let (code, stderr) = with(&signer_list);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = with(&other_list);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "plugin `stage` (oci://{host}/acme/noop:1.0.0): an untrusted step uses it and BATON_ALLOWED_SIGNERS is set, \
             but its signature (registry {host}) is not by a key in {}: no allowed signer made it",
            other_list.display()
        )),
        "{stderr}"
    );

    p.write(&std::fs::read_to_string(p.file()).expect("read").replace("acme/noop", "acme/unsigned"));
    let (code, stderr) = with(&signer_list);
    assert_eq!(code, Some(2), "{stderr}");
    let unsigned = sha256(&skopeo_raw_manifest(&format!("{host}/acme/unsigned:1.0.0")));
    assert!(
        stderr.contains(&format!(
            "it has no signature (sha256-{}.sig) in registry {host}: sign it with `baton plugin sign`",
            unsigned.trim_start_matches("sha256:")
        )),
        "{stderr}"
    );
    p.write(&std::fs::read_to_string(p.file()).expect("read").replace("acme/unsigned", "acme/noop"));
    std::fs::remove_dir_all(p.dir().join(".baton/plugin-cache/signatures")).expect("forget the cached signature");
    let out = baton(&p, &["run"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "signatures are required only when the operator says so: {}", text(&out));
    assert!(!p.dir().join(".baton/plugin-cache/signatures").exists(), "no signature was even fetched");
}
