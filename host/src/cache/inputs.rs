//! The host facts a key needs: digests of the project files a step's
//! `inputs` match, and of the programs on its spawn list.
//!
//! A walk starts at each pattern's literal directory (`src/**/*.py` walks
//! `src` only), never follows symlinks (a link is keyed by its target
//! text), and skips `.baton/` and `.git/`. Results are memoised for the
//! run: the key hashes `/src` and the programs as the run first sees them.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::plan::inputs::{NEVER, Pattern, selected};

/// Memoised digests of one run.
#[derive(Debug, Default)]
pub struct HostFacts {
    /// By the pattern list as written.
    trees: Mutex<HashMap<Vec<String>, BTreeMap<String, String>>>,
    programs: Mutex<HashMap<String, String>>,
}

impl HostFacts {
    /// Digests of the files under `project` that `patterns` select, by
    /// relative path.
    pub fn files(&self, project: &Path, patterns: &[Pattern]) -> BTreeMap<String, String> {
        let written: Vec<String> =
            patterns.iter().map(|p| if p.exclude { format!("!{}", p.text) } else { p.text.clone() }).collect();
        if let Some(found) = self.trees.lock().unwrap_or_else(|p| p.into_inner()).get(&written) {
            return found.clone();
        }
        let found = hash_tree(project, patterns);
        self.trees.lock().unwrap_or_else(|p| p.into_inner()).insert(written, found.clone());
        found
    }

    /// sha256 of the program `entry` of a spawn list resolves to (an
    /// absolute path, or a name found on `PATH`), or `missing`.
    pub fn program(&self, entry: &str) -> String {
        if let Some(d) = self.programs.lock().unwrap_or_else(|p| p.into_inner()).get(entry) {
            return d.clone();
        }
        let path =
            if entry.starts_with('/') { Some(PathBuf::from(entry)) } else { crate::sandbox::confine::which(entry) };
        let digest = path
            .and_then(|p| std::fs::File::open(p).ok())
            .and_then(|f| hash_reader(f).ok())
            .unwrap_or_else(|| "missing".to_string());
        self.programs.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.to_string(), digest.clone());
        digest
    }
}

/// `sha256:<hex>` of everything `r` yields.
pub fn hash_reader(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Walks the patterns' roots; see the module doc.
pub fn hash_tree(project: &Path, patterns: &[Pattern]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut roots: Vec<String> = patterns.iter().filter(|p| !p.exclude).map(Pattern::root).collect();
    roots.sort();
    roots.dedup();
    // A root inside another is walked with it.
    let roots: Vec<&String> = roots
        .iter()
        .filter(|r| !roots.iter().any(|o| *o != **r && (o.is_empty() || r.starts_with(&format!("{o}/")))))
        .collect();
    for root in roots {
        let mut stack = vec![root.clone()];
        while let Some(rel) = stack.pop() {
            if rel.split('/').any(|s| NEVER.contains(&s)) {
                continue;
            }
            let path = if rel.is_empty() { project.to_path_buf() } else { project.join(&rel) };
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() {
                let Ok(entries) = std::fs::read_dir(&path) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    stack.push(if rel.is_empty() { name } else { format!("{rel}/{name}") });
                }
            } else if !rel.is_empty() && selected(patterns, &rel) {
                let digest = if ft.is_symlink() {
                    std::fs::read_link(&path).map(|t| format!("link:{}", t.display())).ok()
                } else if ft.is_file() {
                    std::fs::File::open(&path).and_then(hash_reader).ok()
                } else {
                    None
                };
                out.insert(rel, digest.unwrap_or_else(|| "unreadable".into()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_only_what_patterns_select() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        for (f, text) in [("src/a.py", "a"), ("src/d/b.py", "b"), ("src/README.md", "r"), ("other.txt", "o")] {
            std::fs::create_dir_all(p.join(f).parent().expect("parent")).expect("mkdir");
            std::fs::write(p.join(f), text).expect("write");
        }
        std::fs::create_dir_all(p.join(".git")).expect("mkdir");
        std::fs::write(p.join(".git/HEAD"), "x").expect("write");
        let pats: Vec<Pattern> = ["src/**", "!**/*.md"].iter().map(|t| Pattern::parse(t).expect("ok")).collect();
        let files = hash_tree(p, &pats);
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["src/a.py", "src/d/b.py"]);
        let all = hash_tree(p, &[Pattern::parse("**").expect("ok")]);
        assert!(all.contains_key("other.txt") && !all.contains_key(".git/HEAD"), "{all:?}");
    }
}
