//! The host identity of untrusted processes. When baton runs as root (CI
//! usually does), bubblewrap is not started as root: it is started as an
//! unprivileged host user (`nobody` unless `BATON_SANDBOX_UID`/`_GID` say
//! otherwise), so that uid 0 inside the sandbox is never host uid 0 and no
//! capability reaches the host. That user must be able to write the board's
//! workspace, so before each untrusted process starts, the workspace tree is
//! handed over to it ([`hand_over`]).
//!
//! The hand-over walks the tree by file descriptor (`openat` with
//! `O_NOFOLLOW`, `fchownat` with `AT_SYMLINK_NOFOLLOW`), never by path, so a
//! process that swaps a directory for a symlink while the walk runs cannot
//! redirect it out of the workspace; files with more than one link are left
//! alone (a hard link could name a host file).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::env_vars;

/// The unprivileged user and group untrusted processes run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// `nobody:nogroup` on Debian and most distributions.
const NOBODY: u32 = 65534;

impl Identity {
    /// The identity to switch to before starting bubblewrap: `Some` when
    /// baton runs as root, `None` when it already runs as an ordinary user
    /// (bubblewrap then maps that user, which holds no privilege).
    pub fn for_sandbox() -> Result<Option<Self>, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        let uid = id_from_env(env_vars::SANDBOX_UID)?.unwrap_or(NOBODY);
        let gid = id_from_env(env_vars::SANDBOX_GID)?.unwrap_or(NOBODY);
        if uid == 0 || gid == 0 {
            return Err(format!(
                "{} / {} must name an unprivileged user and group, not 0",
                env_vars::SANDBOX_UID,
                env_vars::SANDBOX_GID
            ));
        }
        Ok(Some(Self { uid, gid }))
    }
}

/// Whether `who` may read and search the directory `dir` (by its mode
/// bits; the sandbox user has no supplementary groups). When baton runs as
/// root, untrusted processes see the project at `/src` as that user: a
/// project directory only root can read (`mktemp -d` makes them 0700, and
/// so is `/root`) gives them nothing, and bubblewrap cannot even cover its
/// `.baton/` there. The message names the directory and the fix.
pub fn check_readable(dir: &Path, who: Identity) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::metadata(dir).map_err(|e| format!("cannot read the project directory {}: {e}", dir.display()))?;
    let mode = meta.mode();
    let can = if meta.uid() == who.uid {
        mode & 0o500 == 0o500
    } else if meta.gid() == who.gid {
        mode & 0o050 == 0o050
    } else {
        mode & 0o005 == 0o005
    };
    if can {
        return Ok(());
    }
    Err(format!(
        "untrusted steps run as the sandbox user {uid}, who cannot read the project directory {dir} (mode {mode:03o}, \
         owner {owner}): make it readable (`chmod o+rx {dir}`, and its files o+r), or run baton as an ordinary user, \
         or set {var} to a user who can read it",
        uid = who.uid,
        dir = dir.display(),
        mode = mode & 0o777,
        owner = meta.uid(),
        var = env_vars::SANDBOX_UID,
    ))
}

fn id_from_env(name: &str) -> Result<Option<u32>, String> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => v.parse().map(Some).map_err(|_| format!("{name}={v} is not a numeric id")),
    }
}

/// Limits of one hand-over walk: deeper or bigger trees are refused (the
/// step's own doing) instead of exhausting descriptors or time.
const MAX_DEPTH: usize = 512;
const MAX_ENTRIES: usize = 1_000_000;

/// Makes every file and directory of `root` (and `root` itself) owned by
/// `who`, without following a symlink anywhere. Returns how many entries
/// changed owner. An entry that vanishes at any point of the walk (a
/// background process's temporary file) is gone, not an error. The walk
/// stops, with an error, once `stop` is set: it runs on a blocking thread
/// (see [`hand_over_off_runtime`]) whose step may have ended meanwhile.
pub fn hand_over(root: &Path, who: Identity, stop: &AtomicBool) -> io::Result<usize> {
    let c = CString::new(root.as_os_str().as_bytes()).map_err(|_| io::Error::other("path holds a NUL byte"))?;
    let fd = open_dir(libc::AT_FDCWD, &c)?;
    let mut changed = chown_fd(&fd, who)?;
    let mut seen = 0usize;
    // Each level keeps its directory open; the stack is the walk, no recursion.
    let mut stack: Vec<Dir> = vec![Dir::new(fd)?];
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.next_entry()? else {
            stack.pop();
            continue;
        };
        seen += 1;
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("stopped: the step ended"));
        }
        if seen > MAX_ENTRIES {
            return Err(io::Error::other(format!("the workspace holds more than {MAX_ENTRIES} entries")));
        }
        let parent = top.fd();
        let st = match stat_at(parent, &name) {
            Ok(st) => st,
            // Removed since it was listed.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
        if (st.st_uid != who.uid || st.st_gid != who.gid) && (is_dir || is_link || st.st_nlink <= 1) {
            // SAFETY: plain syscall on a descriptor we own and a C string.
            if unsafe { libc::fchownat(parent, name.as_ptr(), who.uid, who.gid, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ENOENT) {
                    return Err(e);
                }
            }
            changed += 1;
        }
        if is_dir {
            if stack.len() >= MAX_DEPTH {
                return Err(io::Error::other(format!("the workspace is nested deeper than {MAX_DEPTH} levels")));
            }
            match open_dir(parent, &name) {
                Ok(fd) => stack.push(Dir::new(fd)?),
                // Swapped for something else, or removed, since the stat.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(changed)
}

/// [`hand_over`] on a blocking thread: a big workspace (a million entries
/// take seconds) never holds a runtime thread, and an attempt that ends
/// (timeout, cancellation) while it runs stops it at its next entry.
pub async fn hand_over_off_runtime(root: &Path, who: Identity) -> io::Result<usize> {
    /// Sets the flag when the waiting future is dropped.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let (flag, root) = (stop.0.clone(), root.to_path_buf());
    match tokio::task::spawn_blocking(move || hand_over(&root, who, &flag)).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!("the hand-over walk failed: {e}"))),
    }
}

fn open_dir(at: libc::c_int, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn chown_fd(fd: &OwnedFd, who: Identity) -> io::Result<usize> {
    // SAFETY: fstat/fchown on a descriptor we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if st.st_uid == who.uid && st.st_gid == who.gid {
        return Ok(0);
    }
    if unsafe { libc::fchown(fd.as_raw_fd(), who.uid, who.gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(1)
}

fn stat_at(dir: libc::c_int, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: fstatat into a zeroed struct, without following a symlink.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// An open directory stream (owns its descriptor; `closedir` on drop).
struct Dir {
    stream: *mut libc::DIR,
}

impl Dir {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        use std::os::fd::IntoRawFd;
        let raw = fd.into_raw_fd();
        // SAFETY: fdopendir takes ownership of `raw` on success.
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: on failure the descriptor is still ours to close.
            unsafe { libc::close(raw) };
            return Err(e);
        }
        Ok(Self { stream })
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: the stream is open for the life of `self`.
        unsafe { libc::dirfd(self.stream) }
    }

    /// The next name other than `.` and `..`.
    fn next_entry(&mut self) -> io::Result<Option<CString>> {
        loop {
            // SAFETY: errno is cleared so that end-of-stream and error differ.
            unsafe { *libc::__errno_location() = 0 };
            let ent = unsafe { libc::readdir(self.stream) };
            if ent.is_null() {
                let e = io::Error::last_os_error();
                return if e.raw_os_error().unwrap_or(0) == 0 { Ok(None) } else { Err(e) };
            }
            // SAFETY: d_name is a NUL-terminated name inside the entry.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                return Ok(Some(name.to_owned()));
            }
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: the stream was opened by fdopendir and is closed once.
        unsafe { libc::closedir(self.stream) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_over_changes_owners_below_the_root_and_never_follows_links() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            // Only root may give files away; the end-to-end tests cover the rest.
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "host file").unwrap();
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(ws.path().join("a/b")).unwrap();
        std::fs::write(ws.path().join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink(&victim, ws.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("dirlink")).unwrap();
        std::fs::hard_link(&victim, ws.path().join("hard")).unwrap();
        let who = Identity { uid: 4242, gid: 4343 };
        hand_over(ws.path(), who, &AtomicBool::new(false)).unwrap();
        use std::os::unix::fs::MetadataExt;
        for p in ["", "a", "a/b", "a/b/f", "a/link", "dirlink"] {
            let m = std::fs::symlink_metadata(ws.path().join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (4242, 4343), "{p}");
        }
        // Neither the link targets nor a hard-linked host file changed owner.
        assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0);
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), 0);
    }

    #[test]
    fn hand_over_refuses_a_tree_deeper_than_its_limit() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let ws = tempfile::tempdir().unwrap();
        let mut p = ws.path().to_path_buf();
        for _ in 0..(MAX_DEPTH + 2) {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        let err = hand_over(ws.path(), Identity { uid: 4242, gid: 4242 }, &AtomicBool::new(false)).unwrap_err();
        assert!(err.to_string().contains("deeper than 512 levels"), "{err}");
    }

    #[test]
    fn entries_that_vanish_during_the_walk_are_gone_not_an_error() {
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        let ws = tempfile::tempdir().unwrap();
        for i in 0..200 {
            std::fs::write(ws.path().join(format!("keep{i}")), "k").unwrap();
        }
        let halt = Arc::new(AtomicBool::new(false));
        let (dir, stop) = (ws.path().to_path_buf(), halt.clone());
        // A background process writing and removing temporary files and
        // directories, as fast as it can.
        let churn = std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (f, d) = (dir.join(format!("tmp{}", n % 64)), dir.join(format!("dir{}", n % 64)));
                let _ = std::fs::write(&f, "t");
                let _ = std::fs::create_dir(&d).and_then(|_| std::fs::write(d.join("inner"), "i"));
                let _ = std::fs::remove_file(&f);
                let _ = std::fs::remove_dir_all(&d);
                n += 1;
            }
        });
        let who = Identity { uid: 4242, gid: 4343 };
        for round in 0..300 {
            let owner = if round % 2 == 0 { who } else { Identity { uid: 4343, gid: 4242 } };
            hand_over(ws.path(), owner, &AtomicBool::new(false)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        halt.store(true, Ordering::Relaxed);
        churn.join().unwrap();
    }

    #[test]
    fn a_stopped_walk_ends_at_its_next_entry() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("f"), "x").unwrap();
        // Its own owner: nothing to change, so this runs as any user.
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(ws.path()).unwrap();
        let me = Identity { uid: m.uid(), gid: m.gid() };
        assert_eq!(hand_over(ws.path(), me, &AtomicBool::new(false)).unwrap(), 0);
        let err = hand_over(ws.path(), me, &AtomicBool::new(true)).unwrap_err();
        assert_eq!(err.to_string(), "stopped: the step ended");
    }

    #[test]
    fn a_project_the_sandbox_user_cannot_read_is_named_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let who = Identity { uid: 4242, gid: 4343 };
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_readable(d.path(), who).unwrap_err();
        assert!(
            err.starts_with("untrusted steps run as the sandbox user 4242, who cannot read the project directory ")
        );
        assert!(err.contains("(mode 700, owner ") && err.contains(&format!("`chmod o+rx {}`", d.path().display())));
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_readable(d.path(), who), Ok(()));
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o701)).unwrap();
        assert!(check_readable(d.path(), who).is_err(), "search without read is not enough");
    }
}
