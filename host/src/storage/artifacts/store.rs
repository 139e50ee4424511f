//! [`ArtifactStore`]: blobs under `sha256/<hex>`, written through a temp
//! file that is removed unless the whole blob was written, verified on
//! every read. All workspace access goes through `cap-std`, so no path, and
//! no symlink planted by a stage, leads outside the workspace.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use sha2::{Digest, Sha256};

use super::tar_write::{self, Blob};
use super::{ArtifactRecord, Job, Kind, StoreError, tar_read};
use crate::storage::rel_path::relative;

/// `create_dir_all` inside `ws`, saying so when a symlink leads out.
fn create_dirs(ws: &Dir, path: &Path) -> Result<(), StoreError> {
    ws.create_dir_all(path).map_err(|e| {
        let through_link = path
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| ws.symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()));
        if through_link {
            StoreError::Path(format!("directory `{}` leads outside the workspace (through a symlink)", path.display()))
        } else {
            io_err("directory", path)(e)
        }
    })
}

pub(super) fn io_err(what: &str, path: &Path) -> impl Fn(io::Error) -> StoreError {
    let label = format!("{what} `{}`", path.display());
    move |e| {
        // cap-std reports escapes as PermissionDenied with this text.
        if e.to_string().contains("outside of the filesystem") {
            StoreError::Path(format!("{label} leads outside the workspace (through a symlink)"))
        } else {
            StoreError::Io(format!("{label}: {e}"))
        }
    }
}

/// The store of one pipeline.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
}

impl ArtifactStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Path of the blob with `digest` (`sha256:<hex>`).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("sha256").join(digest.trim_start_matches("sha256:"))
    }

    /// Where blobs are written before they are complete.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Stores the file or directory at `rel` inside `workspace`, within the
    /// bounds of `job`; returns `(digest, size, kind)`. Equal content is
    /// stored once; nothing is left in the store if it fails.
    pub fn put(&self, workspace: &Path, rel: &str, job: &Job) -> Result<(String, u64, Kind), StoreError> {
        let clean = relative(rel).map_err(StoreError::Path)?;
        let ws = Dir::open_ambient_dir(workspace, ambient_authority()).map_err(io_err("workspace", workspace))?;
        // Opened once, following symlinks only beneath the workspace, and
        // never waiting on a FIFO; judged by what was opened.
        let mut top = ws
            .open_with(&clean, OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK))
            .map_err(io_err("path", &clean))?;
        let meta = top.metadata().map_err(io_err("path", &clean))?;
        std::fs::create_dir_all(self.tmp_dir()).map_err(io_err("store", &self.root))?;
        // Removed when dropped: every early return leaves no partial blob.
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir()).map_err(io_err("store", &self.root))?;
        let mut blob = Blob::new(io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut()), job.limit);
        let kind = if meta.is_dir() {
            tar_write::write_dir(Dir::from_std_file(top.into_std()), &clean, &mut blob, job)?;
            Kind::Directory
        } else if meta.is_file() {
            tar_write::write_file(&mut top, &meta, &clean, &mut blob, job)?;
            Kind::File
        } else {
            return Err(tar_write::refuse_kind(&clean, meta.file_type()));
        };
        let (digest, size) = blob.finish().map_err(io_err("store", &self.root))?;
        job.cancel.check()?;
        let dest = self.blob_path(&digest);
        if !dest.exists() {
            tmp.as_file().sync_all().map_err(io_err("store", &self.root))?;
            std::fs::create_dir_all(self.root.join("sha256")).map_err(io_err("store", &self.root))?;
            tmp.persist(&dest).map_err(|e| StoreError::Io(format!("store {}: {}", dest.display(), e.error)))?;
            sync_dir(&self.root.join("sha256"));
        }
        Ok((digest, size, kind))
    }

    /// Copies the blob of `record` to `dest` (relative to `workspace`),
    /// verifying its digest; a file replaces `dest`, a directory is unpacked
    /// into it.
    pub fn get(&self, record: &ArtifactRecord, workspace: &Path, dest: &str, job: &Job) -> Result<(), StoreError> {
        let clean = relative(dest).map_err(StoreError::Path)?;
        let ws = Dir::open_ambient_dir(workspace, ambient_authority()).map_err(io_err("workspace", workspace))?;
        match record.kind {
            Kind::File => {
                let parent = clean.parent().filter(|p| !p.as_os_str().is_empty());
                if let Some(p) = parent {
                    create_dirs(&ws, p)?;
                }
                let name = clean.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                let (tmp_name, mut out) = create_temporary(&ws, &clean, &name)?;
                let verified = self.copy_verified(&record.digest, &mut Checked { inner: &mut out, job });
                if let Err(e) = verified {
                    drop(out);
                    let _ = ws.remove_file(&tmp_name);
                    return Err(e);
                }
                out.sync_all().map_err(io_err("file", &clean))?;
                ws.rename(&tmp_name, &ws, &clean).map_err(io_err("file", &clean))?;
            }
            Kind::Directory => {
                self.check_tree(&record.digest, job)?;
                ws.create_dir_all(&clean).map_err(io_err("directory", &clean))?;
                let target = ws.open_dir(&clean).map_err(io_err("directory", &clean))?;
                self.unpack(&record.digest, &target, job)?;
            }
        }
        Ok(())
    }

    /// Copies an artifact out of the store to any host path (for the CLI):
    /// a file to `dest`, a directory unpacked into `dest`.
    pub fn export(&self, record: &ArtifactRecord, dest: &Path) -> Result<(), StoreError> {
        match record.kind {
            Kind::File => {
                let tmp = dest.with_file_name(format!(
                    ".baton-export-{}-{}",
                    unique(),
                    dest.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
                ));
                let mut out = std::fs::File::create(&tmp).map_err(io_err("file", &tmp))?;
                if let Err(e) = self.copy_verified(&record.digest, &mut out) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
                std::fs::rename(&tmp, dest).map_err(io_err("file", dest))
            }
            Kind::Directory => {
                self.check_tree(&record.digest, &Job::unbounded())?;
                std::fs::create_dir_all(dest).map_err(io_err("directory", dest))?;
                let target = Dir::open_ambient_dir(dest, ambient_authority()).map_err(io_err("directory", dest))?;
                self.unpack(&record.digest, &target, &Job::unbounded())
            }
        }
    }

    /// Verifies a directory blob and checks every entry before anything is
    /// unpacked: never leave a half-trusted tree.
    fn check_tree(&self, digest: &str, job: &Job) -> Result<(), StoreError> {
        self.copy_verified(digest, &mut Checked { inner: io::sink(), job })?;
        tar_read::check(self.open_blob(digest)?)
    }

    fn unpack(&self, digest: &str, target: &Dir, job: &Job) -> Result<(), StoreError> {
        tar_read::unpack(self.open_blob(digest)?, target, &job.cancel)
    }

    fn open_blob(&self, digest: &str) -> Result<io::BufReader<std::fs::File>, StoreError> {
        let path = self.blob_path(digest);
        Ok(io::BufReader::new(std::fs::File::open(&path).map_err(io_err("blob", &path))?))
    }

    /// Copies blob `digest` into `out` and checks the digest of what was read.
    pub fn copy_verified(&self, digest: &str, out: &mut impl Write) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        let mut f = std::fs::File::open(&path).map_err(io_err("blob", &path))?;
        let mut w = HashingWriter { inner: out, hasher: Sha256::new(), size: 0 };
        io::copy(&mut f, &mut w).map_err(io_err("blob", &path))?;
        let actual = format!("sha256:{}", hex::encode(w.hasher.finalize()));
        if actual != digest {
            return Err(StoreError::Corrupt { digest: digest.to_string(), actual });
        }
        Ok(w.size)
    }

    /// Every digest in the store.
    pub fn digests(&self) -> io::Result<Vec<String>> {
        let dir = self.root.join("sha256");
        let mut out = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    out.push(format!("sha256:{}", e?.file_name().to_string_lossy()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(out)
    }
}

/// A number no other temp file of this process uses (steps of one board
/// may fetch into the same place at once).
/// Creates the temporary a fetch writes before renaming it to `dest`: in
/// the workspace, where a stage's processes run at the same time and could
/// plant a FIFO (which would block the fetch's open for ever) or a symlink
/// at a name they can guess. So the name has 128 random bits and the file is
/// created exclusively (`O_EXCL`: nothing planted is ever opened), without
/// following a symlink and without blocking.
fn create_temporary(ws: &Dir, dest: &Path, name: &str) -> Result<(PathBuf, cap_std::fs::File), StoreError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    let mut last = None;
    // A collision of 128 random bits is an attacker who can read them: a
    // few tries, then the error.
    for _ in 0..4 {
        let tmp = dest.with_file_name(format!(".baton-get-{}-{name}", random_hex()?));
        match ws.open_with(&tmp, &opts) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err("file", dest)(e)),
        }
    }
    Err(io_err("file", dest)(last.unwrap_or_else(|| io::Error::other("no free temporary name"))))
}

/// 16 random bytes from the kernel, in hex.
fn random_hex() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    // SAFETY: the buffer is valid for its length; getrandom writes at most that.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        return Err(StoreError::Io(format!("cannot get random bytes: {}", io::Error::last_os_error())));
    }
    Ok(hex::encode(bytes))
}

fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// A writer that stops once the job is cancelled (a fetch whose step ended).
struct Checked<'a, W> {
    inner: W,
    job: &'a Job,
}

impl<W: Write> Write for Checked<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.job.cancel.is_cancelled() {
            return Err(io::Error::other(StoreError::Cancelled.to_string()));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
