//! Sweeping the scratch roots (`$TMPDIR/baton-<pid>-<random>`, see
//! [`super::scratch`]) that processes killed before their clean-up (SIGKILL,
//! power loss) left behind. A baton process that makes a scratch root
//! starts a sweep on a background thread, at most once per
//! [`SWEEP_EVERY`] for all baton processes of one user: the mtime of the
//! marker `baton-swept-<uid>` in the temp directory says when the last one
//! ran, so a run pays one `stat` instead of a listing of `/tmp`.
//!
//! The pids cgroups of such a process (`baton-<pid>/<group>` under the
//! pids hierarchy, see [`super::cgroup`]) are swept the same way, by the
//! first process that makes a group: the processes still in them (a step's,
//! outliving its killed baton) are killed and the groups removed.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often the temp directory is swept.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Starts a sweep of `tmp` on a background thread, if one is due.
pub fn start(tmp: PathBuf) {
    if due(&tmp, SWEEP_EVERY) {
        let _ = std::thread::Builder::new().name("baton-sweep".into()).spawn(move || sweep_dead(&tmp, LEFT_FOR));
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether this user's last sweep of `tmp` is `every` old or more (or
/// there was none); if so, marks now as the last sweep. A marker that is
/// not a regular file of this user (another user's, a symlink) is never
/// written through, and a sweep is then always due.
fn due(tmp: &Path, every: Duration) -> bool {
    let marker = tmp.join(format!("baton-swept-{}", euid()));
    match std::fs::symlink_metadata(&marker) {
        Ok(m) if !m.is_file() || m.uid() != euid() => return true,
        Ok(m) if m.modified().ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age < every) => return false,
        _ => {}
    }
    // Marked before the sweep: two processes starting at once sweep once.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&marker)
        .and_then(|f| f.set_modified(SystemTime::now()));
    true
}

/// How long a dead process's scratch root is left before it is removed
/// (a root of a live baton in another pid namespace sharing this `/tmp`
/// looks dead from here; one untouched for this long is not in use).
const LEFT_FOR: Duration = Duration::from_secs(3600);

/// Removes the scratch roots in `tmp` (`baton-<pid>-<random>`) of this
/// user's baton processes that no longer run, untouched for `left_for`.
/// Anything else (another user's, a symlink, a file, a live pid) is left.
fn sweep_dead(tmp: &Path, left_for: Duration) {
    let me = euid();
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("baton-")).and_then(|r| r.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else { continue };
        if pid <= 0 || pid as u32 == std::process::id() {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= left_for);
        if !meta.is_dir() || meta.uid() != me || !old {
            continue;
        }
        // SAFETY: signal 0 only checks whether the pid exists.
        let gone =
            unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Starts a sweep of the pids cgroups of dead baton processes under `base`
/// on a background thread.
pub fn start_cgroups(base: PathBuf) {
    let _ = std::thread::Builder::new()
        .name("baton-sweep-cgroups".into())
        .spawn(move || sweep_dead_cgroups(&base, LEFT_FOR));
}

/// The pid of a `baton-<pid>` name, if it is one (and not this process).
fn dead_owner(name: &std::ffi::OsStr) -> Option<i32> {
    let pid = name.to_str()?.strip_prefix("baton-")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid: i32 = pid.parse().ok()?;
    if pid <= 0 || pid as u32 == std::process::id() {
        return None;
    }
    // SAFETY: signal 0 only checks whether the pid exists.
    let gone =
        unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    gone.then_some(pid)
}

/// Removes the cgroup roots `baton-<pid>` under `base` of this user's baton
/// processes that no longer run, untouched for `left_for` (a live baton in
/// another pid namespace makes and removes groups as its steps start
/// processes): every process still in one of their groups is killed, then
/// the groups and the root are removed. Anything else is left.
pub(super) fn sweep_dead_cgroups(base: &Path, left_for: Duration) {
    let me = euid();
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= left_for);
        if !meta.is_dir() || meta.uid() != me || !old || dead_owner(&entry.file_name()).is_none() {
            continue;
        }
        for group in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            if group.file_type().is_ok_and(|t| t.is_dir()) {
                empty_and_remove(&group.path());
            }
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}

/// Kills what is in the cgroup `dir`, again while a process forks, and
/// removes it.
fn empty_and_remove(dir: &Path) {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: plain syscall on a pid of this cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if std::fs::remove_dir(dir).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_dead_processes_are_swept_and_nothing_else() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let dead = child.id();
        child.wait().expect("wait");
        let old = SystemTime::now() - Duration::from_secs(7200);
        let make = |name: &str, age: SystemTime| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).expect("mkdir");
            std::fs::write(d.join("left.txt"), "x").expect("write");
            std::fs::File::open(&d).and_then(|f| f.set_modified(age)).expect("mtime");
            d
        };
        let swept = make(&format!("baton-{dead}-abc"), old);
        let recent = make(&format!("baton-{dead}-new"), SystemTime::now());
        let alive = make("baton-1-init", old);
        let other = make(&format!("other-{dead}-x"), old);
        std::os::unix::fs::symlink(&alive, tmp.path().join(format!("baton-{dead}-link"))).expect("symlink");
        sweep_dead(tmp.path(), Duration::from_secs(3600));
        assert!(!swept.exists(), "a dead process's old root goes");
        assert!(recent.exists(), "a recently touched one stays");
        assert!(alive.join("left.txt").exists(), "a live pid's stays (and a symlink to it is not followed)");
        assert!(other.exists(), "other names stay");
        assert!(tmp.path().join(format!("baton-{dead}-link")).symlink_metadata().is_ok(), "symlinks stay");
    }

    #[test]
    fn a_sweep_is_due_once_per_interval_and_a_foreign_marker_is_never_written() {
        let tmp = tempfile::tempdir().expect("tmp");
        let every = Duration::from_secs(600);
        assert!(due(tmp.path(), every), "no marker: due");
        assert!(!due(tmp.path(), every), "just swept: not due");
        let marker = tmp.path().join(format!("baton-swept-{}", euid()));
        let old = SystemTime::now() - Duration::from_secs(900);
        std::fs::File::options().write(true).open(&marker).and_then(|f| f.set_modified(old)).expect("age it");
        assert!(due(tmp.path(), every), "an old marker: due");
        assert!(!due(tmp.path(), every), "and marked again");

        // A marker planted as a symlink is not followed: the target stays
        // untouched, and sweeps stay due.
        std::fs::remove_file(&marker).expect("rm");
        let target = tmp.path().join("target");
        std::fs::write(&target, "keep").expect("target");
        std::fs::File::options().write(true).open(&target).and_then(|f| f.set_modified(old)).expect("age");
        std::os::unix::fs::symlink(&target, &marker).expect("symlink");
        assert!(due(tmp.path(), every) && due(tmp.path(), every));
        let meta = std::fs::metadata(&target).expect("target");
        assert_eq!(meta.modified().expect("mtime"), old);
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
    }

    #[test]
    fn cgroups_of_a_killed_baton_are_swept_with_their_processes() {
        // Only where this process may make pids cgroups (CI runs as root).
        let Some(base) = crate::sandbox::cgroup::pids_base() else { return };
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let dead = child.id();
        child.wait().expect("wait");
        let root = base.join(format!("baton-{dead}"));
        let group = root.join("b.s-1-0");
        if std::fs::create_dir_all(&group).is_err() {
            return;
        }
        // A step's process that outlived its baton, still in its group.
        let mut left = std::process::Command::new("sleep").arg("600").spawn().expect("sleep");
        std::fs::write(group.join("cgroup.procs"), left.id().to_string()).expect("join the group");
        let live = base.join(format!("baton-{}", std::process::id()));
        let _ = std::fs::create_dir(&live);
        sweep_dead_cgroups(&base, Duration::from_secs(3600));
        assert!(root.exists(), "a recently touched root stays");
        let old = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::open(&root).and_then(|f| f.set_modified(old)).expect("age the root");
        sweep_dead_cgroups(&base, Duration::from_secs(3600));
        assert!(!root.exists(), "the dead baton's groups are gone");
        let status = left.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL),
            "its process was killed"
        );
        assert!(live.exists(), "this process's own root stays");
    }
}
