//! Unpacks a directory artifact into a destination (a workspace path for
//! `fetch`, any host path for `baton artifacts get`) so that nothing is
//! created outside it.
//!
//! [`check`] reads the whole archive first and refuses it, before a single
//! entry is created, if any entry is absolute, contains `..`, is not a file,
//! directory or symlink (hard links included), appears twice, lies under one
//! of the archive's own symlinks or files, or is a symlink whose chain
//! ([`resolve`]) leaves the archive. [`unpack`] then never follows a symlink:
//! each directory on an entry's way is opened with `O_NOFOLLOW`, and the
//! entry itself replaces what was there instead of writing through it.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt};

use super::resolve::{self, Links};
use super::tar_write::MAX_DEPTH;
use super::{Cancel, StoreError};

fn refused(name: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Path(format!("artifact entry `{}` {why}; nothing was unpacked", name.display()))
}

fn io_error(name: &Path, e: io::Error) -> StoreError {
    StoreError::Io(format!("unpack `{}`: {e}", name.display()))
}

/// A plain relative name: no root, no `..`, not empty, not too deep.
fn entry_name(raw: &Path) -> Result<PathBuf, StoreError> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(raw, "contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(refused(raw, "is absolute")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(refused(raw, "has an empty name"));
    }
    if out.components().count() > MAX_DEPTH + 1 {
        return Err(refused(raw, format_args!("is nested more than {MAX_DEPTH} levels deep")));
    }
    Ok(out)
}

/// What an entry is, once its type is one we unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    File,
    Dir,
    Link,
}

fn entry_type(name: &Path, t: tar::EntryType) -> Result<Type, StoreError> {
    match t {
        tar::EntryType::Regular => Ok(Type::File),
        tar::EntryType::Directory => Ok(Type::Dir),
        tar::EntryType::Symlink => Ok(Type::Link),
        tar::EntryType::Link => Err(refused(name, "is a hard link: hard links are not unpacked")),
        other => Err(refused(name, format_args!("has an unsupported type ({other:?})"))),
    }
}

/// A name's key in the sets [`check`] keeps: a hash, so that an archive of
/// millions of entries costs a few words each; a collision can only refuse
/// an archive, never let one through.
fn key(name: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

/// Reads a whole archive and refuses it if any entry could land outside its
/// destination or go through a link.
pub fn check(blob: impl Read) -> Result<(), StoreError> {
    let mut archive = tar::Archive::new(blob);
    let bad = |e: io::Error| StoreError::Io(format!("unpack: {e}"));
    let mut seen: HashMap<u64, Type> = HashMap::new();
    let mut implied: HashSet<u64> = HashSet::new();
    let mut links = Links::new();
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let name = entry_name(&raw)?;
        let kind = entry_type(&name, entry.header().entry_type())?;
        for above in name.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
            match seen.get(&key(above)) {
                Some(Type::Link) => {
                    return Err(refused(&name, format_args!("goes through the symlink `{}`", above.display())));
                }
                Some(Type::File) => {
                    return Err(refused(&name, format_args!("lies under the file `{}`", above.display())));
                }
                _ => {}
            }
            implied.insert(key(above));
        }
        let k = key(&name);
        if seen.contains_key(&k) || (kind != Type::Dir && implied.contains(&k)) {
            return Err(refused(&name, "appears twice"));
        }
        if kind == Type::Link {
            let Some(text) = entry.link_name().map_err(bad)? else {
                return Err(refused(&name, "is a symlink without a target"));
            };
            links.insert(name, text.into_owned());
        }
        seen.insert(k, kind);
    }
    resolve::check_all(&links, Path::new(""))
        .map_err(|m| StoreError::Path(format!("artifact {m}; nothing was unpacked")))
}

/// The directories on the way to the current entries, opened one name at a
/// time without following symlinks; consecutive entries share a prefix.
struct Cursor<'a> {
    root: &'a Dir,
    open: Vec<(OsString, Dir)>,
}

impl Cursor<'_> {
    fn enter(&mut self, parent: &Path, name: &Path) -> Result<&Dir, StoreError> {
        let parts: Vec<&OsStr> = parent.iter().collect();
        let common = self.open.iter().zip(&parts).take_while(|((have, _), want)| have == *want).count();
        self.open.truncate(common);
        for (i, part) in parts.iter().enumerate().skip(common) {
            let base = self.open.last().map_or(self.root, |(_, d)| d);
            let dir = match open_dir(base, part) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    base.create_dir(part).map_err(|e| io_error(name, e))?;
                    open_dir(base, part)
                }
                other => other,
            };
            let dir = dir.map_err(|e| {
                let way: PathBuf = parts[..=i].iter().collect();
                refused(name, format_args!("would go through `{}`, which is not a directory ({e})", way.display()))
            })?;
            self.open.push((part.to_os_string(), dir));
        }
        Ok(self.open.last().map_or(self.root, |(_, d)| d))
    }
}

fn open_dir(base: &Dir, name: &OsStr) -> io::Result<Dir> {
    let mut o = OpenOptions::new();
    o.read(true).custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_NONBLOCK);
    Ok(Dir::from_std_file(base.open_with(name, &o)?.into_std()))
}

/// Removes whatever non-directory is at `last` (a file or a symlink is
/// replaced, never written through); a directory there is an error unless
/// `keep_dir`. Returns whether a directory is there.
fn clear(dir: &Dir, last: &OsStr, name: &Path, keep_dir: bool) -> Result<bool, StoreError> {
    match dir.symlink_metadata(last) {
        Ok(m) if m.is_dir() && keep_dir => Ok(true),
        Ok(m) if m.is_dir() => Err(refused(name, "would replace a directory of the destination")),
        Ok(_) => dir.remove_file(last).map(|()| false).map_err(|e| io_error(name, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(name, e)),
    }
}

/// Unpacks an archive that [`check`] accepted into `target`.
pub fn unpack(blob: impl Read, target: &Dir, cancel: &Cancel) -> Result<(), StoreError> {
    let mut archive = tar::Archive::new(blob);
    let bad = |e: io::Error| StoreError::Io(format!("unpack: {e}"));
    let mut cursor = Cursor { root: target, open: Vec::new() };
    for entry in archive.entries().map_err(bad)? {
        cancel.check()?;
        let mut entry = entry.map_err(bad)?;
        let name = entry_name(&entry.path().map_err(bad)?)?;
        let kind = entry_type(&name, entry.header().entry_type())?;
        let last = name.file_name().unwrap_or_default().to_os_string();
        let parent = name.parent().unwrap_or(Path::new(""));
        let dir = cursor.enter(parent, &name)?;
        match kind {
            Type::Dir => {
                if !clear(dir, &last, &name, true)? {
                    dir.create_dir(&last).map_err(|e| io_error(&name, e))?;
                }
            }
            Type::Link => {
                clear(dir, &last, &name, false)?;
                let text = entry.link_name().map_err(bad)?.unwrap_or_default().into_owned();
                dir.symlink(&text, &last).map_err(|e| io_error(&name, e))?;
            }
            Type::File => {
                clear(dir, &last, &name, false)?;
                let mut o = OpenOptions::new();
                o.write(true).create_new(true).custom_flags(libc::O_NOFOLLOW);
                let mut f = dir.open_with(&last, &o).map_err(|e| io_error(&name, e))?;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    cancel.check()?;
                    let n = entry.read(&mut buf).map_err(bad)?;
                    if n == 0 {
                        break;
                    }
                    f.write_all(&buf[..n]).map_err(|e| io_error(&name, e))?;
                }
                let exec = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                let mode = if exec { 0o755 } else { 0o644 };
                f.set_permissions(Permissions::from_mode(mode)).map_err(|e| io_error(&name, e))?;
            }
        }
    }
    Ok(())
}
