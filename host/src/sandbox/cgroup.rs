//! A `pids` cgroup per process tree of a step (cgroup v1 `pids` controller
//! or cgroup v2), when the host lets baton create one: it caps the number of
//! processes of an untrusted tree, and for every tree (trusted ones too) it is
//! the container baton empties with SIGKILL when the process ends, so that a
//! process that left its group (`setsid`) cannot outlive its step.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A `pids` cgroup capping the number of processes of one confined tree
/// (cgroup v1 `pids` controller or cgroup v2), when the host lets baton
/// create one. Removed on drop.
pub struct PidsCgroup {
    dir: PathBuf,
    /// `cgroup.procs`, opened in the parent; the child writes `0` to it
    /// before exec to move itself in.
    pub procs: std::fs::File,
}

impl PidsCgroup {
    /// A new group for `label`'s tree, capped at `max` processes (`None`: no
    /// cap, only the container).
    pub fn create(label: &str, max: Option<u64>) -> Option<Self> {
        static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
        let root = ROOT.get_or_init(find_pids_root).as_ref()?;
        let dir = root.join(format!("{}-{}", sanitize(label), unique()));
        std::fs::create_dir(&dir).ok()?;
        let setup = || -> std::io::Result<std::fs::File> {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("pids.max"))?
                .write_all(max.map_or_else(|| "max".to_string(), |m| m.to_string()).as_bytes())?;
            std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))
        };
        match setup() {
            Ok(procs) => Some(Self { dir, procs }),
            Err(_) => {
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // Anything still inside is killed, again and again while a process
        // forks; then the group can be removed.
        for _ in 0..100 {
            if let Ok(text) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
                for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: plain syscall on a pid of this cgroup.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// `/sys/fs/cgroup/pids/baton` (v1) or `/sys/fs/cgroup/baton` (v2) if baton
/// may create groups there.
/// The groups of baton processes killed before their clean-up (SIGKILL)
/// are swept on a background thread then (see `sweep::sweep_dead_cgroups`).
fn find_pids_root() -> Option<PathBuf> {
    let base = pids_base()?;
    let root = base.join(format!("baton-{}", std::process::id()));
    std::fs::create_dir_all(&root).ok()?;
    super::sweep::start_cgroups(base);
    Some(root)
}

/// `/sys/fs/cgroup/pids` (v1) or `/sys/fs/cgroup` (v2, with the pids
/// controller), where baton's groups are made.
pub(super) fn pids_base() -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    let v2 = Path::new("/sys/fs/cgroup");
    if v1.join("cgroup.procs").exists() {
        Some(v1.to_path_buf())
    } else if std::fs::read_to_string(v2.join("cgroup.subtree_control")).is_ok_and(|s| s.contains("pids")) {
        Some(v2.to_path_buf())
    } else {
        None
    }
}

fn sanitize(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Removes this process's cgroup root at exit (best effort).
pub fn cleanup_cgroups() {
    for base in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
        let _ = std::fs::remove_dir(Path::new(base).join(format!("baton-{}", std::process::id())));
    }
}
