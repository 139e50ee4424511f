//! Publishing trees a hostile step built, and unpacking tars an attacker
//! crafted: each attack fails with its exact error and leaves nothing
//! behind, in the store or outside the destination.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::tests::{Fixture, crafted_tar, fixture, get, leftovers, mkfifo, put, stored_tree};
use super::*;

fn err(r: Result<(String, u64, Kind), StoreError>) -> String {
    r.expect_err("the publish must fail").to_string()
}

#[test]
fn a_fifo_is_refused_and_never_waited_on() {
    let f = fixture();
    fs::create_dir(f.ws.join("t")).expect("mkdir");
    fs::write(f.ws.join("t/a.txt"), "a").expect("write");
    mkfifo(&f.ws.join("t/pipe"));
    mkfifo(&f.ws.join("lone"));
    assert_eq!(
        err(put(&f, "t")),
        "invalid path `t/pipe` is a fifo: only regular files, directories and symlinks can be published"
    );
    assert_eq!(
        err(put(&f, "lone")),
        "invalid path `lone` is a fifo: only regular files, directories and symlinks can be published"
    );
    let sock = std::os::unix::net::UnixListener::bind(f.ws.join("t/sock")).expect("socket");
    fs::remove_file(f.ws.join("t/pipe")).expect("rm");
    assert!(err(put(&f, "t")).starts_with("invalid path `t/sock` is a socket: "));
    drop(sock);
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new(), "no partial blob");
}

/// `levels` directories named `d` below `root`, made one name at a time
/// (their path is longer than `PATH_MAX`).
fn deep_tree(ws: &Path, root: &str, levels: usize) {
    let ws = cap_std::fs::Dir::open_ambient_dir(ws, cap_std::ambient_authority()).expect("ws");
    ws.create_dir(root).expect("root");
    let mut dir = ws.open_dir(root).expect("open");
    for _ in 0..levels {
        dir.create_dir("d").expect("mkdir");
        dir = dir.open_dir("d").expect("open");
    }
    dir.write("bottom.txt", "deep").expect("write");
}

/// Removes a tree too deep for a recursive removal (`rm` walks it with fts).
fn remove_deep(path: &Path) {
    let ok = std::process::Command::new("rm").arg("-rf").arg(path).status().expect("rm");
    assert!(ok.success());
}

#[test]
fn five_thousand_levels_fail_the_publish_not_the_host() {
    let f = fixture();
    deep_tree(&f.ws, "deep", 5000);
    assert_eq!(
        err(put(&f, "deep")),
        "artifact `deep` nests directories more than 256 levels deep; publish a flatter tree"
    );
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new());
    remove_deep(&f.ws.join("deep"));
    // Just within the limit it round-trips.
    deep_tree(&f.ws, "ok", tar_write::MAX_DEPTH);
    let (digest, _, kind) = put(&f, "ok").expect("put");
    get(&f, &record_of(&digest, kind), "copy").expect("get");
    let bottom = std::iter::repeat_n("d", tar_write::MAX_DEPTH).collect::<Vec<_>>().join("/");
    let copy = cap_std::fs::Dir::open_ambient_dir(f.ws.join("copy"), cap_std::ambient_authority()).expect("copy");
    assert_eq!(copy.read_to_string(format!("{bottom}/bottom.txt")).expect("read"), "deep");
    remove_deep(&f.ws.join("ok"));
    remove_deep(&f.ws.join("copy"));
}

fn record_of(digest: &str, kind: Kind) -> ArtifactRecord {
    super::tests::record(digest, kind)
}

#[test]
fn a_chain_of_links_is_judged_by_where_it_ends() {
    let f = fixture();
    fs::create_dir_all(f.ws.join("t/sub")).expect("mkdir");
    fs::write(f.ws.join("t/sub/f.txt"), "inside").expect("write");
    std::os::unix::fs::symlink("b/f.txt", f.ws.join("t/a")).expect("link");
    std::os::unix::fs::symlink("sub", f.ws.join("t/b")).expect("link");
    let (digest, _, kind) = put(&f, "t").expect("a chain that stays inside is kept");
    get(&f, &record_of(&digest, kind), "copy").expect("get");
    assert_eq!(fs::read_to_string(f.ws.join("copy/a")).expect("through the chain"), "inside");

    // The same first link, but its second hop climbs out of the artifact.
    fs::remove_file(f.ws.join("t/b")).expect("rm");
    std::os::unix::fs::symlink("../..", f.ws.join("t/b")).expect("link");
    assert_eq!(
        err(put(&f, "t")),
        "invalid path symlink `t/a` leads outside the artifact (`t/a` -> `b/f.txt`, `t/b` -> `../..`); \
         link only to paths inside it"
    );
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new());
}

fn sparse(path: &Path, len: u64) {
    fs::File::create(path).expect("create").set_len(len).expect("sparse");
}

#[test]
fn a_sparse_terabyte_costs_only_an_error() {
    let f = fixture();
    fs::create_dir(f.ws.join("t")).expect("mkdir");
    sparse(&f.ws.join("t/disk.img"), 1 << 40);
    sparse(&f.ws.join("disk.img"), 1 << 40);
    let small = Job::new(1 << 20);
    assert_eq!(
        f.store.put(&f.ws, "t", &small).expect_err("over").to_string(),
        "artifact `t` is over artifact_limit 1MiB (at `t/disk.img`); raise artifact_limit or publish less"
    );
    assert_eq!(
        f.store.put(&f.ws, "disk.img", &small).expect_err("over").to_string(),
        "artifact `disk.img` is over artifact_limit 1MiB; raise artifact_limit or publish less"
    );
    // Small files add up: the third one goes over.
    fs::remove_file(f.ws.join("t/disk.img")).expect("rm");
    for name in ["a", "b", "c"] {
        fs::write(f.ws.join("t").join(name), vec![7u8; 400 << 10]).expect("write");
    }
    assert_eq!(
        f.store.put(&f.ws, "t", &small).expect_err("over").to_string(),
        "artifact `t` is over artifact_limit 1MiB (at `t/c`); raise artifact_limit or publish less"
    );
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new());
    assert_eq!(f.store.digests().expect("digests"), Vec::<String>::new());
}

#[test]
fn a_cancelled_publish_stops_between_chunks_and_leaves_no_blob() {
    let f = fixture();
    sparse(&f.ws.join("disk.img"), 1 << 40);
    let job = Job::unbounded();
    let stopper = job.cancel.clone();
    let cancel = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        stopper.cancel();
    });
    // A terabyte of zeros takes minutes to hash: only the flag ends it.
    assert_eq!(f.store.put(&f.ws, "disk.img", &job), Err(StoreError::Cancelled));
    cancel.join().expect("join");
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new());
}

/// Appends to `path` until `stop` is raised.
fn appender(path: std::path::PathBuf, stop: Cancel) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut out = fs::OpenOptions::new().append(true).open(path).expect("open");
        while !stop.is_cancelled() {
            out.write_all(&[b'x'; 4096]).expect("append");
        }
    })
}

#[test]
fn a_file_that_grows_while_read_fails_the_publish() {
    let f = fixture();
    fs::create_dir(f.ws.join("t")).expect("mkdir");
    fs::write(f.ws.join("t/grow.log"), vec![b'x'; 8 << 20]).expect("write");
    let stop = Cancel::default();
    let writer = appender(f.ws.join("t/grow.log"), stop.clone());
    let mut refused = None;
    for _ in 0..50 {
        match put(&f, "t") {
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
            // The writer paused exactly over the read: what was stored must
            // still be a well-formed archive.
            Ok((digest, _, _)) => {
                tar_read::check(fs::File::open(f.store.blob_path(&digest)).expect("blob")).expect("well formed")
            }
        }
    }
    stop.cancel();
    writer.join().expect("join");
    let refused = refused.expect("a file that keeps growing is refused");
    assert!(refused.starts_with("`t/grow.log` changed while being read (it grew past the "), "{refused}");
    assert!(refused.ends_with(" bytes it had when opened); publish it once nothing writes to it"), "{refused}");
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new());
}

/// The workspace's parent, the destination's surroundings: what must stay
/// untouched by an unpack.
fn untouched(f: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(f.base.path())
        .expect("base")
        .chain(fs::read_dir(&f.ws).expect("ws"))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// One entry of a crafted tar: name, type, data or link text.
type Entry<'a> = (&'a str, tar::EntryType, &'a str);

#[test]
fn a_crafted_tar_unpacks_nothing_outside_its_destination() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let cases: &[(&[Entry], &str)] = &[
        (&[("../x", Regular, "pwned")], "artifact entry `../x` contains `..`; nothing was unpacked"),
        (&[("a/../../../x", Regular, "pwned")], "artifact entry `a/../../../x` contains `..`; nothing was unpacked"),
        (&[("/tmp/x", Regular, "pwned")], "artifact entry `/tmp/x` is absolute; nothing was unpacked"),
        (
            &[("ok.txt", Regular, "fine"), ("l", Symlink, "sub"), ("sub", Directory, ""), ("l/x", Regular, "pwned")],
            "artifact entry `l/x` goes through the symlink `l`; nothing was unpacked",
        ),
        (
            &[("l", Symlink, "../.."), ("l/x", Regular, "pwned")],
            "artifact entry `l/x` goes through the symlink `l`; nothing was unpacked",
        ),
        (
            &[("l", Symlink, "/etc")],
            "artifact symlink `l` leads outside the artifact (`l` -> `/etc`); link only to paths inside it; \
             nothing was unpacked",
        ),
        (
            &[("h", Link, "/etc/passwd")],
            "artifact entry `h` is a hard link: hard links are not unpacked; nothing was unpacked",
        ),
        (&[("x", Regular, "a"), ("x", Symlink, "..")], "artifact entry `x` appears twice; nothing was unpacked"),
        // Judged as a link, `l` stays inside; were `x` a directory, it would not.
        (
            &[("x", Symlink, "a/b/c"), ("x", Directory, ""), ("l", Symlink, "x/../..")],
            "artifact entry `x` appears twice; nothing was unpacked",
        ),
    ];
    for (entries, expected) in cases {
        let f = fixture();
        let record = stored_tree(&f.store, &crafted_tar(entries));
        let before = untouched(&f);
        let e = get(&f, &record, "dest").expect_err("refused");
        assert_eq!(e.to_string(), format!("invalid path {expected}"), "{entries:?}");
        let out = f.base.path().join("exported");
        let e = f.store.export(&record, &out).expect_err("refused");
        assert_eq!(e.to_string(), format!("invalid path {expected}"), "{entries:?}");
        assert_eq!(untouched(&f), before, "{entries:?}: nothing appeared next to the destination");
        assert!(!f.ws.join("dest").exists() || fs::read_dir(f.ws.join("dest")).expect("dest").count() == 0);
    }
}

#[test]
fn unpacking_never_writes_through_a_symlink_even_unchecked() {
    use tar::EntryType::{Regular, Symlink};
    let f = fixture();
    let outside = f.base.path().join("outside");
    fs::create_dir(&outside).expect("outside");
    fs::create_dir(f.ws.join("dest")).expect("dest");
    // A link already in the destination, and one from the archive itself.
    std::os::unix::fs::symlink(&outside, f.ws.join("dest/planted")).expect("planted");
    let dest = cap_std::fs::Dir::open_ambient_dir(f.ws.join("dest"), cap_std::ambient_authority()).expect("dest");
    for entries in
        [vec![("planted/x", Regular, "pwned")], vec![("l", Symlink, "../../outside"), ("l/x", Regular, "pwned")]]
    {
        let tar = crafted_tar(&entries);
        let e = tar_read::unpack(&tar[..], &dest, &Cancel::default()).expect_err("refused");
        assert!(e.to_string().contains("which is not a directory"), "{e}");
    }
    // A file entry replaces a planted symlink instead of writing through it.
    std::os::unix::fs::symlink(outside.join("target"), f.ws.join("dest/file")).expect("planted");
    tar_read::unpack(&crafted_tar(&[("file", Regular, "mine")])[..], &dest, &Cancel::default()).expect("unpack");
    assert_eq!(fs::read_to_string(f.ws.join("dest/file")).expect("read"), "mine");
    assert_eq!(fs::read_dir(&outside).expect("outside").count(), 0, "nothing was written outside");
}

#[test]
fn entries_swapped_while_publishing_never_block_and_never_give_a_lying_archive() {
    let f = fixture();
    fs::create_dir(f.ws.join("t")).expect("mkdir");
    fs::write(f.ws.join("t/x"), "first").expect("write");
    let stop = Cancel::default();
    let (ws, halt) = (f.ws.clone(), stop.clone());
    // Swaps `t/x` between a FIFO, a file that is rewritten and truncated,
    // a symlink and a directory, as fast as it can.
    let swapper = std::thread::spawn(move || {
        let (x, spare) = (ws.join("t/x"), ws.join("spare"));
        for round in 0usize.. {
            if halt.is_cancelled() {
                break;
            }
            let _ = fs::remove_dir(&spare).or_else(|_| fs::remove_file(&spare));
            match round % 4 {
                0 => mkfifo(&spare),
                1 => fs::write(&spare, vec![b'y'; 256 << 10]).expect("write"),
                2 => std::os::unix::fs::symlink("../..", &spare).expect("link"),
                _ => fs::create_dir(&spare).expect("dir"),
            }
            // A directory cannot be renamed over anything but a directory.
            let _ = if round % 4 == 3 { fs::remove_file(&x) } else { fs::remove_dir(&x) };
            fs::rename(&spare, &x).expect("swap");
            if round % 4 == 1 {
                let _ = fs::OpenOptions::new().write(true).open(&x).and_then(|f| f.set_len(10));
            }
        }
    });
    let mut outcomes = std::collections::BTreeSet::new();
    for _ in 0..300 {
        match put(&f, "t") {
            Ok((digest, _, _)) => {
                // Whatever was stored is a well-formed archive of what was read.
                let blob = fs::File::open(f.store.blob_path(&digest)).expect("blob");
                tar_read::check(blob).expect("well formed");
                outcomes.insert("published".to_string());
            }
            Err(e) => {
                let m = e.to_string();
                let known = ["`t/x` is a fifo: ", "`t/x` changed while being read (", "symlink `t/x` leads outside"];
                let kind = known.iter().find(|k| m.contains(*k)).unwrap_or_else(|| panic!("unexpected error: {m}"));
                outcomes.insert(kind.to_string());
            }
        }
    }
    stop.cancel();
    swapper.join().expect("swapper");
    assert!(outcomes.len() >= 2, "the race was exercised: {outcomes:?}");
    assert_eq!(leftovers(&f.store), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_cancelled_fetch_stops_and_leaves_no_copy() {
    let f = fixture();
    fs::write(f.ws.join("a.txt"), "hello").expect("write");
    let (digest, _, kind) = put(&f, "a.txt").expect("put");
    let job = Job::unbounded();
    job.cancel.cancel();
    let e = f.store.get(&record_of(&digest, kind), &f.ws, "copy.txt", &job).expect_err("cancelled");
    assert!(e.to_string().ends_with("stopped: the step ended"), "{e}");
    let left: Vec<_> = fs::read_dir(&f.ws).expect("ws").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("a.txt")], "no copy and no temp file");
}

#[test]
fn fifos_and_symlinks_planted_at_guessable_temporary_names_are_never_opened() {
    let f = fixture();
    fs::write(f.ws.join("a.txt"), "artifact").expect("write");
    let (digest, _, _) = put(&f, "a.txt").expect("put");
    fs::create_dir(f.ws.join("out")).expect("out");
    // Every name the old scheme (`.baton-get-<pid>-<counter>-<name>`) could
    // have used, as FIFOs, and a symlink out of the workspace beside them.
    let pid = std::process::id();
    for n in 0..200 {
        mkfifo(&f.ws.join(format!("out/.baton-get-{pid}-{n}-got.txt")));
    }
    std::os::unix::fs::symlink("/etc/passwd", f.ws.join(format!("out/.baton-get-{pid}-200-got.txt"))).expect("link");
    let r = super::tests::record(&digest, Kind::File);
    for _ in 0..3 {
        get(&f, &r, "out/got.txt").expect("the fetch ignores what was planted");
    }
    assert_eq!(fs::read_to_string(f.ws.join("out/got.txt")).expect("got"), "artifact");
    let temporaries = fs::read_dir(f.ws.join("out")).expect("ls").flatten().filter(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with(".baton-get-") && e.file_type().is_ok_and(|t| t.is_file())
    });
    assert_eq!(temporaries.count(), 0, "no temporary left behind");
}
