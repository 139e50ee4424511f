use super::*;

#[test]
fn config_files_are_the_pipeline_its_lock_plugins_and_state() {
    let changed: Vec<String> =
        ["baton.toml", "baton.lock", "plugins/x.wasm", "src/a.rs", ".baton/x"].iter().map(|s| s.to_string()).collect();
    let found = config_files(&changed, Path::new("baton.toml"), &[PathBuf::from("plugins/x.wasm")]);
    assert_eq!(found, ["baton.toml", "baton.lock", "plugins/x.wasm", ".baton/x"]);
}

#[test]
fn a_patch_over_the_cap_is_refused_by_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("p.diff");
    std::fs::write(&f, vec![b'x'; 100]).expect("write");
    let e = read_patch(&f, 10).expect_err("too big");
    assert!(e.contains("over the patch size cap 10B") && e.contains("--max-patch"), "{e}");
}
