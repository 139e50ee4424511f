//! The project at `/src` on workers. Locally a stage sees the pipeline's
//! directory read-only at `/src` (without `.baton/`) and its processes see
//! `$BATON_SRC`; on a worker they see a copy:
//! - the coordinator packs the directory once per run, as a directory
//!   artifact is packed (a deterministic tar: regular files, directories,
//!   and symlinks kept as links, each of which must stay inside the tree;
//!   `.baton/` left out), bounded by [`SRC_LIMIT`], and puts it in the
//!   object store under its sha256; each attempt names that digest;
//! - a worker fetches it (verified), checks and unpacks it once per digest
//!   under `--dir`/`src/`, read-only, and offers it to every attempt that
//!   names it; it keeps the last [`KEEP`] copies.
//!
//! A project that cannot be packed (too big, a symlink out of the tree, a
//! FIFO) is said once on the coordinator's stderr; its steps then run with
//! no `/src`, as they did before workers had one.

use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::serve::{Worker, lock};
use crate::storage::artifacts::tar_write::{self, Blob};
use crate::storage::artifacts::{Cancel, Job, tar_read};
use crate::units::Size;

/// The largest project a run packs for `/src` on workers.
pub const SRC_LIMIT: u64 = 256 << 20;

/// Copies of the project a worker keeps (the newest).
pub const KEEP: usize = 4;

/// The project directory `dir` as a tar, without its `.baton/`.
pub fn pack(dir: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    pack_leaving_out(dir, &[".baton"], &mut bytes)?;
    Ok(bytes)
}

/// Whether the copy at `dir` still packs to `hex` (the sha256 it was
/// unpacked from): nothing added, removed or changed in it since. Mode bits
/// other than "executable" and times are not packed, so making the copy
/// read-only does not count as a change.
fn unchanged(dir: &Path, hex: &str) -> bool {
    pack_leaving_out(dir, &[], std::io::sink()).is_ok_and(|digest| digest.strip_prefix("sha256:") == Some(hex))
}

/// Packs `dir` (without `leave_out`) into `out`, as it goes (never whole in
/// memory unless `out` is); its digest.
fn pack_leaving_out(dir: &Path, leave_out: &[&str], out: impl std::io::Write) -> Result<String, String> {
    let shown = dir.display();
    let top = Dir::open_ambient_dir(dir, ambient_authority()).map_err(|e| format!("cannot open {shown}: {e}"))?;
    let mut blob = Blob::new(out, SRC_LIMIT);
    let over = |e: String| {
        if e.contains("artifact_limit") {
            format!(
                "the project {shown} is over {} (without .baton/): move what steps do not read out of the pipeline's directory",
                Size(SRC_LIMIT)
            )
        } else {
            e
        }
    };
    tar_write::write_tree(top, Path::new(""), &mut blob, &Job::new(SRC_LIMIT), leave_out)
        .map_err(|e| over(e.to_string()))?;
    let (digest, _) = blob.finish().map_err(|e| e.to_string())?;
    Ok(digest)
}

/// Packs the project `dir` and puts it in the object store: its digest, or
/// `None` (said on stderr) when it cannot be packed.
pub(super) async fn put(cluster: &super::Cluster, dir: &Path) -> Result<Option<String>, super::ClusterError> {
    let t0 = std::time::Instant::now();
    // Through a temporary file, streamed: a project of up to 256 MiB is
    // never whole in the coordinator's memory.
    let packed = tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a temporary file: {e}")).and_then(
        |mut tmp| pack_leaving_out(dir, &[".baton"], std::io::BufWriter::new(tmp.as_file_mut())).map(|d| (tmp, d)),
    );
    let (tmp, expected) = match packed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("baton: steps on workers get no /src: {e}");
            return Ok(None);
        }
    };
    let digest = cluster.blobs.put_file(tmp.path(), Some(&expected)).await?;
    if std::env::var_os(crate::env_vars::TIMING).is_some() {
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let size = std::fs::metadata(tmp.path()).map_or(0, |m| m.len());
        eprintln!("baton timing: /src for workers: {} packed and stored in {ms:.1}ms", Size(size));
    }
    Ok(Some(digest))
}

impl Worker {
    /// The unpacked copy of project `digest` (fetched, verified, checked and
    /// unpacked the first time), read-only, for an attempt of `run`.
    ///
    /// A copy is shared by the runs of the same project, and file modes do
    /// not stop a trusted step's process running as root (or as the worker's
    /// user, after a `chmod`): so the first attempt of each run checks the
    /// copy against its digest (packed again and hashed), and a copy a step
    /// changed is set aside and unpacked afresh. No run sees what another
    /// run's steps did to `/src`; a run's own later steps do, as locally.
    pub(super) async fn source(&self, digest: &str, run: &str) -> Result<PathBuf, String> {
        let hex = digest.strip_prefix("sha256:").filter(|h| super::is_key_token(h)).ok_or("invalid /src digest")?;
        let root = self.dir.join("src");
        let dest = root.join(hex);
        let _one_at_a_time = self.unpacking.lock().await;
        if dest.is_dir() {
            let seen = lock(&self.src_checked).get(hex).is_some_and(|runs| runs.contains(run));
            let intact = seen || {
                let (dir, h) = (dest.clone(), hex.to_string());
                tokio::task::spawn_blocking(move || unchanged(&dir, &h)).await.unwrap_or(false)
            };
            if intact {
                self.src_checked_for(hex, run);
                touch(&dest);
                return Ok(dest);
            }
            eprintln!("worker {}: the copy of /src {digest} was changed by a step; unpacking it again", self.name);
            let aside = root.join(format!(".changed-{hex}-{}", std::process::id()));
            read_only(&dest, false);
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::rename(&dest, &aside).map_err(|e| format!("cannot set {} aside: {e}", dest.display()))?;
            let _ = std::fs::remove_dir_all(&aside);
            lock(&self.src_checked).remove(hex);
        }
        std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        // Fetched into a file (streamed, verified), checked, then unpacked from it.
        let tar = root.join(format!(".fetching-{hex}-{}", std::process::id()));
        self.cluster.blobs.get_to_file(digest, &tar).await.map_err(|e| format!("/src refused: {e}"))?;
        let unpacked = unpack_src(&tar, &root, &dest);
        let _ = std::fs::remove_file(&tar);
        unpacked?;
        self.src_checked_for(hex, run);
        prune(&root, KEEP);
        Ok(dest)
    }
}

/// Checks the tar at `tar` and unpacks it, read-only, at `dest` (under `root`).
fn unpack_src(tar: &Path, root: &Path, dest: &Path) -> Result<(), String> {
    let bad = |e: crate::storage::artifacts::StoreError| format!("/src refused: {e}");
    let open = || {
        std::fs::File::open(tar).map(std::io::BufReader::new).map_err(|e| format!("cannot read {}: {e}", tar.display()))
    };
    tar_read::check(open()?).map_err(bad)?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(root)
        .map_err(|e| format!("cannot create a directory in {}: {e}", root.display()))?;
    let target = Dir::open_ambient_dir(tmp.path(), ambient_authority()).map_err(|e| e.to_string())?;
    tar_read::unpack(open()?, &target, &Cancel::default()).map_err(bad)?;
    read_only(tmp.path(), true);
    std::fs::rename(tmp.keep(), dest).map_err(|e| format!("cannot move /src into {}: {e}", dest.display()))?;
    Ok(())
}

impl Worker {
    /// Records that the copy `hex` is as unpacked for `run`'s attempts.
    fn src_checked_for(&self, hex: &str, run: &str) {
        lock(&self.src_checked).entry(hex.to_string()).or_default().insert(run.to_string());
    }
}

/// Marks a copy as just used (pruning keeps the most recently used).
fn touch(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|f| f.set_modified(std::time::SystemTime::now()));
}

/// Makes the tree at `dir` read-only (`true`) or writable again by its
/// owner (`false`, to remove it). Symlinks are not followed.
fn read_only(dir: &Path, on: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mut todo = vec![dir.to_path_buf()];
    let mut dirs = Vec::new();
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(t) = entry.file_type() else { continue };
            if t.is_dir() {
                todo.push(entry.path());
            } else if t.is_file()
                && let Ok(m) = entry.metadata()
            {
                let mode = m.permissions().mode();
                let mode = if on { mode & !0o222 } else { mode | 0o200 };
                let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
            }
        }
        dirs.push(d);
    }
    for d in dirs {
        let mode = if on { 0o555 } else { 0o755 };
        let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode));
    }
}

/// Removes all but the `keep` most recently used copies under `root` (and
/// what an unpacking that died left).
fn prune(root: &Path, keep: usize) {
    let mut copies: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    copies.sort_by_key(|c| std::cmp::Reverse(c.0));
    for (_, path) in copies.into_iter().skip(keep) {
        read_only(&path, false);
        let _ = std::fs::remove_dir_all(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_leaves_out_baton_and_keeps_symlinks_inside_the_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".baton/runs")).expect("mkdir");
        std::fs::write(dir.path().join(".baton/runs/secret"), "state").expect("write");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        std::fs::write(dir.path().join("src/main.c"), "int main;").expect("write");
        std::os::unix::fs::symlink("src/main.c", dir.path().join("link")).expect("symlink");
        let bytes = pack(dir.path()).expect("pack");
        let mut names: Vec<String> = tar::Archive::new(&bytes[..])
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry").path().expect("path").display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["link", "src", "src/main.c"]);

        std::os::unix::fs::symlink("../outside", dir.path().join("out")).expect("symlink");
        let err = pack(dir.path()).unwrap_err();
        assert!(err.starts_with("invalid path symlink `out` leads outside the artifact"), "{err}");
    }

    #[test]
    fn an_unpacked_read_only_copy_is_unchanged_until_a_file_in_it_changes() {
        use sha2::{Digest, Sha256};
        let project = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(project.path().join("src/empty")).expect("mkdir");
        std::fs::write(project.path().join("src/main.c"), "int main;").expect("write");
        std::fs::write(project.path().join("run.sh"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(project.path().join("run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        std::os::unix::fs::symlink("src/main.c", project.path().join("link")).expect("symlink");
        std::fs::create_dir(project.path().join(".baton")).expect("mkdir");
        let tar = pack(project.path()).expect("pack");
        let hex = hex::encode(Sha256::digest(&tar));

        let copy = tempfile::tempdir().expect("tempdir");
        let target = Dir::open_ambient_dir(copy.path(), ambient_authority()).expect("open");
        tar_read::unpack(&tar[..], &target, &Cancel::default()).expect("unpack");
        read_only(copy.path(), true);
        assert!(unchanged(copy.path(), &hex), "a fresh read-only copy packs to its digest");

        read_only(copy.path(), false);
        std::fs::write(copy.path().join("src/main.c"), "int main = 1;").expect("tamper");
        assert!(!unchanged(copy.path(), &hex), "a changed file is seen");
        std::fs::write(copy.path().join("src/main.c"), "int main;").expect("restore");
        assert!(unchanged(copy.path(), &hex), "restored");
        std::fs::create_dir(copy.path().join(".baton")).expect("mkdir");
        assert!(!unchanged(copy.path(), &hex), "an added entry is seen, even .baton");
    }

    #[test]
    fn pruning_keeps_the_most_recently_used_copies_even_read_only_ones() {
        let root = tempfile::tempdir().expect("tempdir");
        let t0 = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for i in 0..6u64 {
            let copy = root.path().join(format!("copy{i}"));
            std::fs::create_dir_all(copy.join("sub")).expect("mkdir");
            std::fs::write(copy.join("sub/f"), "x").expect("write");
            read_only(&copy, true);
            let when = t0 + std::time::Duration::from_secs(i * 60);
            std::fs::File::open(&copy).and_then(|f| f.set_modified(when)).expect("mtime");
        }
        prune(root.path(), 4);
        let mut left: Vec<String> = std::fs::read_dir(root.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["copy2", "copy3", "copy4", "copy5"]);
        read_only(root.path(), false);
    }
}
