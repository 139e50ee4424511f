//! Property tests of the tar writer, the link resolver and the unpacker over
//! random trees (files, directories, symlinks with random texts, FIFOs,
//! deep nesting, files growing while read) and random crafted tars. The
//! kernel is the oracle for links: a published link never resolves, in the
//! source or in the copy, outside its artifact. Seeded, so a failure
//! reproduces with its seed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::tests::{crafted_tar, fixture, leftovers, mkfifo, record, stored_tree};
use super::*;

/// xorshift64*: deterministic, so a failure reproduces with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A random link text: names, `.`, `..`, sometimes absolute.
fn link_text(rng: &mut Rng) -> String {
    let mut parts: Vec<&str> = (0..1 + rng.below(4)).map(|_| rng.pick(&["..", ".", "a", "b", "c", "s", "t"])).collect();
    if rng.chance(8) {
        parts.insert(0, rng.pick(&["/etc", "/tmp", ""]));
    }
    parts.join("/")
}

/// What a random tree holds that must make its publish fail.
#[derive(Debug, Default)]
struct Hazards {
    fifo: bool,
    too_deep: bool,
    growing: Option<PathBuf>,
}

/// Builds a random tree at `root`.
fn random_tree(rng: &mut Rng, root: &Path) -> Hazards {
    let mut hazards = Hazards::default();
    fs::create_dir(root).expect("root");
    let mut dirs = vec![PathBuf::new()];
    let mut files = Vec::new();
    for _ in 0..1 + rng.below(30) {
        let parent = dirs[rng.below(dirs.len())].clone();
        let rel = parent.join(rng.pick(&["a", "b", "c", "s", "t", "long-name-".repeat(12).as_str()]));
        let path = root.join(&rel);
        if path.symlink_metadata().is_ok() {
            continue;
        }
        match rng.below(100) {
            0..35 => {
                let len = rng.below(3000);
                fs::write(&path, (0..len).map(|i| (i * 7) as u8).collect::<Vec<_>>()).expect("file");
                files.push(path);
            }
            35..65 => {
                fs::create_dir(&path).expect("dir");
                dirs.push(rel);
            }
            65..95 => std::os::unix::fs::symlink(link_text(rng), &path).expect("link"),
            _ => {
                mkfifo(&path);
                hazards.fifo = true;
            }
        }
    }
    if rng.chance(5) {
        let levels = if rng.chance(50) { tar_write::MAX_DEPTH + 1 + rng.below(40) } else { rng.below(60) };
        let chain: PathBuf = std::iter::repeat_n("n", levels).collect();
        fs::create_dir_all(root.join(&chain)).expect("deep");
        hazards.too_deep = levels > tar_write::MAX_DEPTH;
    }
    if !files.is_empty() && rng.chance(10) {
        hazards.growing = Some(files[rng.below(files.len())].clone());
    }
    hazards
}

/// Every path below `root`, not following links.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for e in fs::read_dir(root.join(&rel)).expect("read_dir") {
            let e = e.expect("entry");
            let sub = rel.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                todo.push(sub.clone());
            }
            out.push(sub);
        }
    }
    out.sort();
    out
}

/// Links below `root` whose chain the kernel resolves outside `root`.
fn kernel_escapes(root: &Path) -> Vec<PathBuf> {
    let real_root = root.canonicalize().expect("root");
    walk(root)
        .into_iter()
        .filter(|rel| root.join(rel).symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()))
        .filter(|rel| root.join(rel).canonicalize().is_ok_and(|real| !real.starts_with(&real_root)))
        .collect()
}

#[test]
fn random_trees_publish_faithfully_or_fail_for_a_reason() {
    let (mut published, mut refused) = (0, 0);
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let f = fixture();
        let hazards = random_tree(&mut rng, &f.ws.join("art"));
        let escapes = kernel_escapes(&f.ws.join("art"));
        let stop = Cancel::default();
        let writer = hazards.growing.clone().map(|path| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut out = fs::OpenOptions::new().append(true).open(path).expect("open");
                while !stop.is_cancelled() {
                    out.write_all(b"more").expect("append");
                }
            })
        });
        let outcome = f.store.put(&f.ws, "art", &Job::new(64 << 20));
        stop.cancel();
        if let Some(w) = writer {
            w.join().expect("writer");
        }
        assert_eq!(leftovers(&f.store), Vec::<PathBuf>::new(), "seed {seed}: no partial blob");
        match outcome {
            Ok((digest, _, kind)) => {
                published += 1;
                assert!(!hazards.fifo && !hazards.too_deep, "seed {seed}: published despite {hazards:?}");
                assert_eq!(escapes, Vec::<PathBuf>::new(), "seed {seed}: published links that lead out");
                f.store.get(&record(&digest, kind), &f.ws, "copy", &Job::unbounded()).expect("get");
                assert_same_tree(&f.ws.join("art"), &f.ws.join("copy"), hazards.growing.as_deref(), seed);
                assert_eq!(kernel_escapes(&f.ws.join("copy")), Vec::<PathBuf>::new(), "seed {seed}: copy");
            }
            Err(e) => {
                refused += 1;
                let m = e.to_string();
                let fits = (hazards.fifo && m.contains(" is a fifo: "))
                    || (hazards.too_deep && m.contains("levels deep"))
                    || (hazards.growing.is_some() && m.contains("changed while being read"))
                    || m.contains("leads outside the artifact")
                    || m.contains("does not resolve");
                assert!(fits, "seed {seed}: unexpected refusal `{m}` for {hazards:?}");
            }
        }
        if hazards.too_deep {
            let ok = std::process::Command::new("rm").arg("-rf").arg(&f.ws).status().expect("rm");
            assert!(ok.success());
        }
    }
    assert!(published > 40 && refused > 100, "both outcomes are exercised: {published} published, {refused} refused");
}

/// `copy` holds what `src` held: same names, file bytes (a prefix, for the
/// file that grew), link texts.
fn assert_same_tree(src: &Path, copy: &Path, growing: Option<&Path>, seed: u64) {
    assert_eq!(walk(src), walk(copy), "seed {seed}: same entries");
    for rel in walk(src) {
        let (a, b) = (src.join(&rel), copy.join(&rel));
        let meta = a.symlink_metadata().expect("meta");
        if meta.file_type().is_symlink() {
            assert_eq!(fs::read_link(&a).expect("link"), fs::read_link(&b).expect("link"), "seed {seed}");
        } else if meta.is_file() {
            let (x, y) = (fs::read(&a).expect("read"), fs::read(&b).expect("read"));
            if growing == Some(a.as_path()) {
                assert!(x.starts_with(&y), "seed {seed}: a prefix of the growing file");
            } else {
                assert_eq!(x, y, "seed {seed}: {}", rel.display());
            }
        }
    }
}

#[test]
fn random_crafted_tars_never_reach_outside_the_destination() {
    use tar::EntryType::{Directory, Fifo, Link, Regular, Symlink};
    let names = ["..", ".", "a", "b", "l", "m", ""];
    let mut unpacked = 0;
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let mut owned = Vec::new();
        for _ in 0..1 + rng.below(8) {
            let name: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(&names)).collect();
            let kind = [Regular, Regular, Directory, Symlink, Symlink, Link, Fifo][rng.below(7)];
            let body = if matches!(kind, Symlink | Link) { link_text(&mut rng) } else { "data".to_string() };
            owned.push((name.join("/"), kind, body));
        }
        let entries: Vec<(&str, tar::EntryType, &str)> =
            owned.iter().map(|(n, k, b)| (n.as_str(), *k, b.as_str())).collect();
        let f = fixture();
        let rec = stored_tree(&f.store, &crafted_tar(&entries));
        let outside_before = walk(f.base.path()).into_iter().filter(|p| !p.starts_with("ws/dest")).count();
        if f.store.get(&rec, &f.ws, "dest", &Job::unbounded()).is_ok() {
            unpacked += 1;
        }
        let outside_after = walk(f.base.path()).into_iter().filter(|p| !p.starts_with("ws/dest")).count();
        assert_eq!(outside_before, outside_after, "seed {seed}: {entries:?}");
        if f.ws.join("dest").exists() {
            assert_eq!(kernel_escapes(&f.ws.join("dest")), Vec::<PathBuf>::new(), "seed {seed}: {entries:?}");
        }
    }
    assert!(unpacked > 20, "some crafted tars are harmless and unpack: {unpacked}");
}
