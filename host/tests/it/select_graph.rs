//! `--only`, `--skip`, `--from`, and `baton graph`.

use crate::harness::Pipeline;

const GRAPH: &str = r#"
[policy]
spawn = ["sh"]
[[boards.linux.steps]]
name = "L1"
plugin = "shell"
with = { run = "true" }
[[boards.linux.steps]]
name = "L2"
plugin = "shell"
with = { run = "true" }
[[boards.linux.steps]]
name = "L3"
plugin = "shell"
with = { run = "true" }
[[boards.linux.steps]]
name = "L4"
plugin = "shell"
after = ["L2"]
with = { run = "true" }
[[boards.windows.steps]]
name = "W1"
plugin = "shell"
after = ["linux.L2"]
with = { run = "true" }
"#;

fn ran(r: &crate::harness::Run, id: &str) -> bool {
    !r.step(id)["start"].is_null()
}

#[test]
fn only_runs_a_step_and_what_it_needs() {
    let r = Pipeline::new(GRAPH).run(&["--only", "linux.L4"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let did: Vec<&str> =
        ["linux.L1", "linux.L2", "linux.L3", "linux.L4", "windows.W1"].into_iter().filter(|id| ran(&r, id)).collect();
    assert_eq!(did, ["linux.L1", "linux.L2", "linux.L4"]);
    assert_eq!(r.status("linux.L3"), "skipped");
    assert!(r.error("linux.L3").contains("left out of this run"));
}

#[test]
fn from_and_skip() {
    let r = Pipeline::new(GRAPH).run(&["--from", "linux.L2", "--skip", "windows"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let did: Vec<&str> =
        ["linux.L1", "linux.L2", "linux.L3", "linux.L4", "windows.W1"].into_iter().filter(|id| ran(&r, id)).collect();
    assert_eq!(did, ["linux.L2", "linux.L3", "linux.L4"]);
    let bad = Pipeline::new(GRAPH).run(&["--only", "linux.L9"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--only linux.L9: no such step or board (did you mean linux.L1?)"), "{}", bad.stderr);
}

fn graph(format: &str) -> String {
    let p = Pipeline::new(GRAPH);
    let out = p.baton().args(["graph", "--format", format]).output().expect("graph");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn graph_shows_boards_and_cross_board_edges() {
    let dot = graph("dot");
    assert!(dot.contains("subgraph \"cluster_linux\""), "{dot}");
    assert!(dot.contains("subgraph \"cluster_windows\""), "{dot}");
    assert!(dot.contains("\"linux.L2\" -> \"windows.W1\" [color=blue, style=bold];"), "{dot}");
    assert!(dot.contains("\"linux.L1\" -> \"linux.L2\";"), "{dot}");
    let mermaid = graph("mermaid");
    assert!(mermaid.contains("linux_L2 ==> windows_W1"), "{mermaid}");
    assert!(mermaid.contains("subgraph windows[windows]"), "{mermaid}");
    let json: serde_json::Value = serde_json::from_str(&graph("json")).expect("json");
    let edges = json["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 4);
    assert!(edges.iter().any(|e| e["from"] == "linux.L2" && e["to"] == "windows.W1" && e["cross_board"] == true));
}
