use std::fs;
use std::path::PathBuf;

use super::*;

pub(super) struct Fixture {
    pub base: tempfile::TempDir,
    pub ws: PathBuf,
    pub store: ArtifactStore,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    fs::create_dir(&ws).expect("ws");
    let store = ArtifactStore::new(dir.path().join("store"));
    Fixture { base: dir, ws, store }
}

pub(super) fn put(f: &Fixture, rel: &str) -> Result<(String, u64, Kind), StoreError> {
    f.store.put(&f.ws, rel, &Job::new(1 << 30))
}

pub(super) fn get(f: &Fixture, r: &ArtifactRecord, dest: &str) -> Result<(), StoreError> {
    f.store.get(r, &f.ws, dest, &Job::unbounded())
}

pub(super) fn record(digest: &str, kind: Kind) -> ArtifactRecord {
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
    let (digest, size, kind) = put(&f, "a.txt").expect("put");
    assert_eq!(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_eq!((size, kind), (5, Kind::File));
    get(&f, &record(&digest, kind), "copy/b.txt").expect("get");
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
    let (d1, _, k1) = put(&f, "one").expect("put one");
    let (d2, _, _) = put(&f, "two").expect("put two");
    assert_eq!(k1, Kind::Directory);
    assert_eq!(d1, d2);
    assert_eq!(f.store.digests().expect("digests").len(), 1);
    get(&f, &record(&d1, k1), "three").expect("get");
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
    assert_eq!(err(put(&f, "../secret.txt")), "invalid path `../secret.txt` contains `..`");
    assert!(err(put(&f, "/etc/passwd")).contains("`/etc/passwd` is absolute"));
    assert_eq!(err(put(&f, "planted")), "invalid path path `planted` leads outside the workspace (through a symlink)");
    // A symlink planted as the destination of a get cannot redirect the write.
    fs::write(f.ws.join("ok.txt"), "ok").expect("write");
    let (digest, _, kind) = put(&f, "ok.txt").expect("put");
    std::os::unix::fs::symlink(f.ws.parent().expect("parent"), f.ws.join("out")).expect("symlink");
    let e = get(&f, &record(&digest, kind), "out/x.txt").expect_err("must fail");
    assert!(e.to_string().contains("leads outside the workspace"), "{e}");
    assert!(!f.ws.parent().expect("parent").join("x.txt").exists());
}

#[test]
fn symlinks_out_of_a_published_directory_are_refused() {
    let f = fixture();
    fs::create_dir(f.ws.join("d")).expect("mkdir");
    std::os::unix::fs::symlink("../../etc/passwd", f.ws.join("d/evil")).expect("symlink");
    let e = put(&f, "d").expect_err("must fail");
    assert_eq!(
        e.to_string(),
        "invalid path symlink `d/evil` leads outside the artifact (`d/evil` -> `../../etc/passwd`); \
         link only to paths inside it"
    );
}

#[test]
fn a_corrupted_blob_is_detected_on_read() {
    let f = fixture();
    fs::write(f.ws.join("a.txt"), "hello").expect("write");
    let (digest, _, kind) = put(&f, "a.txt").expect("put");
    fs::write(f.store.blob_path(&digest), "hellO").expect("corrupt");
    let e = get(&f, &record(&digest, kind), "b.txt").expect_err("must fail");
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(!f.ws.join("b.txt").exists());
}

/// A FIFO at `path` (the kind of file a step can swap in to block a reader).
pub(super) fn mkfifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}

/// A tar written by hand, byte by byte, as an attacker would: names and
/// link texts go into the header as given, unchecked.
pub(super) fn crafted_tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, body) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        let data: &[u8] = if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            h.as_old_mut().linkname[..body.len()].copy_from_slice(body.as_bytes());
            b""
        } else {
            body.as_bytes()
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Puts `bytes` into the store as a directory blob, as if a step had
/// published it; returns its record.
pub(super) fn stored_tree(store: &ArtifactStore, bytes: &[u8]) -> ArtifactRecord {
    use sha2::Digest;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
    fs::create_dir_all(store.blob_path(&digest).parent().expect("parent")).expect("store dir");
    fs::write(store.blob_path(&digest), bytes).expect("write blob");
    record(&digest, Kind::Directory)
}

/// What is left in the store's temp directory (partial blobs).
pub(super) fn leftovers(store: &ArtifactStore) -> Vec<PathBuf> {
    match fs::read_dir(store.tmp_dir()) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}
