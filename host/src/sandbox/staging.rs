//! Paths the sandbox user can reach. When baton runs as root, bubblewrap is
//! started as an unprivileged user, who may be unable to walk to the
//! workspace or the project by their host paths (a checkout under `/root`,
//! mode 0700). So the child, still root, makes a private mount namespace,
//! opens the directories there, mounts a small tmpfs on `/tmp` (host `/tmp`
//! is untouched), and binds the open directories onto `/tmp/baton-stage/<n>`;
//! bubblewrap then binds those into the sandbox. Nothing of this is visible
//! on the host. (The directories are opened after the `unshare`: a bind
//! mount's source must be in the caller's mount namespace.)
//!
//! [`Staging::enter`] runs in `pre_exec` and makes only system calls on
//! strings prepared before the fork.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the staged directories appear in the child's mount namespace.
const BASE: &str = "/tmp/baton-stage";

/// Directories to stage.
#[derive(Default)]
pub struct Staging {
    sources: Vec<CString>,
    targets: Vec<CString>,
}

impl Staging {
    /// Stages `dir`; returns the path bubblewrap binds it from.
    pub fn add(&mut self, dir: &Path) -> Result<PathBuf, String> {
        let n = self.sources.len();
        let target = format!("{BASE}/{n}");
        let source = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| format!("the path {} holds a NUL byte", dir.display()))?;
        self.sources.push(source);
        self.targets.push(CString::new(target.clone()).expect("no NUL"));
        Ok(PathBuf::from(target))
    }

    /// In the child, as root, before the identity change.
    ///
    /// # Safety
    /// Only to be called in a child between fork and exec.
    pub unsafe fn enter(&self) -> io::Result<()> {
        let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
        let none = std::ptr::null();
        // SAFETY: plain system calls on NUL-terminated strings built before the fork.
        unsafe {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
            let mut fds = [-1; 8];
            if self.sources.len() > fds.len() {
                return Err(io::Error::from_raw_os_error(libc::E2BIG));
            }
            for (fd, source) in fds.iter_mut().zip(&self.sources) {
                *fd = libc::open(source.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
                if *fd < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            check(libc::mount(
                c"tmpfs".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0755,size=64k".as_ptr().cast(),
            ))?;
            check(libc::mkdir(c"/tmp/baton-stage".as_ptr(), 0o755))?;
            for (fd, target) in fds.iter().zip(&self.targets) {
                check(libc::mkdir(target.as_ptr(), 0o755))?;
                let mut buf = [0u8; 32];
                let source = fd_path(*fd, &mut buf);
                check(libc::mount(source, target.as_ptr(), none, libc::MS_BIND | libc::MS_REC, std::ptr::null()))?;
            }
        }
        Ok(())
    }
}

/// `/proc/self/fd/<fd>` as a C string in `buf`, without allocating.
fn fd_path(fd: libc::c_int, buf: &mut [u8; 32]) -> *const libc::c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let (mut n, mut len) = (fd.max(0) as u32, 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    buf.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_written_without_allocating() {
        let mut buf = [0u8; 32];
        for (fd, want) in [(0, "/proc/self/fd/0"), (7, "/proc/self/fd/7"), (1234567, "/proc/self/fd/1234567")] {
            let p = fd_path(fd, &mut buf);
            // SAFETY: fd_path wrote a NUL-terminated string into buf.
            assert_eq!(unsafe { std::ffi::CStr::from_ptr(p) }.to_str().unwrap(), want);
        }
    }
}
