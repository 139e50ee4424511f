//! The content-addressed artifact store, `.baton/store/`, shared by all runs.
//!
//! A blob lives at `sha256/<hex>`; a directory is stored as a deterministic
//! tar (sorted entries, zero times and owners, normalised modes), so equal
//! content gives equal digests. Writes go to a temp file, are fsynced and
//! renamed into place; a blob is verified against its digest on every read.
//! All workspace access goes through `cap-std`, so no path, and no symlink
//! planted by a stage, can lead outside the workspace.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sandbox::paths::relative;

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Directory,
}

/// One published artifact, as kept in a run's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// `board.step/name`.
    pub reference: String,
    /// `board.step` of the producer.
    pub step: String,
    pub name: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
    pub kind: Kind,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("invalid path {0}")]
    Path(String),
    #[error("blob {digest} is corrupt: its content hashes to {actual}")]
    Corrupt { digest: String, actual: String },
    #[error("{0}")]
    Io(String),
}

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

fn io_err(what: &str, path: &Path) -> impl Fn(io::Error) -> StoreError {
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

/// Whether `name` is a valid artifact name: letters, digits, `.`, `_`, `-`,
/// not starting with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
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

    /// Stores the file or directory at `rel` inside `workspace`; returns
    /// `(digest, size, kind)`. Equal content is stored once.
    pub fn put(&self, workspace: &Path, rel: &str) -> Result<(String, u64, Kind), StoreError> {
        let clean = relative(rel).map_err(StoreError::Path)?;
        let ws = Dir::open_ambient_dir(workspace, ambient_authority()).map_err(io_err("workspace", workspace))?;
        let meta = ws.metadata(&clean).map_err(io_err("path", &clean))?;
        std::fs::create_dir_all(self.root.join("tmp")).map_err(io_err("store", &self.root))?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp")).map_err(io_err("store", &self.root))?;
        let (kind, hasher, size) = {
            let mut out =
                HashingWriter { inner: io::BufWriter::new(tmp.as_file_mut()), hasher: Sha256::new(), size: 0 };
            let kind = if meta.is_dir() {
                let dir = ws.open_dir(&clean).map_err(io_err("directory", &clean))?;
                write_tar(&dir, &mut out, &clean)?;
                Kind::Directory
            } else if meta.is_file() {
                let mut f = ws.open(&clean).map_err(io_err("file", &clean))?;
                io::copy(&mut f, &mut out).map_err(io_err("file", &clean))?;
                Kind::File
            } else {
                return Err(StoreError::Path(format!("`{rel}` is neither a file nor a directory")));
            };
            out.inner.flush().map_err(io_err("store", &self.root))?;
            (kind, out.hasher, out.size)
        };
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
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
    pub fn get(&self, record: &ArtifactRecord, workspace: &Path, dest: &str) -> Result<(), StoreError> {
        let clean = relative(dest).map_err(StoreError::Path)?;
        let ws = Dir::open_ambient_dir(workspace, ambient_authority()).map_err(io_err("workspace", workspace))?;
        match record.kind {
            Kind::File => {
                let parent = clean.parent().filter(|p| !p.as_os_str().is_empty());
                if let Some(p) = parent {
                    create_dirs(&ws, p)?;
                }
                let tmp_name = clean.with_file_name(format!(
                    ".baton-get-{}-{}",
                    unique(),
                    clean.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
                ));
                let mut out = ws.create(&tmp_name).map_err(io_err("file", &clean))?;
                let verified = self.copy_verified(&record.digest, &mut out);
                if let Err(e) = verified {
                    drop(out);
                    let _ = ws.remove_file(&tmp_name);
                    return Err(e);
                }
                out.sync_all().map_err(io_err("file", &clean))?;
                ws.rename(&tmp_name, &ws, &clean).map_err(io_err("file", &clean))?;
            }
            Kind::Directory => {
                // Verify first, then unpack: never leave a half-trusted tree.
                self.copy_verified(&record.digest, &mut io::sink())?;
                ws.create_dir_all(&clean).map_err(io_err("directory", &clean))?;
                let target = ws.open_dir(&clean).map_err(io_err("directory", &clean))?;
                let blob = std::fs::File::open(self.blob_path(&record.digest))
                    .map_err(io_err("blob", &self.blob_path(&record.digest)))?;
                unpack_tar(blob, &target)?;
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
                self.copy_verified(&record.digest, &mut io::sink())?;
                std::fs::create_dir_all(dest).map_err(io_err("directory", dest))?;
                let target = Dir::open_ambient_dir(dest, ambient_authority()).map_err(io_err("directory", dest))?;
                let blob = std::fs::File::open(self.blob_path(&record.digest))
                    .map_err(io_err("blob", &self.blob_path(&record.digest)))?;
                unpack_tar(blob, &target)
            }
        }
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
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
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

/// Writes `dir` as a deterministic tar.
fn write_tar(dir: &Dir, out: &mut impl Write, shown: &Path) -> Result<(), StoreError> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    append_dir(&mut builder, dir, Path::new(""), shown)?;
    builder.finish().map_err(|e| StoreError::Io(format!("archive `{}`: {e}", shown.display())))?;
    Ok(())
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, dir: &Dir, prefix: &Path, shown: &Path) -> Result<(), StoreError> {
    let mut names: Vec<String> = Vec::new();
    for entry in dir.entries().map_err(io_err("directory", &shown.join(prefix)))? {
        let entry = entry.map_err(io_err("directory", &shown.join(prefix)))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    for name in names {
        let rel = prefix.join(&name);
        let full_shown = shown.join(&rel);
        let meta = dir.symlink_metadata(&name).map_err(io_err("path", &full_shown))?;
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        if meta.file_type().is_symlink() {
            let target = dir.read_link_contents(&name).map_err(io_err("symlink", &full_shown))?;
            if !stays_inside(&rel, &target) {
                return Err(StoreError::Path(format!(
                    "symlink `{}` points outside the artifact (to `{}`)",
                    full_shown.display(),
                    target.display()
                )));
            }
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, &rel, &target).map_err(|e| StoreError::Io(format!("archive: {e}")))?;
        } else if meta.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
            b.append_data(&mut h, &rel, io::empty()).map_err(|e| StoreError::Io(format!("archive: {e}")))?;
            let sub = dir.open_dir(&name).map_err(io_err("directory", &full_shown))?;
            append_dir(b, &sub, &rel, shown)?;
        } else if meta.is_file() {
            use cap_std::fs::PermissionsExt;
            let exec = meta.permissions().mode() & 0o111 != 0;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            h.set_mode(if exec { 0o755 } else { 0o644 });
            let f = dir.open(&name).map_err(io_err("file", &full_shown))?;
            b.append_data(&mut h, &rel, f)
                .map_err(|e| StoreError::Io(format!("archive `{}`: {e}", full_shown.display())))?;
        }
        // Sockets, fifos and devices are not artifacts; they are left out.
    }
    Ok(())
}

/// Whether a relative symlink at `link` (inside the artifact) pointing to
/// `target` resolves inside the artifact.
fn stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Unpacks one of our tars into `target`, through cap-std.
fn unpack_tar(blob: std::fs::File, target: &Dir) -> Result<(), StoreError> {
    let mut archive = tar::Archive::new(io::BufReader::new(blob));
    let bad = |e: io::Error| StoreError::Io(format!("unpack: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let clean = relative(&path.to_string_lossy()).map_err(StoreError::Path)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => target.create_dir_all(&clean).map_err(io_err("directory", &clean))?,
            tar::EntryType::Symlink => {
                let link = entry.link_name().map_err(bad)?.unwrap_or_default().into_owned();
                let _ = target.remove_file(&clean);
                target.symlink(&link, &clean).map_err(io_err("symlink", &clean))?;
            }
            tar::EntryType::Regular => {
                let mut f = target.create(&clean).map_err(io_err("file", &clean))?;
                io::copy(&mut entry, &mut f).map_err(io_err("file", &clean))?;
                if entry.header().mode().unwrap_or(0o644) & 0o111 != 0 {
                    use cap_std::fs::PermissionsExt;
                    let _ = f.set_permissions(cap_std::fs::Permissions::from_mode(0o755));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
