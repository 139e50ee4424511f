//! `report.html`: one self-contained page per run (inline CSS, SVG and a
//! little script; nothing fetched from the network), readable without
//! script. From top to bottom: how the run ended, why it took as long as it
//! did, the failures with their log tails, the timeline (a Gantt chart with
//! each step's attempts, waits and log folded under its bar), the graph,
//! artifacts the run made, and the plugins.

mod artifacts;
mod details;
mod overview;
mod timeline;
mod workers;

use std::collections::HashMap;
use std::fmt::Write;

pub use details::EmbeddedLog;

use super::graph_svg::{self, Edge, EdgeKind, Graph, Node};
use super::xml::escape;
use super::{Outcome, RunReport};

/// Graphs with more steps (or edges) than this are not drawn in the page:
/// the layout's cost grows faster than the graph (measured: 100 random-DAG
/// steps 0.07 s, 200 steps 0.5 s, 300 steps 2.4 s) and the picture would be
/// unreadable anyway.
pub const MAX_GRAPH_STEPS: usize = 120;
pub const MAX_GRAPH_EDGES: usize = 240;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page for `r`; `logs` holds the embedded log of each step by id
/// (steps without an entry wrote no log).
pub fn render(r: &RunReport, logs: &HashMap<String, EmbeddedLog>) -> String {
    let mut out = String::with_capacity(64 * 1024 + r.steps.len() * 2048);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"baton {}\">\n<title>{} · run {} · {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body class=\"s-{}\">",
        env!("CARGO_PKG_VERSION"),
        escape(&r.pipeline),
        escape(&r.run_id),
        r.status.as_str(),
        r.status.as_str()
    );
    overview::header(&mut out, r);
    out.push_str("<nav><a href=\"#why\">why</a> ");
    if !r.failures.is_empty() {
        let _ = write!(out, "<a href=\"#failures\">failures ({})</a> ", r.failures.len());
    }
    if !r.notes.is_empty() {
        let _ = write!(out, "<a href=\"#notes\">notes ({})</a> ", r.notes.len());
    }
    out.push_str("<a href=\"#timeline\">timeline</a> <a href=\"#graph\">graph</a> ");
    let _ = write!(out, "<a href=\"#artifacts\">artifacts ({})</a> ", r.artifacts.len());
    if !r.plugins.is_empty() {
        out.push_str("<a href=\"#plugins\">plugins</a>");
    }
    out.push_str("</nav>\n<main>\n");
    overview::why(&mut out, r);
    overview::failures(&mut out, r);
    overview::notes(&mut out, r);
    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>\n");
    legend(&mut out);
    out.push_str(
        "<p class=\"controls js-only\">show <button data-show=\"all\" class=\"on\">all steps</button><button data-show=\"problems\">failed or retried</button><button data-show=\"crit\">critical path</button> · <button data-fold=\"open\">unfold all</button><button data-fold=\"close\">fold all</button></p>\n",
    );
    timeline::render(&mut out, r, logs);
    out.push_str("<p class=\"note\">Click a step to fold out its attempts, waits and log. Times are seconds since the run started.</p></section>\n");
    graph_section(&mut out, r);
    artifacts::section(&mut out, r);
    overview::plugins(&mut out, r);
    let _ = writeln!(
        out,
        "</main>\n<footer>baton {} · the same data as JSON: <code>report.json</code> next to this file · logs: <code>{}</code></footer>\n<script>\n{SCRIPT}</script>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        escape(&r.log_dir)
    );
    out
}

fn legend(out: &mut String) {
    out.push_str("<p class=\"legend\">");
    for o in [
        Outcome::Ok,
        Outcome::Cached,
        Outcome::Failed,
        Outcome::Forgiven,
        Outcome::Cancelled,
        Outcome::PreviouslyDone,
        Outcome::Skipped,
    ] {
        let _ = write!(out, "<span><i class=\"sw a-{}\"></i>{}</span>", o.as_str(), o.label());
    }
    out.push_str("<span><i class=\"sw queued\"></i>queued for a job slot or pool</span><span><i class=\"sw backoff\"></i>retry backoff</span><span><i class=\"sw wait\"></i>waiting on a signal or artifact</span><span><i class=\"sw crit\"></i>critical path</span></p>\n");
}

fn graph_section(out: &mut String, r: &RunReport) {
    out.push_str("<section id=\"graph\"><h2>Graph</h2>\n");
    let edges: usize = r.steps.iter().map(|s| s.deps.len()).sum();
    if r.steps.len() > MAX_GRAPH_STEPS || edges > MAX_GRAPH_EDGES {
        let _ = writeln!(
            out,
            "<p class=\"note\">Not drawn: {} steps and {edges} edges are more than the page draws ({MAX_GRAPH_STEPS} steps, {MAX_GRAPH_EDGES} edges). <code>baton graph --format svg</code> draws the whole graph.</p></section>",
            r.steps.len()
        );
        return;
    }
    let graph = graph_of(r);
    if let Some(why) = graph_svg::too_big(&graph) {
        let _ = writeln!(out, "<p class=\"note\">Not drawn: {}.</p></section>", crate::report::xml::escape(&why));
        return;
    }
    out.push_str("<div class=\"graph\">");
    out.push_str(&graph_svg::render(&graph));
    out.push_str("</div>\n<p class=\"note\">Boxes are coloured by outcome; blue edges cross boards; the critical path is drawn in bold. Click a box to see its step.</p></section>\n");
}

/// The run's graph: outcome colours, critical path edges in bold.
pub fn graph_of(r: &RunReport) -> Graph {
    let index: HashMap<&str, usize> = r.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let on_path: HashMap<&str, usize> = r.critical_path.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let nodes = r
        .steps
        .iter()
        .map(|s| Node {
            id: s.id.clone(),
            label: s.id.clone(),
            class: if on_path.contains_key(s.id.as_str()) {
                format!("{} crit", s.outcome().as_str())
            } else {
                s.outcome().as_str().into()
            },
        })
        .collect();
    let mut edges = Vec::new();
    for (to, s) in r.steps.iter().enumerate() {
        for d in &s.deps {
            let Some(&from) = index.get(d.as_str()) else {
                continue;
            };
            let critical = matches!(
                (on_path.get(d.as_str()), on_path.get(s.id.as_str())),
                (Some(a), Some(b)) if a + 1 == *b
            );
            let kind = if critical {
                EdgeKind::Critical
            } else if r.steps[from].board != s.board {
                EdgeKind::Cross
            } else {
                EdgeKind::Plain
            };
            edges.push(Edge { from, to, kind });
        }
    }
    Graph { title: format!("{}: step graph of run {}", r.pipeline, r.run_id), nodes, edges, legend: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analysis::tests::{run, step};
    use crate::storage::log_excerpt::LogExcerpt;

    fn sample() -> RunReport {
        let mut b = step("l.b", "failed", &[(1.0, 1.0, 2.0, "failed")]);
        b.deps = vec!["l.a".into()];
        let mut c = step("w.c", "skipped", &[]);
        c.deps = vec!["l.b".into()];
        run(vec![step("l.a", "ok", &[(0.0, 0.0, 1.0, "ok")]), b, c], &["l.a", "l.b"], 2.5)
    }

    #[test]
    fn the_page_is_self_contained() {
        let mut logs = HashMap::new();
        logs.insert(
            "l.b".to_string(),
            EmbeddedLog::Excerpt(LogExcerpt {
                head: "see https://example.com/x <script>alert(1)</script>\n".into(),
                tail: String::new(),
                total_bytes: 60,
                cut_bytes: 0,
            }),
        );
        let html = render(&sample(), &logs);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.ends_with("</html>\n"));
        for external in ["src=\"http", "href=\"http", "<link", "@import", "url(http"] {
            assert!(!html.contains(external), "{external} in the page");
        }
        assert_eq!(html.matches("<script>").count(), 1, "only our own script; logs are escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn the_page_has_each_part() {
        let html = render(&sample(), &HashMap::new());
        assert_eq!(html.matches("class=\"bar ").count(), 3);
        assert!(html.contains("<section id=\"why\"><h2>Why it took 2.5s</h2>"), "{html}");
        assert!(!html.contains("id=\"failures\"") && !html.contains("href=\"#failures\""), "no failures, no section");
        assert_eq!(html.matches("data-node=").count(), 3, "the graph has every step");
        assert!(html.contains("<title>demo · run 20260101-000000-abcd · failed</title>"));
    }

    #[test]
    fn the_graph_marks_the_critical_path_and_cross_board_edges() {
        let g = graph_of(&sample());
        let kinds: Vec<(usize, usize, EdgeKind)> = g.edges.iter().map(|e| (e.from, e.to, e.kind)).collect();
        assert_eq!(kinds, [(0, 1, EdgeKind::Critical), (1, 2, EdgeKind::Cross)]);
        assert_eq!(g.nodes[0].class, "ok crit");
        assert_eq!(g.nodes[2].class, "skipped");
    }

    #[test]
    fn big_graphs_are_not_drawn() {
        let steps = (0..=MAX_GRAPH_STEPS).map(|i| step(&format!("b.s{i}"), "ok", &[(0.0, 0.0, 1.0, "ok")])).collect();
        let html = render(&run(steps, &[], 1.0), &HashMap::new());
        assert!(html.contains("<code>baton graph --format svg</code> draws the whole graph"));
        assert_eq!(html.matches("data-node=").count(), 0);
        assert_eq!(html.matches("data-step=").count(), MAX_GRAPH_STEPS + 1);
    }
}
