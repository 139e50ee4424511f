//! The private `/tmp` of one attempt: an empty directory under
//! `$TMPDIR/baton-<pid>-<random>/` (made afresh by each baton process, so a
//! directory left by an earlier process with the same pid is never in the way;
//! roots that killed processes left are swept, see [`super::sweep`]).
//! Directories an attempt leaves empty are reused
//! by later attempts; one left with anything in it is removed. Creating and
//! deleting a directory per step made ext4 scan for free inodes on every
//! `mkdir` (over half of a noop step's time); reuse avoids both.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::Dir;

use crate::sandbox::wasi::open_dir;

/// Most empty directories kept for reuse.
const POOL_MAX: usize = 256;

/// A scratch directory, returned to the pool (empty) or removed on drop. Its
/// handle is opened once, when the directory is made, and goes with it
/// through the pool: an attempt gets it without an `openat`, and the
/// emptiness check reads it through the handle (`lseek` and `getdents64`).
pub struct Scratch {
    path: PathBuf,
    dir: Dir,
}

/// This process's scratch root, made on first use (mode 0700).
static ROOT: OnceLock<PathBuf> = OnceLock::new();

fn root() -> std::io::Result<&'static PathBuf> {
    static MAKING: Mutex<()> = Mutex::new(());
    if let Some(r) = ROOT.get() {
        return Ok(r);
    }
    let _one = MAKING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = ROOT.get() {
        return Ok(r);
    }
    let dir = tempfile::Builder::new().prefix(&format!("baton-{}-", std::process::id())).tempdir()?.keep();
    set_private(&dir);
    // Roots of processes killed before their clean-up (SIGKILL, power
    // loss) would pile up; they go, off the start-up path.
    super::sweep::start(std::env::temp_dir());
    Ok(ROOT.get_or_init(|| dir))
}

fn pool() -> &'static Mutex<Vec<Scratch>> {
    static POOL: OnceLock<Mutex<Vec<Scratch>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

impl Scratch {
    pub fn new() -> std::io::Result<Self> {
        if let Some(s) = pool().lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(s);
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = root()?.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
        std::fs::create_dir(&path)?;
        let dir = match open_dir(&path, FsPerms::ReadWrite) {
            Ok(d) => d,
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                return Err(e);
            }
        };
        Ok(Self { path, dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's handle, for the attempt's `/tmp`.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Closes the handle without returning the directory to the pool or
    /// removing it.
    fn forget(mut self) {
        self.path = PathBuf::new();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return; // moved into the pool
        }
        // Only the pool's own handle may be left: a clone still held (an
        // attempt's store alive) means the directory is still in use.
        if Arc::strong_count(&self.dir.dir) == 1 && is_empty(&self.dir.dir) {
            let mut pool = pool().lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_MAX {
                let path = std::mem::take(&mut self.path);
                pool.push(Scratch { path, dir: self.dir.clone() });
                return;
            }
        }
        if std::fs::remove_dir(&self.path).is_err() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Whether the directory open at `dir` has no entry but `.` and `..`; read
/// from its start through the handle, to the end of the listing.
fn is_empty(dir: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    let fd = dir.as_raw_fd();
    // SAFETY: `fd` is an open directory this function only reads.
    if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } != 0 {
        return false;
    }
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n == 0 {
            return true;
        }
        if n < 0 {
            return false;
        }
        let (n, mut at) = (n as usize, 0usize);
        while at < n {
            // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
            if at + 19 > n {
                return false;
            }
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen < 20 || at + reclen > n {
                return false;
            }
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                return false;
            }
            at += reclen;
        }
    }
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// Closes and removes the directories kept for reuse (at the end of a run:
/// each holds an open handle).
pub fn release_pool() {
    let kept = std::mem::take(&mut *pool().lock().unwrap_or_else(|p| p.into_inner()));
    for s in kept {
        let _ = std::fs::remove_dir(&s.path);
        s.forget();
    }
}

/// Removes this process's scratch root, if it made one (at exit).
pub fn cleanup() {
    release_pool();
    if let Some(r) = ROOT.get() {
        let _ = std::fs::remove_dir_all(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dirs_are_reused_and_used_ones_removed() {
        let a = Scratch::new().expect("a");
        let b = Scratch::new().expect("b");
        assert_ne!(a.path(), b.path());
        std::fs::write(b.path().join("f"), "x").expect("write");
        let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
        drop(a);
        drop(b);
        assert!(pa.exists(), "an empty one waits for reuse");
        assert!(!pb.exists(), "one with files in it is removed");
        let c = Scratch::new().expect("c");
        assert_eq!(std::fs::read_dir(c.path()).expect("dir").count(), 0, "a reused dir is empty");
    }
}
