//! Run directories: `.baton/runs/<id>/` with `journal.jsonl`, `logs/`,
//! `report.json` and `ws/<board>/`, the boards' workspaces (every run starts
//! them empty; `--resume` moves the resumed run's into the new run). Ids sort
//! by start time (`20261121-194512-048213`: UTC, then microseconds).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest file name that file systems commonly take (`NAME_MAX`).
const MAX_FILE_NAME: usize = 255;

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    pub fn journal(&self) -> PathBuf {
        self.path.join("journal.jsonl")
    }

    pub fn logs(&self) -> PathBuf {
        self.path.join("logs")
    }

    /// `logs/<board>.<step>.log`, or `logs/<board>/<step>.log` when that
    /// name would be too long for a file name (names may be 128 bytes each).
    pub fn log_of(&self, step_id: &str) -> PathBuf {
        let flat = format!("{step_id}.log");
        match step_id.split_once('.') {
            Some((board, step)) if flat.len() > MAX_FILE_NAME => self.logs().join(board).join(format!("{step}.log")),
            _ => self.logs().join(flat),
        }
    }

    /// Every log file of the run as `(step id, path)`, sorted by step.
    pub fn log_files(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.logs()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if let Some(id) = name.strip_suffix(".log") {
                out.push((id.to_string(), path));
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    if let Some(step) = inner.file_name().to_string_lossy().strip_suffix(".log") {
                        out.push((format!("{name}.{step}"), inner.path()));
                    }
                }
            }
        }
        out.sort();
        out
    }

    pub fn report(&self) -> PathBuf {
        self.path.join("report.json")
    }

    /// The directory holding this run's board workspaces.
    pub fn workspaces(&self) -> PathBuf {
        self.path.join("ws")
    }

    /// The workspace of `board` in this run.
    pub fn workspace_of(&self, board: &str) -> PathBuf {
        self.workspaces().join(board)
    }

    /// Takes over the workspaces of `previous` (a resumed run): they move
    /// into this run, so that the new run continues where the old one left
    /// off and removing the old run does not remove them. A run without
    /// workspaces leaves nothing to take.
    pub fn adopt_workspaces(&self, previous: &RunDir) -> std::io::Result<()> {
        match std::fs::rename(previous.workspaces(), self.workspaces()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// Bytes in the files under `dir` (0 if it does not exist); symlinks are
/// not followed.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => total += disk_usage(&e.path()),
            Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => {}
        }
    }
    total
}

pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// Creates a new run directory.
pub fn create(state_dir: &Path) -> std::io::Result<RunDir> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let stamp = utc_stamp(now.as_secs());
    let root = runs_dir(state_dir);
    std::fs::create_dir_all(&root)?;
    // Microseconds make ids sort in creation order; a clash moves on by one.
    for n in 0u32.. {
        let id = format!("{stamp}-{:06}", (now.subsec_micros() + n) % 1_000_000);
        let path = root.join(&id);
        match std::fs::create_dir(&path) {
            Ok(()) => {
                std::fs::create_dir_all(path.join("logs"))?;
                return Ok(RunDir { id, path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 range exhausted")
}

/// Every run, oldest first.
pub fn list(state_dir: &Path) -> Vec<RunDir> {
    let mut out: Vec<RunDir> = std::fs::read_dir(runs_dir(state_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("journal.jsonl").exists())
        .map(|e| RunDir { id: e.file_name().to_string_lossy().into_owned(), path: e.path() })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The run called `id`, or the latest when `id` is `None`.
pub fn find(state_dir: &Path, id: Option<&str>) -> Option<RunDir> {
    let all = list(state_dir);
    match id {
        None => all.into_iter().last(),
        Some(id) => all.into_iter().rev().find(|r| r.id == id || r.id.starts_with(id)),
    }
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, for people and reports.
pub fn utc_datetime(unix: f64) -> String {
    let secs = if unix.is_finite() && unix > 0.0 { unix as u64 } else { 0 };
    let (y, m, d) = civil_from_days((secs / 86400) as i64);
    let rem = secs % 86400;
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, (rem / 60) % 60, rem % 60)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(1_795_290_000), "20261121-194000");
        assert_eq!(utc_datetime(1_795_290_000.7), "2026-11-21 19:40:00");
    }

    #[test]
    fn runs_sort_by_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = create(dir.path()).expect("a");
        std::fs::write(a.journal(), "").expect("journal");
        let b = create(dir.path()).expect("b");
        std::fs::write(b.journal(), "").expect("journal");
        let ids: Vec<String> = list(dir.path()).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, [a.id.clone(), b.id.clone()], "created within one second, still in order");
        assert_eq!(find(dir.path(), None).map(|r| r.id), Some(b.id));
        assert_eq!(find(dir.path(), Some(&a.id)).map(|r| r.id), Some(a.id));
    }

    #[test]
    fn a_resumed_runs_workspaces_move_into_the_new_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = create(dir.path()).expect("old");
        std::fs::create_dir_all(old.workspace_of("b")).expect("ws");
        std::fs::write(old.workspace_of("b").join("left.txt"), "12345").expect("file");
        assert_eq!(disk_usage(&old.workspaces()), 5);
        let new = create(dir.path()).expect("new");
        new.adopt_workspaces(&old).expect("adopt");
        assert_eq!(std::fs::read_to_string(new.workspace_of("b").join("left.txt")).expect("moved"), "12345");
        assert!(!old.workspaces().exists());
        let third = create(dir.path()).expect("third");
        third.adopt_workspaces(&old).expect("nothing to take is fine");
        assert_eq!(disk_usage(&third.workspaces()), 0);
    }

    #[test]
    fn the_longest_names_give_a_log_file_that_is_found_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = create(dir.path()).expect("run");
        let (board, step) = ("b".repeat(128), "s".repeat(128));
        let long = format!("{board}.{step}");
        for id in ["linux.L1", long.as_str()] {
            let path = run.log_of(id);
            assert!(path.file_name().expect("name").len() <= MAX_FILE_NAME, "{}", path.display());
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x").expect("a valid file name");
        }
        assert_eq!(run.log_of("linux.L1"), run.logs().join("linux.L1.log"));
        assert_eq!(run.log_of(&long), run.logs().join(&board).join(format!("{step}.log")));
        let found: Vec<String> = run.log_files().into_iter().map(|(id, _)| id).collect();
        assert_eq!(found, [long.clone(), "linux.L1".to_string()]);
    }
}
