//! The trusted tree: the committed `HEAD` of a git checkout (exported with
//! `git archive`), or the directory as it is, copied; and its digest.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};

use super::apply::git_command;

/// Entries of the checkout's top directory a copy leaves out.
const LEFT_OUT: [&str; 2] = [".baton", ".git"];

/// `(commit, prefix)` of `HEAD` when `dir` is in a git work tree with a
/// commit (`prefix`: `dir` relative to the top, as git writes it), else `None`.
pub fn git_head(dir: &Path) -> Result<Option<(String, String)>, String> {
    let out = |args: &[&str]| -> Option<String> {
        let o = git_command(Some(dir)).args(args).stderr(Stdio::null()).output().ok()?;
        o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim_end_matches('\n').to_string())
    };
    if out(&["rev-parse", "--is-inside-work-tree"]).as_deref() != Some("true") {
        return Ok(None);
    }
    let Some(commit) = out(&["rev-parse", "--verify", "HEAD^{commit}"]) else {
        return Err(format!(
            "{} is a git repository without a commit: commit the trusted pipeline first (a try run's base is HEAD)",
            dir.display()
        ));
    };
    let prefix = out(&["rev-parse", "--show-prefix"]).unwrap_or_default();
    Ok(Some((commit, prefix)))
}

/// The tree of `HEAD` (its `prefix` subdirectory) as a tar.
pub fn git_archive(dir: &Path, prefix: &str) -> Result<Vec<u8>, String> {
    let o = git_command(Some(dir))
        .args(["archive", "--format=tar", &format!("HEAD:{prefix}")])
        .output()
        .map_err(|e| format!("cannot run git archive in {}: {e}", dir.display()))?;
    if !o.status.success() {
        return Err(format!(
            "git archive of HEAD in {} failed: {}",
            dir.display(),
            crate::text::escape_line(String::from_utf8_lossy(&o.stderr).trim())
        ));
    }
    Ok(o.stdout)
}

/// Unpacks `tar` into the new directory `dest` (mode 0755).
pub fn unpack(tar: &[u8], dest: &Path) -> Result<(), String> {
    make_dir(dest)?;
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(false);
    archive.unpack(dest).map_err(|e| format!("cannot unpack the trusted tree into {}: {e}", dest.display()))
}

fn make_dir(dest: &Path) -> Result<(), String> {
    std::fs::create_dir(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot set the mode of {}: {e}", dest.display()))
}

/// Every entry of `dir` to copy or digest, sorted, relative, with `.baton/`
/// and `.git/` of the top left out: `(relative path, metadata)`.
fn walk(dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, String> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let abs = dir.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&abs)
            .map_err(|e| format!("cannot read {}: {e}", abs.display()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries {
            if rel.as_os_str().is_empty() && LEFT_OUT.iter().any(|l| name == *l) {
                continue;
            }
            let r = rel.join(&name);
            let meta =
                std::fs::symlink_metadata(dir.join(&r)).map_err(|e| format!("cannot stat {}: {e}", r.display()))?;
            if meta.is_dir() {
                todo.push(r.clone());
            }
            out.push((r, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Copies `src` (without `.baton/` and `.git/`) into the new directory `dest`:
/// regular files with their executable bit, directories, symlinks as links.
pub fn copy(src: &Path, dest: &Path) -> Result<(), String> {
    make_dir(dest)?;
    for (rel, meta) in walk(src)? {
        let (from, to) = (src.join(&rel), dest.join(&rel));
        let ft = meta.file_type();
        let done = if ft.is_dir() {
            std::fs::create_dir_all(&to)
                .and_then(|_| std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)))
        } else if ft.is_symlink() {
            std::fs::read_link(&from).and_then(|target| std::os::unix::fs::symlink(target, &to))
        } else if ft.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            std::fs::copy(&from, &to).and_then(|_| std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)))
        } else {
            return Err(format!(
                "{} is neither a file, a directory nor a symlink: a try run copies the project, and cannot copy it",
                from.display()
            ));
        };
        done.map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Hex sha256 over the tree of `dir` (without `.baton/` and `.git/`): each
/// entry's path, kind, executable bit and content or link target, in order.
pub fn digest(dir: &Path) -> Result<String, String> {
    let mut h = Sha256::new();
    for (rel, meta) in walk(dir)? {
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        let ft = meta.file_type();
        if ft.is_dir() {
            h.update(b"d");
        } else if ft.is_symlink() {
            h.update(b"l");
            let target =
                std::fs::read_link(dir.join(&rel)).map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
            h.update(target.as_os_str().as_encoded_bytes());
        } else {
            h.update(if meta.permissions().mode() & 0o111 != 0 { b"x" } else { b"f" });
            let bytes = std::fs::read(dir.join(&rel)).map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
        h.update([0]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Gives the owner write access to every directory under `root` (so that it
/// can be removed).
pub fn make_writable(root: &Path) {
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        if let Ok(meta) = std::fs::symlink_metadata(&d)
            && meta.is_dir()
        {
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(meta.permissions().mode() | 0o700));
            if let Ok(entries) = std::fs::read_dir(&d) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        }
    }
}
