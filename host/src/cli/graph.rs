//! `baton graph [FILE] --format dot|mermaid|json|svg`: the expanded graph,
//! boards as clusters (as colours in SVG), cross-board edges visible.

use std::fmt::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Locate, load_plan};
use crate::plan::Plan;
use crate::report::graph_svg::{self, BOARD_CLASSES, Edge, EdgeKind, Graph, Node};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    Json,
    /// A picture, laid out by baton itself (no graphviz needed).
    Svg,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The pipeline file (default: the nearest baton.toml, here or up).
    #[arg(id = "pipeline_file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
}

pub fn main(args: GraphArgs, at: &Locate) -> anyhow::Result<u8> {
    let Some(plan) = load_plan(&at.pipeline(args.file.as_deref())?) else {
        return Ok(2);
    };
    let text = match args.format {
        Format::Dot => dot(&plan),
        Format::Mermaid => mermaid(&plan),
        Format::Json => json(&plan)?,
        Format::Svg => {
            let graph = svg_graph(&plan);
            if let Some(why) = graph_svg::too_big(&graph) {
                eprintln!(
                    "error: not drawn: {why}; use `--format dot` (graphviz: `dot -Tsvg`) or `--format json` for big graphs"
                );
                return Ok(2);
            }
            graph_svg::render(&graph)
        }
    };
    print!("{text}");
    Ok(0)
}

pub fn dot(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", plan.name.replace('"', "'"));
    let _ = writeln!(out, "  rankdir=LR;\n  node [shape=box, style=rounded];");
    for (b, board) in plan.boards.iter().enumerate() {
        let _ = writeln!(out, "  subgraph \"cluster_{board}\" {{\n    label=\"{board}\";");
        for s in plan.steps.iter().filter(|s| s.board == b) {
            let mut attrs = vec![format!("label=\"{}\"", s.name)];
            if s.always {
                attrs.push("style=\"rounded,dashed\"".into());
            }
            if let Some(p) = s.pool {
                attrs.push(format!("xlabel=\"{}\"", plan.pools[p].name));
            }
            let _ = writeln!(out, "    \"{}\" [{}];", s.id, attrs.join(", "));
        }
        let _ = writeln!(out, "  }}");
    }
    for s in &plan.steps {
        for &d in &s.deps {
            let cross = plan.steps[d].board != s.board;
            let style = if cross { " [color=blue, style=bold]" } else { "" };
            let _ = writeln!(out, "  \"{}\" -> \"{}\"{style};", plan.steps[d].id, s.id);
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid_id(id: &str) -> String {
    id.replace(['.', '-'], "_")
}

pub fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    for (b, board) in plan.boards.iter().enumerate() {
        let _ = writeln!(out, "  subgraph {}[{board}]", mermaid_id(board));
        for s in plan.steps.iter().filter(|s| s.board == b) {
            let _ = writeln!(out, "    {}[\"{}\"]", mermaid_id(&s.id), s.name);
        }
        out.push_str("  end\n");
    }
    for s in &plan.steps {
        for &d in &s.deps {
            let arrow = if plan.steps[d].board != s.board { "==>" } else { "-->" };
            let _ = writeln!(out, "  {} {arrow} {}", mermaid_id(&plan.steps[d].id), mermaid_id(&s.id));
        }
    }
    out
}

pub fn json(plan: &Plan) -> anyhow::Result<String> {
    let steps: Vec<serde_json::Value> = plan
        .steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "board": plan.boards[s.board],
                "name": s.name,
                "plugin": s.plugin.map(|p| plan.plugins[p].name.clone()),
                "deps": s.deps.iter().map(|&d| plan.steps[d].id.clone()).collect::<Vec<_>>(),
                "pool": s.pool.map(|p| plan.pools[p].name.clone()),
                "always": s.always,
                "emits": s.emits,
            })
        })
        .collect();
    let edges: Vec<serde_json::Value> = plan
        .steps
        .iter()
        .flat_map(|s| {
            s.deps.iter().map(move |&d| {
                serde_json::json!({
                    "from": plan.steps[d].id,
                    "to": s.id,
                    "cross_board": plan.steps[d].board != s.board,
                })
            })
        })
        .collect();
    let doc = serde_json::json!({ "pipeline": plan.name, "boards": plan.boards, "steps": steps, "edges": edges });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

/// The plan as a picture: a colour per board (named in a legend), cross-board
/// edges in blue.
pub fn svg_graph(plan: &Plan) -> Graph {
    let class = |board: usize| format!("b{}", board % BOARD_CLASSES);
    let nodes =
        plan.steps.iter().map(|s| Node { id: s.id.clone(), label: s.id.clone(), class: class(s.board) }).collect();
    let edges = plan
        .steps
        .iter()
        .enumerate()
        .flat_map(|(to, s)| {
            s.deps.iter().map(move |&from| Edge {
                from,
                to,
                kind: if plan.steps[from].board != s.board { EdgeKind::Cross } else { EdgeKind::Plain },
            })
        })
        .collect();
    Graph {
        title: format!("{}: step graph", plan.name),
        nodes,
        edges,
        legend: plan.boards.iter().enumerate().map(|(b, name)| (class(b), name.clone())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_svg_graph_colours_boards_and_marks_cross_board_edges() {
        let plan = Plan::parse(
            "[[boards.l.steps]]\nname = \"a\"\n[[boards.l.steps]]\nname = \"b\"\n[[boards.w.steps]]\nname = \"c\"\nafter = [\"l.a\"]\n",
            Path::new("/p/baton.toml"),
        )
        .expect("valid");
        let g = svg_graph(&plan);
        let classes: Vec<&str> = g.nodes.iter().map(|n| n.class.as_str()).collect();
        assert_eq!(classes, ["b0", "b0", "b1"]);
        let kinds: Vec<EdgeKind> = g.edges.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EdgeKind::Plain, EdgeKind::Cross]);
        assert_eq!(g.legend, [("b0".to_string(), "l".to_string()), ("b1".to_string(), "w".to_string())]);
        let svg = graph_svg::render(&g);
        assert_eq!(svg.matches("data-node=").count(), 3);
    }
}
