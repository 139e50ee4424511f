//! The page's artifacts section: what the run made, one row per artifact
//! with its producer (a link to the step's bar), size and digest, so that a
//! reader can tell which build produced the file they hold.

use std::fmt::Write;

use crate::report::RunReport;
use crate::report::xml::escape;
use crate::storage::artifacts::Kind;
use crate::units::Size;

/// Writes the section; a run that published nothing gets a one-line note.
pub fn section(out: &mut String, r: &RunReport) {
    out.push_str("<section id=\"artifacts\"><h2>Artifacts</h2>\n");
    if r.artifacts.is_empty() {
        out.push_str("<p class=\"note\">No step published an artifact.</p></section>\n");
        return;
    }
    let total: u64 = r.artifacts.iter().map(|a| a.size).sum();
    let _ = writeln!(
        out,
        "<p class=\"facts\"><b>{}</b> artifact{}, <b>{}</b> in all. <code>baton artifacts get REF DEST</code> copies one out.</p>",
        r.artifacts.len(),
        if r.artifacts.len() == 1 { "" } else { "s" },
        Size(total)
    );
    out.push_str("<table class=\"artifacts\"><thead><tr><th>name</th><th>producer</th><th>size</th><th>digest</th></tr></thead><tbody>\n");
    for a in &r.artifacts {
        let hex = a.digest.strip_prefix("sha256:").unwrap_or(&a.digest);
        let _ = writeln!(
            out,
            "<tr><td><code title=\"{reference}\">{name}</code>{kind}</td><td><a href=\"#step-{step}\">{step}</a></td><td>{size}</td><td><code title=\"{digest}\">sha256:{short}</code></td></tr>",
            reference = escape(&a.reference),
            name = escape(&a.name),
            kind = if a.kind == Kind::Directory { " <span class=\"pill\">directory (tar)</span>" } else { "" },
            step = escape(&a.step),
            size = Size(a.size),
            digest = escape(&a.digest),
            short = escape(hex.get(..12).unwrap_or(hex)),
        );
    }
    out.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{run, step};
    use crate::storage::artifacts::ArtifactRecord;

    fn record(step: &str, name: &str, size: u64, kind: Kind) -> ArtifactRecord {
        ArtifactRecord {
            reference: format!("{step}/{name}"),
            step: step.into(),
            name: name.into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            size,
            kind,
        }
    }

    #[test]
    fn each_artifact_has_its_producer_size_and_digest() {
        let mut r = run(vec![step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")])], &[], 1.0);
        r.artifacts =
            vec![record("l.a", "app<1>.tar", 3 << 20, Kind::File), record("l.a", "docs", 2048, Kind::Directory)];
        let mut html = String::new();
        section(&mut html, &r);
        assert!(html.contains("<b>2</b> artifacts, <b>3074KiB</b> in all."), "{html}");
        assert!(
            html.contains(
                "<tr><td><code title=\"l.a/app&lt;1&gt;.tar\">app&lt;1&gt;.tar</code></td><td><a href=\"#step-l.a\">l.a</a></td><td>3MiB</td><td><code title=\"sha256:abab"
            ),
            "{html}"
        );
        assert!(html.contains(">sha256:abababababab</code>"), "{html}");
        assert!(html.contains("docs</code> <span class=\"pill\">directory (tar)</span>"), "{html}");
    }

    #[test]
    fn a_run_without_artifacts_says_so() {
        let r = run(vec![step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")])], &[], 1.0);
        let mut html = String::new();
        section(&mut html, &r);
        assert!(html.contains("No step published an artifact."), "{html}");
    }
}
