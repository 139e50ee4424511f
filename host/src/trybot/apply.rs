//! The patch applied with the real `git apply`, run with a scrubbed
//! environment and no configuration (system, global or repository), never
//! with `--unsafe-paths`: git itself refuses absolute paths, `..` and writes
//! through symlinks; the paths are checked here too, before anything is
//! written, and symlinks the patch leaves must point inside the tree.

use std::io::Write;
use std::path::{Component, Path};
use std::process::{Command, Stdio};

/// `git` with nothing of the caller's environment or configuration but
/// `PATH`, run in `dir`.
pub fn git_command(dir: Option<&Path>) -> Command {
    let mut c = Command::new("git");
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
        .env("LC_ALL", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c
}

/// `git apply ARGS` in `dir` (a copy, not a repository) with `patch` on stdin.
fn git_apply(dir: &Path, args: &[&str], patch: &[u8]) -> Result<std::process::Output, String> {
    let mut c = git_command(Some(dir));
    // Never find a repository above the copy (its configuration, its index).
    c.env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap_or(dir));
    c.arg("apply").args(args).arg("-").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("cannot run git apply (is git installed?): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("git apply has no stdin")?;
    let bytes = patch.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().map_err(|e| format!("git apply: {e}"))?;
    let _ = writer.join();
    Ok(out)
}

/// What git said, inert and short.
fn said(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<String> = text.lines().take(20).map(|l| crate::text::escape_line(l).into_owned()).collect();
    lines.join("; ")
}

/// Applies `patch` to the tree at `dir`; returns the files it changes
/// (old and new names of renames), sorted, or why it is refused.
pub fn apply(dir: &Path, patch: &[u8]) -> Result<Vec<String>, String> {
    let out = git_apply(dir, &["--numstat", "-z"], patch)?;
    if !out.status.success() {
        return Err(format!("the patch is not a patch git can read: {}", said(&out)));
    }
    let files = numstat_paths(&out.stdout)?;
    if files.is_empty() {
        return Err("the patch changes no file (give a unified diff, as `git diff --binary` writes it)".into());
    }
    for f in &files {
        check_path(f)?;
    }
    let out = git_apply(dir, &["--check"], patch)?;
    if !out.status.success() {
        return Err(format!("the patch does not apply to the trusted tree: {}", said(&out)));
    }
    let out = git_apply(dir, &[], patch)?;
    if !out.status.success() {
        return Err(format!("the patch does not apply to the trusted tree: {}", said(&out)));
    }
    for f in &files {
        check_link(dir, f)?;
    }
    Ok(files)
}

/// The paths of `git apply --numstat -z` output: `added\tdeleted\tpath\0`,
/// or `added\tdeleted\t\0old\0new\0` for a rename or copy.
fn numstat_paths(out: &[u8]) -> Result<Vec<String>, String> {
    let mut tokens = out.split(|&b| b == 0).filter(|t| !t.is_empty()).map(|t| String::from_utf8_lossy(t).into_owned());
    let mut files = Vec::new();
    while let Some(t) = tokens.next() {
        let path = t.splitn(3, '\t').nth(2).unwrap_or_default().to_string();
        if path.is_empty() {
            files.extend(tokens.next());
            files.extend(tokens.next());
        } else {
            files.push(path);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Refuses a path that leaves the tree or names git's or baton's state.
fn check_path(f: &str) -> Result<(), String> {
    let shown = crate::text::escape_line(f);
    let p = Path::new(f);
    if p.is_absolute() {
        return Err(format!("the patch writes outside the tree: `{shown}` is an absolute path"));
    }
    for c in p.components() {
        match c {
            Component::Normal(n) if n == ".git" => {
                return Err(format!("the patch writes into git's state: `{shown}` (a patch may not touch `.git`)"));
            }
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!("the patch writes outside the tree: `{shown}` contains `..`"));
            }
        }
    }
    Ok(())
}

/// Refuses a symlink the patch left that points out of the tree.
fn check_link(dir: &Path, f: &str) -> Result<(), String> {
    let path = dir.join(f);
    let Ok(target) = std::fs::read_link(&path) else {
        return Ok(());
    };
    let shown = crate::text::escape_line(f);
    let target_shown = crate::text::escape_line(&target.to_string_lossy()).into_owned();
    if target.is_absolute() {
        return Err(format!("the patch makes a symlink out of the tree: `{shown}` -> `{target_shown}` (absolute)"));
    }
    let mut depth: i64 = Path::new(f).components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("the patch makes a symlink out of the tree: `{shown}` -> `{target_shown}`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_names_renames_by_both_paths() {
        let out = b"1\t0\ta.txt\x00-\t-\timg.png\x000\t0\t\x00old.txt\x00new.txt\x00";
        assert_eq!(numstat_paths(out).expect("parsed"), ["a.txt", "img.png", "new.txt", "old.txt"]);
    }

    #[test]
    fn paths_out_of_the_tree_are_refused() {
        assert!(check_path("src/a.rs").is_ok());
        assert!(check_path("../x").unwrap_err().contains("contains `..`"));
        assert!(check_path("/etc/passwd").unwrap_err().contains("absolute"));
        assert!(check_path("a/.git/config").unwrap_err().contains(".git"));
    }
}
