//! Secret values masked: every occurrence of a value listed in a step's
//! `secrets` becomes `***` in what baton writes or shows. A value with
//! several lines is also masked line by line (a program may print it so).
//!
//! Output arrives in chunks that may cut a value anywhere; the
//! [`StreamMasker`] holds back the end of a chunk that could be the start
//! of a value until the next chunk says whether it is.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a masked value becomes.
pub const MASK: &str = "***";

/// Values to mask, and the secret variables of the run by name.
#[derive(Clone, Default)]
pub struct Secrets(Arc<Inner>);

#[derive(Default)]
struct Inner {
    values: BTreeMap<String, String>,
    /// What to look for, longest first (the longest match wins).
    patterns: Vec<Vec<u8>>,
}

/// A secret the pipeline lists but the host does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "secret `{name}` (listed by {used_by}) is not set in baton's environment: export it before `baton run`, \
         or remove it from `secrets`"
    )]
    Missing { name: String, used_by: String },
    #[error("secret `{name}` (listed by {used_by}) is not valid UTF-8")]
    NotUnicode { name: String, used_by: String },
}

/// Names only: a value must not reach a log through a `{:?}`.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("names", &self.0.values.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl Secrets {
    /// Secrets with these `(name, value)` pairs.
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> Self {
        let values: BTreeMap<String, String> = values.into_iter().collect();
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for v in values.values() {
            let whole = v.as_bytes().to_vec();
            let lines = v.lines().map(|l| l.trim_end_matches('\r').as_bytes().to_vec());
            for p in std::iter::once(whole).chain(lines) {
                if !p.is_empty() && !patterns.contains(&p) {
                    patterns.push(p);
                }
            }
        }
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Self(Arc::new(Inner { values, patterns }))
    }

    /// Reads `(name, used by)` from baton's environment; every missing one is an error.
    pub fn from_env<'a>(wanted: impl IntoIterator<Item = (&'a str, String)>) -> Result<Self, Vec<SecretError>> {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for (name, used_by) in wanted {
            let name = name.to_string();
            match crate::env_vars::var(&name) {
                Ok(v) => values.push((name, v)),
                Err(std::env::VarError::NotPresent) => errors.push(SecretError::Missing { name, used_by }),
                Err(std::env::VarError::NotUnicode(_)) => errors.push(SecretError::NotUnicode { name, used_by }),
            }
        }
        if errors.is_empty() { Ok(Self::new(values)) } else { Err(errors) }
    }

    /// The value of secret `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.0.values.get(name).map(String::as_str)
    }

    /// Length of the longest value (or line of one), in bytes.
    pub fn longest(&self) -> usize {
        self.0.patterns.first().map_or(0, Vec::len)
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.0.patterns.is_empty()
    }

    /// `s` with every secret value replaced by `***`.
    pub fn mask<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(s);
        }
        let mut out = Vec::new();
        if scan(&self.0.patterns, s.as_bytes(), false, &mut out).is_none() {
            return Cow::Borrowed(s);
        }
        // Values are whole UTF-8 strings, so a replacement never splits a character.
        Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// A masker for one stream of output.
    pub fn stream(&self) -> StreamMasker {
        StreamMasker { secrets: self.clone(), held: Vec::new() }
    }
}

/// Copies `input` to `out` with every whole match replaced. With `hold`,
/// stops at the first place where a match could start but the input ends
/// first, and returns that offset; else returns the input's length.
/// `None` (and nothing written) when there was nothing to replace or hold.
fn scan(patterns: &[Vec<u8>], input: &[u8], hold: bool, out: &mut Vec<u8>) -> Option<usize> {
    let mut copied = 0;
    let mut i = 0;
    let mut touched = false;
    'outer: while i < input.len() {
        let rest = &input[i..];
        for p in patterns {
            if p[0] != rest[0] {
                continue;
            }
            if rest.starts_with(p) {
                out.extend_from_slice(&input[copied..i]);
                out.extend_from_slice(MASK.as_bytes());
                i += p.len();
                copied = i;
                touched = true;
                continue 'outer;
            }
            if hold && rest.len() < p.len() && p.starts_with(rest) {
                out.extend_from_slice(&input[copied..i]);
                return Some(i);
            }
        }
        i += 1;
    }
    if !touched {
        return None;
    }
    out.extend_from_slice(&input[copied..]);
    Some(input.len())
}

/// Masks a stream given in chunks: a value cut between two chunks is
/// still masked, because the end of a chunk that may begin a value is held
/// back until the next chunk (or [`StreamMasker::finish`]).
pub struct StreamMasker {
    secrets: Secrets,
    held: Vec<u8>,
}

impl StreamMasker {
    /// The bytes that can be passed on after `chunk`, masked.
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Cow<'a, [u8]> {
        if self.secrets.is_empty() {
            return Cow::Borrowed(chunk);
        }
        let mut input = std::mem::take(&mut self.held);
        input.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(input.len());
        match scan(&self.secrets.0.patterns, &input, true, &mut out) {
            None => Cow::Owned(input),
            Some(done) => {
                self.held = input[done..].to_vec();
                Cow::Owned(out)
            }
        }
    }

    /// What is still held back (the stream ended: it was not a value).
    pub fn finish(&mut self) -> Vec<u8> {
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        match scan(&self.secrets.0.patterns, &held, false, &mut out) {
            None => held,
            Some(_) => out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Secrets {
        Secrets::new(values.iter().enumerate().map(|(i, v)| (format!("S{i}"), v.to_string())))
    }

    #[test]
    fn every_occurrence_is_masked_and_the_rest_stays() {
        let s = secrets(&["hunter2", "abc"]);
        assert_eq!(s.mask("pw=hunter2; again hunter2, abcabc"), "pw=***; again ***, ******");
        assert_eq!(s.mask("nothing here"), "nothing here");
        assert_eq!(secrets(&[]).mask("hunter2"), "hunter2");
    }

    #[test]
    fn the_longest_value_wins_and_lines_of_a_value_are_masked() {
        let s = secrets(&["abc", "abcdef", "line one\nline two"]);
        assert_eq!(s.mask("abcdef abc"), "*** ***");
        assert_eq!(s.mask("line one\nline two"), "***");
        assert_eq!(s.mask("> line two"), "> ***");
    }

    #[test]
    fn a_value_cut_across_chunks_is_masked() {
        let s = secrets(&["s3cr3t-token"]);
        let mut m = s.stream();
        let mut out = Vec::new();
        for chunk in [&b"TOKEN=s3c"[..], b"r3t-to", b"ken done s3cr", b"X\n"] {
            out.extend_from_slice(&m.push(chunk));
        }
        out.extend(m.finish());
        assert_eq!(String::from_utf8_lossy(&out), "TOKEN=*** done s3crX\n");
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_masked_text() {
        let s = secrets(&["aab", "ab", "xyzzy"]);
        let text = b"aaab xyzxyzzy aab abab xyzz";
        let want = s.mask(std::str::from_utf8(text).expect("utf8")).into_owned();
        for cut1 in 0..text.len() {
            for cut2 in cut1..text.len() {
                let mut m = s.stream();
                let mut out = Vec::new();
                for chunk in [&text[..cut1], &text[cut1..cut2], &text[cut2..]] {
                    out.extend_from_slice(&m.push(chunk));
                }
                out.extend(m.finish());
                assert_eq!(String::from_utf8_lossy(&out), want, "cuts at {cut1}, {cut2}");
            }
        }
    }

    #[test]
    fn debug_output_names_secrets_without_their_values() {
        let shown = format!("{:?}", secrets(&["hunter2"]));
        assert_eq!(shown, "Secrets { names: [\"S0\"], .. }");
    }

    #[test]
    fn a_missing_secret_is_named() {
        let e = Secrets::from_env([("BATON_TEST_SURELY_UNSET_SECRET", "step b.s".to_string())]).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "secret `BATON_TEST_SURELY_UNSET_SECRET` (listed by step b.s) is not set in baton's environment: \
             export it before `baton run`, or remove it from `secrets`"
        );
    }
}
