//! Publishing cannot be turned against the host: a step's own processes
//! build a hostile tree in the workspace, then the step publishes it. Each
//! attack is a failed step with its exact error; baton finishes the run,
//! the healthy boards pass, and the store holds no partial blob. And a
//! directory blob crafted to climb out of its destination is refused, by a
//! fetching step and by `baton artifacts get`, before anything is unpacked.

use crate::harness::Pipeline;

/// Makes 5000 nested directories with a handful of processes: one path may
/// not exceed `PATH_MAX` and `cd` cannot go that deep, so chains of 1000
/// levels are made and moved into each other.
const DEEP: &str = "p=$(printf 'd/%.0s' $(seq 1000)) && mkdir -p l1/$p && \
                    for i in 2 3 4 5; do mkdir -p l$i/$p && mv l$((i-1)) l$i/$p || exit 1; done && mv l5 deep";

fn hostile_pipeline() -> Pipeline {
    let mut toml = String::from(
        r#"
[pipeline]
jobs = 8
[policy]
spawn = ["sh"]
[policy.untrusted]
spawn = ["sh"]

[[boards.healthy.steps]]
name = "make"
plugin = "shell"
with = { run = "mkdir -p tree/sub && echo leaf > tree/sub/leaf.txt && ln -s sub/leaf.txt tree/link", publish = ["tree"] }
[[boards.healthy.steps]]
name = "use"
plugin = "shell"
with = { fetch = [{ from = "healthy.make/tree", to = "copy" }], run = "test \"$(cat copy/link)\" = leaf" }
"#,
    );
    let attacks = [
        ("deep", "", DEEP.to_string(), "deep"),
        ("fifo", "", "mkdir t && echo a > t/a && mkfifo t/pipe".into(), "t"),
        ("chain", "", "mkdir -p t/sub && echo x > t/sub/f && ln -s b/f t/a && ln -s ../.. t/b".into(), "t"),
        ("sparse", "artifact_limit = \"1MiB\"\n", "mkdir t && truncate -s 1T t/disk.img".into(), "t"),
        ("slow", "timeout = \"1s\"\nartifact_limit = \"16GiB\"\n", "truncate -s 8G disk.img".into(), "disk.img"),
        // Inside bubblewrap, under the untrusted default cap.
        ("try", "trust = \"untrusted\"\n", "mkdir t && truncate -s 2G t/disk.img".into(), "t"),
    ];
    for (board, extra, run, publish) in attacks {
        toml += &format!(
            "\n[[boards.{board}.steps]]\nname = \"publish\"\nplugin = \"shell\"\non_failure = \"continue\"\n{extra}\
             with = {{ run = {run:?}, publish = [{publish:?}] }}\n"
        );
    }
    Pipeline::new(&toml)
}

#[test]
fn hostile_trees_fail_their_step_and_leave_the_host_and_store_clean() {
    let p = hostile_pipeline();
    let r = p.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.assert_status("ok", &["healthy.make", "healthy.use"]);
    assert_eq!(
        r.error("deep.publish"),
        "limit: artifact `deep` nests directories more than 256 levels deep; publish a flatter tree"
    );
    assert_eq!(
        r.error("fifo.publish"),
        "invalid path: `t/pipe` is a fifo: only regular files, directories and symlinks can be published"
    );
    assert_eq!(
        r.error("chain.publish"),
        "invalid path: symlink `t/a` leads outside the artifact (`t/a` -> `b/f`, `t/b` -> `../..`); \
         link only to paths inside it"
    );
    assert_eq!(
        r.error("sparse.publish"),
        "limit: artifact `t` is over artifact_limit 1MiB (at `t/disk.img`); raise artifact_limit or publish less"
    );
    // 8 GiB take many seconds to hash and store: the step's timeout stops
    // the copy on its blocking thread (had it gone on, its blob would be
    // in the store, see below).
    assert_eq!(r.error("slow.publish"), "timed out after 1s");
    assert_eq!(
        r.error("try.publish"),
        "limit: artifact `t` is over artifact_limit 1GiB (at `t/disk.img`); raise artifact_limit or publish less"
    );
    let store = p.dir().join(".baton/store");
    let blobs = std::fs::read_dir(store.join("sha256")).expect("blobs").count();
    assert_eq!(blobs, 1, "only the healthy tree is stored");
    let partial: Vec<_> = std::fs::read_dir(store.join("tmp")).expect("tmp").collect();
    assert!(partial.is_empty(), "no partial blob: {partial:?}");
    // The host is still fine for the next command.
    let out = p.baton().args(["artifacts"]).output().expect("artifacts");
    assert!(String::from_utf8_lossy(&out.stdout).contains("healthy.make/tree"));
    // 5000 levels are too deep for a recursive removal: remove them with fts.
    let ok = std::process::Command::new("rm").arg("-rf").arg(p.dir()).status().expect("rm");
    assert!(ok.success());
}

#[test]
fn artifact_limit_is_checked_like_the_other_limits() {
    let p = Pipeline::new(
        r#"
[policy]
spawn = ["sh"]
[[boards.b.steps]]
name = "bad"
plugin = "shell"
artifact_limit = "lots"
with = { run = "true" }
[[boards.b.steps]]
name = "greedy"
plugin = "shell"
trust = "untrusted"
artifact_limit = "2GiB"
with = { run = "true" }
"#,
    );
    let out = p.check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("boards.b.steps[0].artifact_limit: step b.bad: bad size `lots` (write e.g. `512MiB`, `2GiB`)"),
        "{err}"
    );
    assert!(
        err.contains(
            "boards.b.steps[1].artifact_limit: step b.greedy: artifact_limit 2GiB is above the untrusted cap 1GiB"
        ),
        "{err}"
    );
}

/// A tar written by hand: names go into the headers unchecked.
fn crafted_tar(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, body) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body.as_bytes());
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Every path below `dir` whose name is `name`.
fn find(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_name() == name {
                found.push(e.path());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(e.path());
            }
        }
    }
    found
}

#[test]
fn a_tampered_directory_blob_unpacks_nothing_outside_its_destination() {
    use sha2::Digest;
    let text = r#"
[policy]
spawn = ["sh"]
[[boards.a.steps]]
name = "make"
plugin = "shell"
with = { run = "mkdir -p tree && echo fine > tree/f", publish = ["tree"] }
[[boards.a.steps]]
name = "use"
plugin = "shell"
with = { fetch = [{ from = "a.make/tree", to = "copy" }], run = "exit 3" }
"#;
    let p = Pipeline::new(text);
    assert_eq!(p.run(&[]).status("a.use"), "failed");
    // Someone who can write `.baton/` swaps the blob for a crafted tar and
    // points the journal at it; its digest is right, its names are not.
    let store = p.dir().join(".baton/store/sha256");
    let old = std::fs::read_dir(&store).expect("store").next().expect("a blob").expect("entry").file_name();
    let old = old.to_string_lossy().into_owned();
    let crafted = crafted_tar(&[("ok.txt", "fine"), ("../../../../escape.txt", "pwned")]);
    let new = hex::encode(sha2::Sha256::digest(&crafted));
    std::fs::write(store.join(&new), &crafted).expect("plant");
    for journal in find(&p.dir().join(".baton/runs"), "journal.jsonl") {
        let text = std::fs::read_to_string(&journal).expect("journal");
        std::fs::write(&journal, text.replace(&old, &new)).expect("tamper");
    }
    p.write(&text.replace("exit 3", "true"));
    let r = p.run(&["--resume"]);
    let refusal = "artifact entry `../../../../escape.txt` contains `..`; nothing was unpacked";
    assert_eq!(r.error("a.use"), format!("invalid path: {refusal}"), "{}", r.stderr);
    let dest = p.dir().join("exported");
    let out = p.baton().args(["artifacts", "get", "a.make/tree"]).arg(&dest).output().expect("get");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(refusal), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(find(p.dir(), "escape.txt"), Vec::<std::path::PathBuf>::new());
    assert_eq!(find(p.dir(), "ok.txt"), Vec::<std::path::PathBuf>::new(), "nothing at all was unpacked");
}
