//! The project's source at `/src`, read-only, without any `.baton/`.
//!
//! Every stage gets the pipeline's directory preopened read-only at `/src`
//! (see [`crate::sandbox::wasi`]). WASI preopens cannot leave a
//! subdirectory out, so the functions that reach a path through a directory
//! are wrapped here: a file or directory that turns out to be `.baton/` or
//! inside it (by its real path, so symlinks do not help) is refused as if
//! it did not exist, and listings under `/src` leave `.baton` out. Every
//! `.baton` under the project is hidden, not only the pipeline's own: in a
//! monorepo, a sub-pipeline's runs (workspaces, logs) are as private. The state
//! of earlier runs (workspaces, logs, artifacts) is then out of a stage's
//! reach: a run's verdict depends only on what that run did.

use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self as fs, Descriptor, DescriptorFlags, DirectoryEntry, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
    OpenFlags, PathFlags,
};

use crate::runtime::state::StepState;

/// The WASI filesystem interface the host links (its functions are shadowed).
const TYPES: &str = "wasi:filesystem/types@0.2.12";

pub use crate::sandbox::wasi::SRC;

/// The state directory left out of `/src`.
pub const STATE: &str = ".baton";

/// The source directory of a step, as the guard needs it.
#[derive(Debug, Clone)]
pub struct SourceDir {
    /// Canonical path of the pipeline's directory.
    pub root: PathBuf,
    /// Canonical path of its `.baton/`.
    pub state: PathBuf,
}

impl SourceDir {
    /// The directory `dir` (canonicalized; `None` if it cannot be).
    pub fn new(dir: &Path) -> Option<Self> {
        let root = dir.canonicalize().ok()?;
        let state = root.join(STATE);
        Some(Self { root, state })
    }

    /// Whether the real path `p` is a state directory under the project
    /// (the pipeline's own `.baton/` or any other pipeline's, in a
    /// monorepo) or inside one.
    fn hides(&self, p: &Path) -> bool {
        p.starts_with(&self.state)
            || p.strip_prefix(&self.root).is_ok_and(|rel| rel.components().any(|c| c.as_os_str() == STATE))
    }

    /// Whether the directory at real path `dir` was reached through `/src`
    /// (the workspace lives under `.baton/` too, but is reached through
    /// `/workspace`, which is not guarded).
    fn guards(&self, dir: &Path) -> bool {
        dir.starts_with(&self.root) && !self.hides(dir)
    }
}

/// The real path of an open descriptor.
fn real_path(d: &Descriptor) -> Option<PathBuf> {
    let fd = match d {
        Descriptor::File(f) => f.file.as_raw_fd(),
        Descriptor::Dir(d) => d.dir.as_raw_fd(),
    };
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// `dir` joined with the guest's relative `path`, `..` and `.` folded.
fn lexical_join(dir: &Path, path: &str) -> PathBuf {
    let mut out = dir.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The source directory, if descriptor `fd` is a directory reached through
/// `/src` (only those marked so are looked at: see [`StepState::guarded`]).
fn guarded(state: &mut StepState, fd: &Resource<Descriptor>) -> wasmtime::Result<Option<SourceDir>> {
    let Some(src) = state.ctx.src.clone() else {
        return Ok(None);
    };
    if !state.guarded.contains(&fd.rep()) {
        return Ok(None);
    }
    let view = state.filesystem();
    let real = real_path(view.table.get(fd)?);
    Ok(real.is_some_and(|dir| src.guards(&dir)).then_some(src))
}

/// Whether `path` from `fd` is a directory's `.`: itself, never a symlink,
/// so `stat-at` and `metadata-hash-at` (libc asks both for every `stat`,
/// every Rust stage's `chdir` among them) answer with one `fstat` of the
/// handle instead of an open, a stat and a close.
fn dot_of_dir(state: &mut StepState, fd: &Resource<Descriptor>, path: &str) -> wasmtime::Result<bool> {
    Ok(path == "." && matches!(state.table.get(fd)?, Descriptor::Dir(_)))
}

/// Where `joined` really is: through every symlink on the way, and through
/// one in its last component if `follow` (else that one is the subject).
fn resolved(joined: PathBuf, follow: bool) -> PathBuf {
    if follow {
        return joined.canonicalize().unwrap_or(joined);
    }
    match (joined.parent(), joined.file_name()) {
        (Some(parent), Some(name)) => parent.canonicalize().unwrap_or_else(|_| parent.to_path_buf()).join(name),
        _ => joined,
    }
}

/// Whether `path` taken from descriptor `fd` (reached through `/src`) names
/// something under `.baton/`.
fn names_state(state: &mut StepState, fd: &Resource<Descriptor>, path: &str, follow: bool) -> wasmtime::Result<bool> {
    let Some(src) = guarded(state, fd)? else {
        return Ok(false);
    };
    let view = state.filesystem();
    let d = view.table.get(fd)?;
    Ok(real_path(d).is_some_and(|dir| src.hides(&resolved(lexical_join(&dir, path), follow))))
}

/// Shadows the path-taking functions of `wasi:filesystem/types`.
pub fn add_to_linker(linker: &mut Linker<StepState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut i = linker.instance(TYPES)?;
    i.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store, (fd, pflags, path, oflags, flags): (Resource<Descriptor>, PathFlags, String, OpenFlags, DescriptorFlags)| {
            Box::new(async move {
                let state = store.data_mut();
                if names_state(state, &fd, &path, pflags.contains(PathFlags::SYMLINK_FOLLOW))? {
                    return Ok((Err(ErrorCode::NoEntry),));
                }
                let src = guarded(state, &fd)?;
                // Never wasmtime-wasi's own open: it would block this thread
                // on a FIFO (see `open_at`).
                let opened = match state.table.get(&fd)? {
                    Descriptor::Dir(d) => super::open_at::open(d, pflags, &path, oflags, flags),
                    Descriptor::File(_) => Err(ErrorCode::NotDirectory),
                };
                let new = match opened {
                    Ok(d) => state.table.push(d)?,
                    Err(e) => return Ok((Err(e),)),
                };
                let Some(src) = src else {
                    state.mark(new.rep(), false);
                    return Ok((Ok(new),));
                };
                // Through a symlink: judged by where it really is.
                if real_path(state.table.get(&new)?).is_some_and(|real| src.hides(&real)) {
                    drop(state.table.delete(new)?);
                    return Ok((Err(ErrorCode::NoEntry),));
                }
                state.mark(new.rep(), true);
                Ok((Ok(new),))
            })
        },
    )?;
    i.func_wrap_async(
        "[method]descriptor.stat-at",
        |mut store, (fd, pflags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(async move {
                let state = store.data_mut();
                if dot_of_dir(state, &fd, &path)? {
                    let mut view = state.filesystem();
                    return match HostDescriptor::stat(&mut view, fd).await {
                        Ok(s) => Ok((Ok(s),)),
                        Err(e) => Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
                    };
                }
                if names_state(state, &fd, &path, pflags.contains(PathFlags::SYMLINK_FOLLOW))? {
                    return Ok((Err(ErrorCode::NoEntry),));
                }
                let mut view = state.filesystem();
                match HostDescriptor::stat_at(&mut view, fd, pflags, path).await {
                    Ok(s) => Ok((Ok(s),)),
                    Err(e) => Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
                }
            })
        },
    )?;
    i.func_wrap_async(
        "[method]descriptor.metadata-hash-at",
        |mut store, (fd, pflags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(async move {
                let state = store.data_mut();
                if dot_of_dir(state, &fd, &path)? {
                    let mut view = state.filesystem();
                    return match HostDescriptor::metadata_hash(&mut view, fd).await {
                        Ok(h) => Ok((Ok(h),)),
                        Err(e) => Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
                    };
                }
                if names_state(state, &fd, &path, pflags.contains(PathFlags::SYMLINK_FOLLOW))? {
                    return Ok((Err(ErrorCode::NoEntry),));
                }
                let mut view = state.filesystem();
                match HostDescriptor::metadata_hash_at(&mut view, fd, pflags, path).await {
                    Ok(h) => Ok((Ok(h),)),
                    Err(e) => Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
                }
            })
        },
    )?;
    i.func_wrap_async("[method]descriptor.readlink-at", |mut store, (fd, path): (Resource<Descriptor>, String)| {
        Box::new(async move {
            let state = store.data_mut();
            if names_state(state, &fd, &path, false)? {
                return Ok((Err(ErrorCode::NoEntry),));
            }
            let mut view = state.filesystem();
            match HostDescriptor::readlink_at(&mut view, fd, path).await {
                Ok(l) => Ok((Ok(l),)),
                Err(e) => Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
            }
        })
    })?;
    i.func_wrap_async(
        "[method]directory-entry-stream.read-directory-entry",
        |mut store, (stream,): (Resource<fs::DirectoryEntryStream>,)| {
            Box::new(async move {
                let state = store.data_mut();
                let hidden = state.hidden_listings.contains(&stream.rep());
                let mut view = state.filesystem();
                loop {
                    match HostDirectoryEntryStream::read_directory_entry(&mut view, Resource::new_borrow(stream.rep()))
                        .await
                    {
                        Ok(Some(DirectoryEntry { name, .. })) if hidden && name == STATE => continue,
                        Ok(entry) => return Ok((Ok(entry),)),
                        Err(e) => return Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
                    }
                }
            })
        },
    )?;
    i.func_wrap_async("[method]descriptor.read-directory", |mut store, (fd,): (Resource<Descriptor>,)| {
        Box::new(async move {
            let state = store.data_mut();
            let src = guarded(state, &fd)?;
            let mut view = state.filesystem();
            // Every listing of a directory reached through `/src` leaves
            // `.baton` out: another pipeline's state is as hidden as ours.
            let hides_state = src.is_some();
            match HostDescriptor::read_directory(&mut view, fd).await {
                Ok(stream) => {
                    // Every listing starts here, so a reused handle number
                    // is always marked for the listing it now is.
                    let hidden = &mut store.data_mut().hidden_listings;
                    if hides_state {
                        hidden.insert(stream.rep());
                    } else {
                        hidden.remove(&stream.rep());
                    }
                    Ok((Ok(stream),))
                }
                Err(e) => Ok((Err(fs::Host::convert_error_code(&mut view, e)?),)),
            }
        })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
