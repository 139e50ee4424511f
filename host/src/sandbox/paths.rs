//! Paths a stage hands to the host (artifact paths, working directories)
//! must stay inside the workspace: no absolute paths, no `..`, no symlink
//! that leads out.

use std::path::{Component, Path, PathBuf};

/// Checks that `rel` is a plain relative path (no root, no `..`, not empty)
/// and returns it normalised (`./a//b` → `a/b`).
pub fn relative(rel: &str) -> Result<PathBuf, String> {
    if rel.is_empty() {
        return Err("empty path".into());
    }
    if rel.contains('\0') {
        return Err(format!("`{}` contains a NUL byte", rel.escape_debug()));
    }
    let rel = rel.strip_prefix("/workspace/").unwrap_or(rel);
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("`{rel}` contains `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("`{rel}` is absolute (give a path relative to the workspace)"));
            }
        }
    }
    Ok(out)
}

/// The host directory for a working directory `rel` inside `workspace`
/// (`None` is the workspace itself). It must exist, be a directory, and
/// still be inside the workspace once symlinks are resolved.
pub fn cwd_in_workspace(workspace: &Path, rel: Option<&str>) -> Result<PathBuf, String> {
    let root = workspace.canonicalize().map_err(|e| format!("workspace {} is not usable: {e}", workspace.display()))?;
    let Some(rel) = rel.filter(|r| !r.is_empty() && *r != "." && *r != "/workspace") else {
        return Ok(root);
    };
    let clean = relative(rel)?;
    let full = root.join(&clean);
    let real = full.canonicalize().map_err(|e| format!("`{rel}`: {e}"))?;
    if !real.starts_with(&root) {
        return Err(format!("`{rel}` leads outside the workspace (through a symlink)"));
    }
    if !real.is_dir() {
        return Err(format!("`{rel}` is not a directory"));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_checked() {
        assert_eq!(relative("a/./b//c").expect("ok"), PathBuf::from("a/b/c"));
        assert_eq!(relative("/workspace/out").expect("ok"), PathBuf::from("out"));
        assert_eq!(relative("../x").unwrap_err(), "`../x` contains `..`");
        assert_eq!(relative("a/../../x").unwrap_err(), "`a/../../x` contains `..`");
        assert!(relative("/etc/passwd").unwrap_err().contains("is absolute"));
        assert!(relative("").is_err());
    }

    #[test]
    fn cwd_cannot_leave_through_a_symlink() {
        let ws = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(ws.path().join("sub")).expect("mkdir");
        std::os::unix::fs::symlink(outside.path(), ws.path().join("escape")).expect("symlink");
        let root = ws.path().canonicalize().expect("canon");
        assert_eq!(cwd_in_workspace(ws.path(), None).expect("root"), root);
        assert_eq!(cwd_in_workspace(ws.path(), Some("sub")).expect("sub"), root.join("sub"));
        let err = cwd_in_workspace(ws.path(), Some("escape")).unwrap_err();
        assert_eq!(err, "`escape` leads outside the workspace (through a symlink)");
        assert!(cwd_in_workspace(ws.path(), Some("..")).is_err());
        assert!(cwd_in_workspace(ws.path(), Some("missing")).is_err());
    }
}
