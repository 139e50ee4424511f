//! Where a symlink inside an artifact leads, followed hop by hop through the
//! other symlinks of the same artifact, the way the kernel will follow it in
//! the consumer's copy. A link is judged by where its whole chain ends, not
//! by its text: `a -> b` looks harmless until `b -> ../..`.
//!
//! Only the artifact's symlinks matter: a component that is not a symlink is
//! stepped into (or out of, with `..`) by name, whether it is a directory, a
//! file or missing, which is where the consumer's kernel would end up too
//! (or fail). A chain that ever climbs above the artifact root leaves it,
//! even if it would come back in by name: the consumer's copy has another
//! name and other neighbours.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed in a row, as Linux's `MAXSYMLINKS`.
pub const MAX_HOPS: usize = 40;

/// Why a symlink is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsafe {
    /// The chain leaves the artifact; the hops followed, `(link, text)`, the
    /// last one leaving.
    Outside(Vec<(PathBuf, PathBuf)>),
    /// More than [`MAX_HOPS`] links in a row.
    Loop,
}

/// The symlinks of one artifact: path relative to its root → link text.
pub type Links = BTreeMap<PathBuf, PathBuf>;

/// Follows the symlink `link` through `links`; returns the path, relative to
/// the artifact root, where its chain ends.
pub fn resolve(links: &Links, link: &Path) -> Result<PathBuf, Unsafe> {
    let Some(first) = links.get(link) else {
        return Ok(link.to_path_buf());
    };
    let mut chain = vec![(link.to_path_buf(), first.clone())];
    let mut pos = link.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut todo: Vec<Component> = first.components().rev().collect();
    while let Some(c) = todo.pop() {
        match c {
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(Unsafe::Outside(chain)),
            Component::ParentDir => {
                if !pos.pop() {
                    return Err(Unsafe::Outside(chain));
                }
            }
            Component::Normal(name) => {
                pos.push(name);
                if let Some(text) = links.get(&pos) {
                    if chain.len() >= MAX_HOPS {
                        return Err(Unsafe::Loop);
                    }
                    chain.push((pos.clone(), text.clone()));
                    pos.pop();
                    todo.extend(text.components().rev());
                }
            }
        }
    }
    Ok(pos)
}

/// Checks every link of an artifact; the error names the first unsafe one
/// (in path order) and its chain, with paths shown under `shown`.
pub fn check_all(links: &Links, shown: &Path) -> Result<(), String> {
    for link in links.keys() {
        match resolve(links, link) {
            Ok(_) => {}
            Err(Unsafe::Outside(chain)) => {
                let hops: Vec<String> =
                    chain.iter().map(|(l, t)| format!("`{}` -> `{}`", shown.join(l).display(), t.display())).collect();
                return Err(format!(
                    "symlink `{}` leads outside the artifact ({}); link only to paths inside it",
                    shown.join(link).display(),
                    hops.join(", ")
                ));
            }
            Err(Unsafe::Loop) => {
                return Err(format!(
                    "symlink `{}` does not resolve: more than {MAX_HOPS} links in a row (a loop)",
                    shown.join(link).display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> Links {
        pairs.iter().map(|(l, t)| (PathBuf::from(l), PathBuf::from(t))).collect()
    }

    #[test]
    fn chains_are_followed_through_every_hop() {
        let l = links(&[("d/a", "b"), ("d/b", "../c"), ("c", "e/f"), ("up", "."), ("top", "d/..")]);
        assert_eq!(resolve(&l, Path::new("d/a")), Ok(PathBuf::from("e/f")));
        assert_eq!(resolve(&l, Path::new("up")), Ok(PathBuf::new()), "the root itself is inside");
        assert_eq!(resolve(&l, Path::new("top")), Ok(PathBuf::new()));
        assert_eq!(resolve(&l, Path::new("plain/file")), Ok(PathBuf::from("plain/file")));
    }

    #[test]
    fn a_harmless_looking_link_through_an_escaping_one_is_refused() {
        let l = links(&[("d/a", "b/x"), ("d/b", "../..")]);
        let err = check_all(&l, Path::new("art")).expect_err("escapes");
        assert_eq!(
            err,
            "symlink `art/d/a` leads outside the artifact (`art/d/a` -> `b/x`, `art/d/b` -> `../..`); \
             link only to paths inside it"
        );
    }

    #[test]
    fn leaving_and_coming_back_by_name_is_leaving() {
        let l = links(&[("x", "../art/y")]);
        assert!(matches!(resolve(&l, Path::new("x")), Err(Unsafe::Outside(_))));
        let l = links(&[("x", "/etc/passwd")]);
        assert!(matches!(resolve(&l, Path::new("x")), Err(Unsafe::Outside(_))));
    }

    #[test]
    fn loops_are_refused() {
        let l = links(&[("a", "b"), ("b", "a")]);
        assert_eq!(resolve(&l, Path::new("a")), Err(Unsafe::Loop));
        assert_eq!(
            check_all(&l, Path::new("t")).expect_err("loop"),
            "symlink `t/a` does not resolve: more than 40 links in a row (a loop)"
        );
    }
}
