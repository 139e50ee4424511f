//! `open-at` that cannot block: a stage's open of a FIFO or a device is refused.
//!
//! A stage's file calls run inline on the runtime's worker threads
//! (`allow_blocking_current_thread`: two thread hops per call were most of a
//! noop step's cost). An `open(2)` of a FIFO blocks in the kernel until the
//! other end is opened, and a stage's own process can make one in its
//! workspace: the thread would be stuck for ever, with it the step's timeout,
//! the run's cancellation and, with one job, everything. So every open a
//! stage asks for is made with `O_NONBLOCK` (an open of a FIFO returns at
//! once, or fails with `ENXIO` for writing), its type is checked on the open
//! handle (`fstat`, no race with a rename), and anything that is not a
//! regular file or a directory is closed and refused. On a regular file or a
//! directory `O_NONBLOCK` changes nothing, so the handle is kept as it is.
//!
//! The rest follows wasmtime-wasi's own `open-at` (flags, permissions,
//! `cap-primitives` resolution under the directory handle), which cannot be
//! given an extra open flag.

use std::os::fd::AsRawFd;

use cap_primitives::fs::{FollowSymlinks, OpenOptions, OpenOptionsExt};
use wasmtime_wasi::filesystem::{Descriptor, Dir, File, OpenMode};
use wasmtime_wasi::p2::bindings::filesystem::types::{DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

/// Opens `path` under `dir` as wasmtime-wasi would, without ever blocking;
/// only regular files and directories are opened.
pub fn open(
    dir: &Dir,
    path_flags: PathFlags,
    path: &str,
    oflags: OpenFlags,
    flags: DescriptorFlags,
) -> Result<Descriptor, ErrorCode> {
    let mut create = false;
    let mut open_mode = OpenMode::empty();
    let mut opts = OpenOptions::new();
    if oflags.contains(OpenFlags::CREATE) {
        if oflags.contains(OpenFlags::EXCLUSIVE) {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
        create = true;
        opts.write(true);
        open_mode |= OpenMode::WRITE;
    }
    if oflags.contains(OpenFlags::TRUNCATE) {
        opts.truncate(true).write(true);
        open_mode |= OpenMode::WRITE;
    }
    if flags.contains(DescriptorFlags::READ) {
        opts.read(true);
        open_mode |= OpenMode::READ;
    }
    if flags.contains(DescriptorFlags::WRITE) {
        opts.write(true);
        open_mode |= OpenMode::WRITE;
    } else {
        // Opened for reading at least, as wasmtime-wasi does: the
        // descriptor's permissions refuse what the guest may not do.
        opts.read(true);
        open_mode |= OpenMode::READ;
    }
    let follow = if path_flags.contains(PathFlags::SYMLINK_FOLLOW) { FollowSymlinks::Yes } else { FollowSymlinks::No };
    opts._cap_fs_ext_follow(follow);
    opts._cap_fs_ext_nonblock(true);
    // `O_NOCTTY`: a terminal opened by a stage never becomes baton's.
    opts.custom_flags(libc::O_NOCTTY);
    if flags.contains(DescriptorFlags::FILE_INTEGRITY_SYNC)
        || flags.contains(DescriptorFlags::DATA_INTEGRITY_SYNC)
        || flags.contains(DescriptorFlags::REQUESTED_WRITE_SYNC)
    {
        return Err(ErrorCode::Unsupported);
    }
    if oflags.contains(OpenFlags::DIRECTORY)
        && (oflags.contains(OpenFlags::CREATE)
            || oflags.contains(OpenFlags::EXCLUSIVE)
            || oflags.contains(OpenFlags::TRUNCATE))
    {
        return Err(ErrorCode::Invalid);
    }
    if dir.perms.write_not_permitted() && (create || open_mode.contains(OpenMode::WRITE)) {
        return Err(ErrorCode::NotPermitted);
    }
    let opened = cap_primitives::fs::open(&dir.dir, path.as_ref(), &opts).map_err(ErrorCode::from)?;
    let kind = file_kind(&opened).map_err(ErrorCode::from)?;
    match kind {
        Kind::Dir => Ok(Descriptor::Dir(Dir::new(opened, dir.perms, open_mode, true))),
        Kind::File if oflags.contains(OpenFlags::DIRECTORY) => Err(ErrorCode::NotDirectory),
        Kind::File => Ok(Descriptor::File(File::new(opened, dir.perms, open_mode, true))),
        // A FIFO, socket or device: its reads and writes could block a
        // runtime thread as its open would have. Closed here, unread.
        Kind::Other => Err(ErrorCode::Unsupported),
    }
}

enum Kind {
    File,
    Dir,
    Other,
}

/// The type of an open file, by `fstat` of its handle.
fn file_kind(f: &std::fs::File) -> std::io::Result<Kind> {
    // SAFETY: `st` is plain data filled by the kernel; the descriptor is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(f.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        _ => Kind::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime_wasi::FsPerms;

    fn dir(path: &std::path::Path) -> Dir {
        crate::sandbox::wasi::open_dir(path, FsPerms::ReadWrite).expect("open dir")
    }

    fn mkfifo(path: &std::path::Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
    }

    #[test]
    fn a_fifo_is_refused_for_reading_and_writing_without_blocking() {
        let tmp = tempfile::tempdir().expect("tmp");
        mkfifo(&tmp.path().join("trap"));
        let d = dir(tmp.path());
        let read = open(&d, PathFlags::empty(), "trap", OpenFlags::empty(), DescriptorFlags::READ);
        assert!(matches!(read, Err(ErrorCode::Unsupported)), "read open refused");
        let write =
            open(&d, PathFlags::empty(), "trap", OpenFlags::TRUNCATE | OpenFlags::CREATE, DescriptorFlags::WRITE);
        assert!(write.is_err(), "write open refused (ENXIO with no reader, or refused by type)");
        let follow = open(&d, PathFlags::SYMLINK_FOLLOW, "trap", OpenFlags::empty(), DescriptorFlags::READ);
        assert!(matches!(follow, Err(ErrorCode::Unsupported)));
    }

    #[test]
    fn a_symlink_to_a_fifo_and_a_device_are_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        mkfifo(&tmp.path().join("trap"));
        std::os::unix::fs::symlink("trap", tmp.path().join("link")).expect("symlink");
        let d = dir(tmp.path());
        let r = open(&d, PathFlags::SYMLINK_FOLLOW, "link", OpenFlags::empty(), DescriptorFlags::READ);
        assert!(matches!(r, Err(ErrorCode::Unsupported)));
        // A device is out of reach of the directory (no `..`, no absolute
        // path), but the check does not depend on that.
        let dev = dir(std::path::Path::new("/dev"));
        let r = open(&dev, PathFlags::SYMLINK_FOLLOW, "zero", OpenFlags::empty(), DescriptorFlags::READ);
        assert!(matches!(r, Err(ErrorCode::Unsupported)));
    }

    #[test]
    fn regular_files_and_directories_open_as_before() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(tmp.path().join("sub")).expect("sub");
        let d = dir(tmp.path());
        let new = open(&d, PathFlags::empty(), "f", OpenFlags::CREATE | OpenFlags::EXCLUSIVE, DescriptorFlags::WRITE);
        assert!(matches!(new, Ok(Descriptor::File(_))));
        let again = open(&d, PathFlags::empty(), "f", OpenFlags::CREATE | OpenFlags::EXCLUSIVE, DescriptorFlags::WRITE);
        assert!(matches!(again, Err(ErrorCode::Exist)));
        let sub = open(&d, PathFlags::empty(), "sub", OpenFlags::DIRECTORY, DescriptorFlags::READ);
        assert!(matches!(sub, Ok(Descriptor::Dir(_))));
        let not_dir = open(&d, PathFlags::empty(), "f", OpenFlags::DIRECTORY, DescriptorFlags::READ);
        assert!(matches!(not_dir, Err(ErrorCode::NotDirectory)));
        let out = open(&d, PathFlags::empty(), "../x", OpenFlags::empty(), DescriptorFlags::READ);
        assert!(out.is_err(), "no way out of the directory");
    }
}
