//! Whole-file writes that are atomic: temp file, rename. A reader (or a
//! later run after a crash of baton) sees the old file or the new one,
//! never a torn one. `Durable` also fsyncs the file and its directory, so
//! that the new content survives a crash of the machine; derived files
//! (reports, the duration history) skip that cost.

use std::io::Write;
use std::path::Path;

/// Whether a write must survive a machine crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    Durable,
    /// The file can be rebuilt (a report) or lost (a cache).
    Derived,
}

pub fn write(path: &Path, bytes: &[u8], sync: Sync) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    if sync == Sync::Durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if sync == Sync::Durable
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/f.json");
        write(&p, b"one", Sync::Durable).expect("write");
        write(&p, b"two", Sync::Derived).expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).expect("dir").count(), 1, "no temp file left");
    }
}
