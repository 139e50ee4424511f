//! Paths a stage hands to the host (artifact paths, working directories)
//! must stay inside the workspace: no absolute paths, no `..`, no symlink
//! that leads out.

use std::path::{Path, PathBuf};

pub use crate::storage::rel_path::relative;

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
