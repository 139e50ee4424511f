//! `trybot`: a contributor's patch made into the tree a try run's steps see,
//! with nothing of it reaching what baton reads as configuration.
//!
//! [`prepare`] takes the trusted checkout (its committed tree, `HEAD`, when
//! it is a git repository; the directory as it is otherwise, without
//! `.baton/` and `.git/`) and makes two fresh copies of it in a scratch
//! directory: `config/`, from which the pipeline, `baton.lock`, plugins and
//! policy are read, and `src/`, to which the patch is applied with the real
//! `git apply` (scrubbed environment, no repository configuration, never
//! `--unsafe-paths`) and which the steps see at `/src`. The trusted
//! checkout itself is only read. A patch that is too big, does not apply,
//! or names a path outside the tree is refused before anything runs.

mod apply;
pub mod signing;
mod tree;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use apply::git_command;

use crate::plan::operator::TryInfo;

/// The default of `--max-patch`.
pub const DEFAULT_MAX_PATCH: u64 = 10 << 20;

/// The trees of one try run; removed when dropped.
#[derive(Debug)]
pub struct Prepared {
    /// The scratch directory holding both copies.
    root: PathBuf,
    /// The trusted tree, unpatched: the pipeline and its configuration.
    pub config_dir: PathBuf,
    /// The patched tree: `/src` of every step.
    pub src_dir: PathBuf,
    /// Base, patch digest and files changed (`ignored` is the caller's).
    pub info: TryInfo,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // The copies may hold read-only directories the steps' view left so.
        tree::make_writable(&self.root);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Reads a patch from `path` (`-` for stdin), refusing one over `max` bytes.
pub fn read_patch(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let shown = if path == Path::new("-") { "the patch on stdin".to_string() } else { path.display().to_string() };
    let read = if path == Path::new("-") {
        std::io::stdin().lock().take(max + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{shown} is over the patch size cap {} (raise it with --max-patch SIZE if the patch is expected)",
            crate::units::Size(max)
        ));
    }
    if bytes.is_empty() {
        return Err(format!("{shown} is empty (give a unified diff, as `git diff --binary` writes it)"));
    }
    Ok(bytes)
}

/// Hex sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The trusted base of `checkout`: `git:<commit>` when it is a git
/// repository with a commit, else `tree:<sha256>` of the directory.
pub fn base_of(checkout: &Path) -> Result<String, String> {
    match tree::git_head(checkout)? {
        Some((commit, _)) => Ok(format!("git:{commit}")),
        None => Ok(format!("tree:{}", tree::digest(checkout)?)),
    }
}

/// Copies the trusted tree of `checkout` twice under a fresh scratch
/// directory and applies `patch` to the second copy.
pub fn prepare(checkout: &Path, patch: &[u8]) -> Result<Prepared, String> {
    let root = scratch_dir()?;
    let mut prepared = Prepared {
        config_dir: root.join("config"),
        src_dir: root.join("src"),
        root,
        info: TryInfo { patch_sha256: sha256(patch), ..Default::default() },
    };
    let base = match tree::git_head(checkout)? {
        Some((commit, prefix)) => {
            let tar = tree::git_archive(checkout, &prefix)?;
            tree::unpack(&tar, &prepared.config_dir)?;
            tree::unpack(&tar, &prepared.src_dir)?;
            format!("git:{commit}")
        }
        None => {
            let digest = tree::digest(checkout)?;
            tree::copy(checkout, &prepared.config_dir)?;
            tree::copy(checkout, &prepared.src_dir)?;
            format!("tree:{digest}")
        }
    };
    prepared.info.base = base;
    prepared.info.files = apply::apply(&prepared.src_dir, patch)?;
    Ok(prepared)
}

/// A fresh directory for a try run's trees, readable by the sandbox user
/// (steps of a try run are untrusted: their processes run as that user).
fn scratch_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("baton-try-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch directory for the try run: {e}"))?
        .keep();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot open {} to the sandbox user: {e}", dir.display()))?;
    Ok(dir)
}

/// Of the files a patch changes, those baton reads as configuration of the
/// pipeline at `pipeline` (relative to the tree): the pipeline file,
/// `baton.lock` beside it, plugin files, and anything under `.baton/`.
pub fn config_files(changed: &[String], pipeline: &Path, plugin_files: &[PathBuf]) -> Vec<String> {
    let dir = pipeline.parent().unwrap_or(Path::new(""));
    let lock = dir.join("baton.lock");
    changed
        .iter()
        .filter(|f| {
            let p = Path::new(f.as_str());
            p == pipeline
                || p == lock
                || plugin_files.iter().any(|q| q == p)
                || p.components().any(|c| c.as_os_str() == ".baton")
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
