use std::fs;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    store: ArtifactStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    fs::create_dir(&ws).expect("ws");
    let store = ArtifactStore::new(dir.path().join("store"));
    Fixture { _dir: dir, ws, store }
}

fn record(digest: &str, kind: Kind) -> ArtifactRecord {
    ArtifactRecord {
        reference: "b.s/x".into(),
        step: "b.s".into(),
        name: "x".into(),
        digest: digest.into(),
        size: 0,
        kind,
    }
}

#[test]
fn a_file_round_trips() {
    let f = fixture();
    fs::write(f.ws.join("a.txt"), "hello").expect("write");
    let (digest, size, kind) = f.store.put(&f.ws, "a.txt").expect("put");
    assert_eq!(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_eq!((size, kind), (5, Kind::File));
    f.store.get(&record(&digest, kind), &f.ws, "copy/b.txt").expect("get");
    assert_eq!(fs::read_to_string(f.ws.join("copy/b.txt")).expect("read"), "hello");
}

#[test]
fn directories_are_deterministic_and_deduplicated() {
    let f = fixture();
    for root in ["one", "two"] {
        fs::create_dir_all(f.ws.join(root).join("sub")).expect("mkdir");
        fs::write(f.ws.join(root).join("sub/z.txt"), "z").expect("write");
        fs::write(f.ws.join(root).join("a.txt"), "a").expect("write");
        std::os::unix::fs::symlink("sub/z.txt", f.ws.join(root).join("link")).expect("symlink");
    }
    let (d1, _, k1) = f.store.put(&f.ws, "one").expect("put one");
    let (d2, _, _) = f.store.put(&f.ws, "two").expect("put two");
    assert_eq!(k1, Kind::Directory);
    assert_eq!(d1, d2);
    assert_eq!(f.store.digests().expect("digests").len(), 1);
    f.store.get(&record(&d1, k1), &f.ws, "three").expect("get");
    assert_eq!(fs::read_to_string(f.ws.join("three/sub/z.txt")).expect("read"), "z");
    assert_eq!(fs::read_to_string(f.ws.join("three/link")).expect("read link"), "z");
}

#[test]
fn paths_cannot_escape() {
    let f = fixture();
    let outside = f.ws.parent().expect("parent").join("secret.txt");
    fs::write(&outside, "secret").expect("write");
    std::os::unix::fs::symlink(&outside, f.ws.join("planted")).expect("symlink");
    let err = |r: Result<(String, u64, Kind), StoreError>| r.expect_err("must fail").to_string();
    assert_eq!(err(f.store.put(&f.ws, "../secret.txt")), "invalid path `../secret.txt` contains `..`");
    assert!(err(f.store.put(&f.ws, "/etc/passwd")).contains("`/etc/passwd` is absolute"));
    assert_eq!(
        err(f.store.put(&f.ws, "planted")),
        "invalid path path `planted` leads outside the workspace (through a symlink)"
    );
    // A symlink planted as the destination of a get cannot redirect the write.
    fs::write(f.ws.join("ok.txt"), "ok").expect("write");
    let (digest, _, kind) = f.store.put(&f.ws, "ok.txt").expect("put");
    std::os::unix::fs::symlink(f.ws.parent().expect("parent"), f.ws.join("out")).expect("symlink");
    let e = f.store.get(&record(&digest, kind), &f.ws, "out/x.txt").expect_err("must fail");
    assert!(e.to_string().contains("leads outside the workspace"), "{e}");
    assert!(!f.ws.parent().expect("parent").join("x.txt").exists());
}

#[test]
fn symlinks_out_of_a_published_directory_are_refused() {
    let f = fixture();
    fs::create_dir(f.ws.join("d")).expect("mkdir");
    std::os::unix::fs::symlink("../../etc/passwd", f.ws.join("d/evil")).expect("symlink");
    let e = f.store.put(&f.ws, "d").expect_err("must fail");
    assert_eq!(e.to_string(), "invalid path symlink `d/evil` points outside the artifact (to `../../etc/passwd`)");
}

#[test]
fn a_corrupted_blob_is_detected_on_read() {
    let f = fixture();
    fs::write(f.ws.join("a.txt"), "hello").expect("write");
    let (digest, _, kind) = f.store.put(&f.ws, "a.txt").expect("put");
    fs::write(f.store.blob_path(&digest), "hellO").expect("corrupt");
    let e = f.store.get(&record(&digest, kind), &f.ws, "b.txt").expect_err("must fail");
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(!f.ws.join("b.txt").exists());
}
