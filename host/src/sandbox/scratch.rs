//! The private `/tmp` of one attempt: a fresh directory under
//! `$TMPDIR/baton-<pid>/`, removed when the attempt ends. Removal tries a
//! single `rmdir` first, since most stages leave `/tmp` empty.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A scratch directory, removed on drop.
pub struct Scratch {
    path: PathBuf,
}

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| std::env::temp_dir().join(format!("baton-{}", std::process::id())))
}

impl Scratch {
    pub fn new() -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = root().join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(root())?;
                set_private(root());
                std::fs::create_dir(&path)?;
            }
            Err(e) => return Err(e),
        }
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
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
    let _ = std::fs::remove_dir_all(root());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dirs_are_fresh_and_removed_full_or_empty() {
        let a = Scratch::new().expect("a");
        let b = Scratch::new().expect("b");
        assert_ne!(a.path(), b.path());
        std::fs::write(b.path().join("f"), "x").expect("write");
        let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
        drop(a);
        drop(b);
        assert!(!pa.exists() && !pb.exists());
    }
}
