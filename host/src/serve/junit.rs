//! Test results from JUnit XML files a run published as artifacts (a
//! `.xml` file artifact holding `<testsuite`): one row per test case, the
//! failures first. A small reader of what JUnit writers put out
//! (`testcase` elements with `name`, `classname`, `time`, and a `failure`,
//! `error` or `skipped` child); the file is hostile, so it only yields
//! strings, each escaped where it is shown, and is bounded in size.

/// Largest JUnit file read.
pub const MAX_BYTES: u64 = 8 << 20;

/// Most test cases shown per file.
pub const MAX_CASES: usize = 5000;

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    pub class: String,
    pub seconds: Option<f64>,
    /// `passed`, `failed`, `error` or `skipped`.
    pub outcome: &'static str,
    pub message: String,
}

/// The test cases in `xml`, failures and errors first (then in file order).
pub fn cases(xml: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<testcase") {
        rest = &rest[i + "<testcase".len()..];
        if !rest.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let self_closing = tag.ends_with('/');
        let body = if self_closing {
            ""
        } else {
            let end = rest.find("</testcase>").unwrap_or(rest.len());
            &rest[tag_end + 1..end]
        };
        let (outcome, child) = if let Some(j) = body.find("<failure") {
            ("failed", &body[j..])
        } else if let Some(j) = body.find("<error") {
            ("error", &body[j..])
        } else if body.contains("<skipped") {
            ("skipped", "")
        } else {
            ("passed", "")
        };
        let message = if child.is_empty() {
            String::new()
        } else {
            let ctag = &child[..child.find('>').unwrap_or(child.len())];
            attr(ctag, "message").unwrap_or_default()
        };
        out.push(Case {
            name: attr(tag, "name").unwrap_or_default(),
            class: attr(tag, "classname").unwrap_or_default(),
            seconds: attr(tag, "time").and_then(|t| t.parse().ok()),
            outcome,
            message,
        });
        if out.len() >= MAX_CASES {
            break;
        }
    }
    out.sort_by_key(|c| !matches!(c.outcome, "failed" | "error"));
    out
}

/// The value of attribute `name` in a tag's text, entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    loop {
        let i = rest.find(name)?;
        let before_ok = i == 0 || rest[..i].ends_with(|c: char| c.is_whitespace());
        let after = rest[i + name.len()..].trim_start();
        rest = &rest[i + name.len()..];
        if !before_ok {
            continue;
        }
        let Some(after) = after.strip_prefix('=') else { continue };
        let after = after.trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let value = &after[1..];
        let end = value.find(quote)?;
        return Some(decode(&value[..end]));
    }
}

fn decode(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_come_first_with_their_messages() {
        let xml = r#"<?xml version="1.0"?><testsuites><testsuite name="s">
<testcase classname="a.b" name="ok_one" time="0.5"/>
<testcase classname="a.b" name="bad" time="1.25"><failure message="expected 1 &lt;b&gt;">trace</failure></testcase>
<testcase name="skip"><skipped/></testcase>
<testcase name="err" time="x"><error message='boom'/></testcase>
<testcases-not-a-case/>
</testsuite></testsuites>"#;
        let c = cases(xml);
        let names: Vec<(&str, &str)> = c.iter().map(|c| (c.name.as_str(), c.outcome)).collect();
        assert_eq!(names, [("bad", "failed"), ("err", "error"), ("ok_one", "passed"), ("skip", "skipped")]);
        assert_eq!(c[0].message, "expected 1 <b>");
        assert_eq!(c[0].seconds, Some(1.25));
        assert_eq!(c[0].class, "a.b");
        assert_eq!(c[1].seconds, None);
    }

    #[test]
    fn garbage_gives_no_cases_and_no_panic() {
        for xml in ["", "<testcase", "<testcase name=\"x", "<testcase name=>", "<<<>>>", "<testcase name='a'>"] {
            let _ = cases(xml);
        }
        assert_eq!(cases("<testcase name=\"a\">").len(), 1);
    }
}
