//! `inputs = ["src/**", "pyproject.toml", "!**/*.md"]`: the project files a
//! cached step's key covers, as globs over `/src`.
//!
//! Deliberately small, so that what a pattern matches is never a surprise:
//! `*` is any run of characters within one path segment, `?` one character,
//! a `**` segment any number of segments (zero included), everything else
//! is literal. A pattern matches a file when it matches the file's path or
//! one of its parent directories, so `src` and `src/**` both mean the whole
//! tree under `src`. A file is an input when some pattern without `!`
//! matches it and no `!` pattern does (order does not matter). `.baton/`
//! and `.git/` are never inputs: they are run state and history, not the
//! source a step sees.

/// One checked pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// As written (without the `!`).
    pub text: String,
    /// `!pattern`: excludes what it matches.
    pub exclude: bool,
    segments: Vec<String>,
}

/// Directory names never walked (see the module doc).
pub const NEVER: [&str; 2] = [".baton", ".git"];

impl Pattern {
    /// Checks `written`; the error says what to change.
    pub fn parse(written: &str) -> Result<Pattern, String> {
        let (exclude, text) = match written.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, written),
        };
        let text = text.strip_prefix("./").unwrap_or(text);
        let trimmed = text.trim_end_matches('/');
        if trimmed.is_empty() {
            return Err(format!(
                "input pattern `{written}` is empty (name files relative to the project, e.g. `src/**`)"
            ));
        }
        if trimmed.starts_with('/') {
            return Err(format!("input pattern `{written}` is absolute (patterns are relative to the project, /src)"));
        }
        if let Some(c) = trimmed.chars().find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\' | '\0')) {
            return Err(format!(
                "input pattern `{}`: `{}` is not supported (use `*`, `?`, `**` and `!`)",
                written.escape_debug(),
                c.escape_debug()
            ));
        }
        let segments: Vec<String> = trimmed.split('/').map(str::to_string).collect();
        for s in &segments {
            if s.is_empty() || s == "." || s == ".." {
                return Err(format!("input pattern `{written}` has an empty, `.` or `..` segment"));
            }
            if s.contains("**") && s != "**" {
                return Err(format!("input pattern `{written}`: `**` must be a whole segment (`a/**/b`)"));
            }
        }
        Ok(Pattern { text: trimmed.to_string(), exclude, segments })
    }

    /// Whether the pattern matches `path` (relative, `/`-separated) or a
    /// directory above it.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        (1..=parts.len()).any(|n| match_segments(&self.segments, &parts[..n]))
    }

    /// The literal directory the pattern starts in: nothing outside it can
    /// match, so a walk starts there (`src/**/*.py` → `src`).
    pub fn root(&self) -> String {
        let lit: Vec<&str> = self.segments.iter().take_while(|s| !s.contains(['*', '?'])).map(String::as_str).collect();
        lit.join("/")
    }
}

/// Whether `path` is an input under `patterns`.
pub fn selected(patterns: &[Pattern], path: &str) -> bool {
    patterns.iter().any(|p| !p.exclude && p.matches(path)) && !patterns.iter().any(|p| p.exclude && p.matches(path))
}

fn match_segments(pat: &[String], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((first, rest)) if first == "**" => (0..=parts.len()).any(|k| match_segments(rest, &parts[k..])),
        Some((first, rest)) => match parts.split_first() {
            Some((p, more)) => match_one(first.as_bytes(), p.as_bytes()) && match_segments(rest, more),
            None => false,
        },
    }
}

/// `*` and `?` within one segment (bytes: names need not be UTF-8 aware).
fn match_one(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while n < name.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter().map(|p| Pattern::parse(p).expect("valid")).collect()
    }

    #[test]
    fn globs_match_as_documented() {
        let p = pats(&["src/**", "pyproject.toml", "!**/*.md"]);
        assert!(selected(&p, "src/a.py"));
        assert!(selected(&p, "src/deep/er/b.py"));
        assert!(!selected(&p, "src/README.md"));
        assert!(selected(&p, "pyproject.toml"));
        assert!(!selected(&p, "setup.py"));
        assert!(!selected(&p, "srcx/a.py"));
        let dir = pats(&["src"]);
        assert!(selected(&dir, "src/a/b"));
        let star = pats(&["*.toml", "t?st/*_test.py"]);
        assert!(selected(&star, "baton.toml"));
        assert!(!selected(&star, "sub/baton.toml"));
        assert!(selected(&star, "test/a_test.py"));
        assert!(!selected(&star, "test/a_test.pyc"));
        assert!(selected(&pats(&["**/x"]), "x"));
        assert!(selected(&pats(&["a/**/b"]), "a/b"));
        assert!(selected(&pats(&["a/**/b"]), "a/1/2/b"));
    }

    #[test]
    fn roots_are_literal_prefixes() {
        assert_eq!(Pattern::parse("src/**/*.py").expect("ok").root(), "src");
        assert_eq!(Pattern::parse("**/*.md").expect("ok").root(), "");
        assert_eq!(Pattern::parse("dist/").expect("ok").root(), "dist");
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "!", "/etc/**", "a/../b", "src/[ab]", "a**/b", "a//b"] {
            assert!(Pattern::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
