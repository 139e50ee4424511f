//! Results where CI users already look, written at the end of `baton run`:
//! on GitHub Actions, failures as workflow annotations, each board's logs in
//! a collapsible `::group::`, and the run's table appended to the job
//! summary (`$GITHUB_STEP_SUMMARY`, Markdown); on GitLab CI, each board's
//! logs in a collapsible section. Chosen from the environment
//! (`GITHUB_ACTIONS=true`, `GITLAB_CI`), overridden by `--ci-format`.
//!
//! Everything comes from steps and their logs, so it is hostile: GitHub's
//! command values are escaped as GitHub documents (`%25 %0D %0A`, and in
//! properties `%3A %2C`), log lines are printed with command processing
//! stopped (`::stop-commands::`, a random end marker) so that a line
//! cannot forge an annotation, and control characters are shown escaped
//! (a log cannot forge GitLab's section markers either).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use super::RunReport;
use crate::status::StepStatus;
use crate::text::escape_line;

/// Lines of each step's log printed in its board's group (the last ones).
pub const MAX_LOG_LINES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiFormat {
    None,
    Github,
    Gitlab,
}

impl CiFormat {
    pub fn parse(word: &str) -> Option<CiFormat> {
        match word {
            "none" => Some(CiFormat::None),
            "github" => Some(CiFormat::Github),
            "gitlab" => Some(CiFormat::Gitlab),
            _ => None,
        }
    }

    /// From the CI's own variables: GitHub Actions sets `GITHUB_ACTIONS=true`, GitLab `GITLAB_CI`.
    pub fn detect(var: impl Fn(&str) -> Option<String>) -> CiFormat {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            CiFormat::Github
        } else if var("GITLAB_CI").is_some_and(|v| !v.is_empty()) {
            CiFormat::Gitlab
        } else {
            CiFormat::None
        }
    }
}

/// GitHub's escaping of a command's message.
pub fn gh_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// GitHub's escaping of a command's property value.
pub fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Writes the run's results for `format` to `out`; on GitHub also appends
/// the summary to `summary` (the file `$GITHUB_STEP_SUMMARY` names).
pub fn write(r: &RunReport, format: CiFormat, out: &mut impl Write, summary: Option<&Path>) -> io::Result<()> {
    match format {
        CiFormat::None => Ok(()),
        CiFormat::Github => {
            github(r, out)?;
            if let Some(path) = summary {
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                f.write_all(markdown(r).as_bytes())?;
            }
            Ok(())
        }
        CiFormat::Gitlab => gitlab(r, out),
    }
}

fn log_lines(r: &RunReport, step: &str) -> Vec<String> {
    let Some(path) = r.step(step).and_then(|s| s.log.as_deref()) else {
        return Vec::new();
    };
    let Ok(bytes) = std::fs::read(Path::new(path)) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(MAX_LOG_LINES);
    let mut out: Vec<String> = Vec::new();
    if skip > 0 {
        out.push(format!("[… {skip} earlier lines: see {path}]"));
    }
    out.extend(lines[skip..].iter().map(|l| escape_line(l).into_owned()));
    out
}

/// 16 random bytes in hex (from the kernel; the clock if it cannot be read).
fn random_hex() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).is_err() {
        use sha2::Digest;
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        buf.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes())[..16]);
    }
    hex::encode(buf)
}

fn boards(r: &RunReport) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in &r.steps {
        if !out.contains(&s.board.as_str()) {
            out.push(&s.board);
        }
    }
    out
}

fn outcome(s: &super::StepReport) -> StepStatus {
    s.outcome.unwrap_or(s.status)
}

fn github(r: &RunReport, out: &mut impl Write) -> io::Result<()> {
    // Unguessable: a step that knew it could print it to turn commands back on.
    let stop = random_hex();
    for board in boards(r) {
        writeln!(out, "::group::{}", gh_data(&format!("board {board}")))?;
        writeln!(out, "::stop-commands::{stop}")?;
        for s in r.steps.iter().filter(|s| s.board == board) {
            writeln!(out, "── {} {}", escape_line(&s.id), outcome(s).label())?;
            for l in log_lines(r, &s.id) {
                writeln!(out, "{l}")?;
            }
        }
        writeln!(out, "::{stop}::")?;
        writeln!(out, "::endgroup::")?;
    }
    for f in &r.failures {
        let level = if f.forgiven { "warning" } else { "error" };
        let title = format!("baton: step {} failed (attempt {})", f.step, f.attempt);
        let mut message = f.error.clone();
        if !f.log_tail.is_empty() {
            message.push_str("\n\n");
            message.push_str(&f.log_tail.join("\n"));
        }
        writeln!(out, "::{level} title={}::{}", gh_property(&title), gh_data(&message))?;
    }
    Ok(())
}

/// Markdown text inert in a table cell (no markup, no pipes, no newlines).
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape_line(s).chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '~' | '&' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The job summary: how the run ended and one row per step, failures first.
pub fn markdown(r: &RunReport) -> String {
    let mut out = String::new();
    let failed = r.steps.iter().filter(|s| matches!(outcome(s), StepStatus::Failed)).count();
    let _ = writeln!(
        out,
        "### baton: {} — run {} {} in {:.1}s\n\n{} steps, {failed} failed\n",
        md(&r.pipeline),
        md(&r.run_id),
        r.status.as_str(),
        r.duration,
        r.steps.len()
    );
    out.push_str("| step | outcome | duration | attempts | error |\n|---|---|---|---|---|\n");
    let mut rows: Vec<&super::StepReport> = r.steps.iter().collect();
    rows.sort_by_key(|s| !matches!(outcome(s), StepStatus::Failed | StepStatus::Forgiven));
    for s in rows {
        let dur = match (s.start, s.end) {
            (Some(a), Some(b)) => format!("{:.1}s", (b - a).max(0.0)),
            _ => "-".into(),
        };
        let err = s.error.as_deref().map(|e| md(&e.chars().take(300).collect::<String>())).unwrap_or_default();
        let _ = writeln!(out, "| {} | {} | {dur} | {} | {err} |", md(&s.id), outcome(s).label(), s.attempts.len());
    }
    out.push('\n');
    out
}

/// A GitLab section name: `[a-zA-Z0-9_.-]` only.
fn section_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '_' }).collect()
}

fn gitlab(r: &RunReport, out: &mut impl Write) -> io::Result<()> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for board in boards(r) {
        let name = section_name(&format!("baton_{board}"));
        let failed = r.steps.iter().any(|s| s.board == board && matches!(outcome(s), StepStatus::Failed));
        writeln!(
            out,
            "\x1b[0Ksection_start:{now}:{name}[collapsed={}]\r\x1b[0Kboard {}{}",
            !failed,
            escape_line(board),
            if failed { " (failed)" } else { "" }
        )?;
        for s in r.steps.iter().filter(|s| s.board == board) {
            writeln!(out, "── {} {}", escape_line(&s.id), outcome(s).label())?;
            for l in log_lines(r, &s.id) {
                writeln!(out, "{l}")?;
            }
        }
        writeln!(out, "\x1b[0Ksection_end:{now}:{name}\r\x1b[0K")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_values_are_escaped_as_documented() {
        assert_eq!(gh_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(gh_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn the_format_comes_from_the_ci_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(CiFormat::detect(env(&[("GITHUB_ACTIONS", "true")])), CiFormat::Github);
        assert_eq!(CiFormat::detect(env(&[("GITHUB_ACTIONS", "false")])), CiFormat::None);
        assert_eq!(CiFormat::detect(env(&[("GITLAB_CI", "true")])), CiFormat::Gitlab);
        assert_eq!(CiFormat::detect(env(&[])), CiFormat::None);
    }

    #[test]
    fn markdown_cells_are_inert() {
        assert_eq!(md("a|b <img> `x`\n"), "a&#124;b &#60;img&#62; &#96;x&#96;&#92;n");
        assert_eq!(section_name("baton_lin ux\x1b"), "baton_lin_ux_");
    }
}
