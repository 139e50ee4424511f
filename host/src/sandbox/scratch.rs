//! The private `/tmp` of one attempt: an empty directory under
//! `$TMPDIR/baton-<pid>-<random>/` (made afresh by each baton process, so a
//! directory left by an earlier process with the same pid is never in the way). Directories an attempt leaves empty are reused
//! by later attempts; one left with anything in it is removed. Creating and
//! deleting a directory per step made ext4 scan for free inodes on every
//! `mkdir` (over half of a noop step's time); reuse avoids both.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Most empty directories kept for reuse.
const POOL_MAX: usize = 256;

/// A scratch directory, returned to the pool (empty) or removed on drop.
pub struct Scratch {
    path: PathBuf,
}

/// This process's scratch root, made on first use (mode 0700).
fn root() -> std::io::Result<&'static PathBuf> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
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
    Ok(ROOT.get_or_init(|| dir))
}

fn pool() -> &'static Mutex<Vec<PathBuf>> {
    static POOL: OnceLock<Mutex<Vec<PathBuf>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

impl Scratch {
    pub fn new() -> std::io::Result<Self> {
        if let Some(path) = pool().lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(Self { path });
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = root()?.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let empty = std::fs::read_dir(&self.path).is_ok_and(|mut d| d.next().is_none());
        if empty {
            let mut pool = pool().lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_MAX {
                pool.push(std::mem::take(&mut self.path));
                return;
            }
        }
        if std::fs::remove_dir(&self.path).is_err() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// Removes this process's scratch root (at exit).
pub fn cleanup() {
    pool().lock().unwrap_or_else(|p| p.into_inner()).clear();
    if let Ok(r) = root() {
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
