//! `baton graph [FILE] --format dot|mermaid|json`: the expanded graph,
//! boards as clusters, cross-board edges visible.

use std::fmt::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{default_file, load_plan};
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The pipeline file.
    #[arg(default_value_os_t = default_file())]
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
}

pub fn main(args: GraphArgs) -> anyhow::Result<u8> {
    let Some(plan) = load_plan(&args.file) else {
        return Ok(2);
    };
    let text = match args.format {
        Format::Dot => dot(&plan),
        Format::Mermaid => mermaid(&plan),
        Format::Json => json(&plan)?,
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
