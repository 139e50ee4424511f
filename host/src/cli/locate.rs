//! Finding the pipeline. Like cargo and just, `baton` looks for `baton.toml`
//! in the current directory and then in its parents. `-C DIR` works as if
//! baton were started in DIR, `--file FILE` names the file; both are global:
//! they mean the same on every subcommand, before or after its name.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};

/// The name looked for.
pub const FILE_NAME: &str = "baton.toml";

/// Where the pipeline is: the global `-C DIR` and `--file FILE`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Locate {
    /// The pipeline file (default: baton.toml in the current directory or its nearest parent that has one).
    #[arg(long, value_name = "FILE", global = true)]
    pub file: Option<PathBuf>,
    /// Work as if started in DIR: the pipeline is looked for there and in its parents.
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub dir: Option<PathBuf>,
}

impl Locate {
    /// Where relative paths start: `-C DIR`, else the current directory.
    fn base(&self) -> anyhow::Result<PathBuf> {
        let cwd = std::env::current_dir().map_err(|e| anyhow!("cannot read the current directory: {e}"))?;
        Ok(match &self.dir {
            Some(d) => cwd.join(d),
            None => cwd,
        })
    }

    /// The pipeline file: `positional` (a subcommand's FILE) or `--file`,
    /// relative to `-C DIR` if given; else the nearest `baton.toml`.
    pub fn pipeline(&self, positional: Option<&Path>) -> anyhow::Result<PathBuf> {
        if positional.is_some() && self.file.is_some() {
            bail!("the pipeline file is given twice: as FILE and as --file (give one)");
        }
        if let Some(f) = positional.or(self.file.as_deref()) {
            return Ok(match &self.dir {
                Some(_) => self.base()?.join(f),
                // As given, so that messages show the path the user typed.
                None => f.to_path_buf(),
            });
        }
        let base = self.base()?;
        let found = find_upwards(&base).ok_or_else(|| {
            anyhow!(
                "no {FILE_NAME} in {} or any parent directory (name one with --file FILE, or start elsewhere with -C DIR)",
                base.display()
            )
        })?;
        let cwd = std::env::current_dir().ok();
        Ok(match found.parent() {
            Some(dir) if self.dir.is_none() && cwd.as_deref() == Some(dir) => PathBuf::from(FILE_NAME),
            _ => found,
        })
    }

    /// The `.baton/` directory: next to the pipeline file; when there is no
    /// pipeline file, the nearest `.baton/` from `-C DIR` (or here) up.
    pub fn state_dir(&self, positional: Option<&Path>) -> anyhow::Result<PathBuf> {
        match self.pipeline(positional) {
            Ok(file) => Ok(super::state_dir_of(&file)),
            Err(e) if positional.is_none() && self.file.is_none() => {
                let base = self.base()?;
                base.ancestors().map(|d| d.join(".baton")).find(|d| d.is_dir()).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }
}

/// `dir/baton.toml` or the same in the nearest parent of `dir` that has one.
fn find_upwards(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join(FILE_NAME)).find(|f| f.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_pipeline_up_the_tree_is_found() {
        let root = tempfile::tempdir().expect("tempdir");
        let deep = root.path().join("a/b");
        std::fs::create_dir_all(&deep).expect("mkdir");
        std::fs::write(root.path().join(FILE_NAME), "").expect("write");
        assert_eq!(find_upwards(&deep), Some(root.path().join(FILE_NAME)));
        std::fs::write(root.path().join("a").join(FILE_NAME), "").expect("write");
        assert_eq!(find_upwards(&deep), Some(root.path().join("a").join(FILE_NAME)));
        let l = Locate { file: None, dir: Some(deep.clone()) };
        assert_eq!(l.pipeline(None).expect("found"), root.path().join("a").join(FILE_NAME));
        let l = Locate { file: Some("x.toml".into()), dir: Some(deep.clone()) };
        assert_eq!(l.pipeline(None).expect("named"), deep.join("x.toml"));
        assert!(l.pipeline(Some(Path::new("y.toml"))).unwrap_err().to_string().contains("given twice"));
    }
}
