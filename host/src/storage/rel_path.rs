//! A path a stage names inside the workspace (to publish or fetch into):
//! plain and relative, or refused. Symlinks are the callers' to resolve.

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
}
