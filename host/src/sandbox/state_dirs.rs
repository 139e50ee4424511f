//! Every `.baton` directory under a project, for bubblewrap to cover.
//!
//! An untrusted process sees the project read-only at `/src`. The
//! pipeline's own `.baton/` (its runs: workspaces, logs, artifacts) has been
//! covered since the start; in a monorepo, a sub-pipeline's `.baton/` was
//! not, and an untrusted step read another pipeline's run workspace through
//! it. So the project is walked once per run (per source directory) and
//! every `.baton` directory found is covered by an empty read-only tmpfs.
//! The walk never follows a symlink (a symlink under `/src` resolves inside
//! the sandbox, where every covered path is covered), skips `.git`, and is
//! bounded: past [`MAX_ENTRIES`] entries or [`MAX_DEPTH`] levels, what was
//! found so far is covered. (A stage's own file calls through `/src` are
//! checked on every call by `runtime::host::src_view`.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The state directory's name.
pub const STATE: &str = ".baton";

const MAX_ENTRIES: usize = 500_000;
const MAX_DEPTH: usize = 64;

/// The `.baton` directories under `root`, relative to it, the top one
/// first if there is one.
pub fn find(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut seen = 0usize;
    let mut stack = vec![(PathBuf::new(), 0usize)];
    while let Some((rel, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return sorted(found);
            }
            let Ok(kind) = entry.file_type() else { continue };
            if !kind.is_dir() {
                continue;
            }
            let name = entry.file_name();
            let path = rel.join(&name);
            if name == STATE {
                found.push(path);
            } else if name != ".git" && depth + 1 < MAX_DEPTH {
                stack.push((path, depth + 1));
            }
        }
    }
    sorted(found)
}

fn sorted(mut found: Vec<PathBuf>) -> Vec<PathBuf> {
    found.sort_by_key(|p| (p.components().count(), p.clone()));
    found
}

/// [`find`], once per source directory for the life of the cache (a run).
#[derive(Debug, Default, Clone)]
pub struct StateDirs(Arc<Mutex<HashMap<PathBuf, Arc<Vec<PathBuf>>>>>);

impl StateDirs {
    pub fn under(&self, root: &Path) -> Arc<Vec<PathBuf>> {
        let mut known = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.entry(root.to_path_buf()).or_insert_with(|| Arc::new(find(root))).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_directory_is_found_without_following_links() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        for d in [".baton/runs", "sub/.baton/runs/x", "a/b/c/.baton", ".git/.baton", "plain/dir"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        // A file of that name holds no state and has no place to mount on.
        std::fs::write(r.join("plain/.baton"), "x").unwrap();
        std::os::unix::fs::symlink(r.join("sub"), r.join("link")).unwrap();
        let found = find(r);
        let want: Vec<PathBuf> = [".baton", "sub/.baton", "a/b/c/.baton"].iter().map(PathBuf::from).collect();
        assert_eq!(found, want);
    }
}
