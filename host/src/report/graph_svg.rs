//! The step graph drawn as SVG: `layout-rs` places the nodes (a layered,
//! graphviz-style layout, left to right), `svg_canvas` writes them.
//! Used by `baton graph --format svg` (nodes coloured by board) and by the
//! HTML report (nodes coloured by outcome, the critical path in bold).

use layout::core::base::Orientation;
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::svg_canvas::Canvas;
use super::xml::escape;

/// One box.
#[derive(Debug, Clone)]
pub struct Node {
    /// `board.step`, in the node's `data-node` attribute.
    pub id: String,
    pub label: String,
    /// CSS class: an outcome (`ok`, `failed`…) or a board colour (`b0`…`b7`).
    pub class: String,
}

/// How an edge is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Plain,
    /// Between two boards.
    Cross,
    /// On the critical path.
    Critical,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
}

/// What to draw.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub title: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// `(class, text)` swatches drawn under the graph.
    pub legend: Vec<(String, String)>,
}

/// Board colours, cycled.
pub const BOARD_CLASSES: usize = 8;

/// Styles of the drawing (outcome and board colours, edges, labels).
pub const STYLE: &str = include_str!("graph.css");

const FONT_PX: f64 = 13.0;
const CHAR_PX: f64 = 7.8;
const NODE_HEIGHT: f64 = 30.0;

/// The graph as a standalone `<svg>` element (its style inside).
pub fn render(g: &Graph) -> String {
    let mut vg = VisualGraph::new(Orientation::LeftToRight);
    let handles: Vec<_> = g
        .nodes
        .iter()
        .map(|n| {
            let width = n.label.chars().count() as f64 * CHAR_PX + 24.0;
            let props = format!("class=\"g-node {}\" data-node=\"{}\"", escape(&n.class), escape(&n.id));
            let mut look = StyleAttr::simple();
            look.rounded = 6;
            look.font_size = FONT_PX as usize;
            let shape = ShapeKind::new_box(&n.label);
            let size = Point::new(width, NODE_HEIGHT);
            vg.add_node(Element::create_with_properties(shape, look, Orientation::LeftToRight, size, props))
        })
        .collect();
    for e in &g.edges {
        let kind = match e.kind {
            EdgeKind::Plain => "plain",
            EdgeKind::Cross => "cross",
            EdgeKind::Critical => "crit",
        };
        vg.add_edge(Arrow::simple_with_properties("", kind), handles[e.from], handles[e.to]);
    }
    let mut canvas = Canvas::default();
    if !g.nodes.is_empty() {
        vg.do_it(false, false, false, &mut canvas);
    }
    legend(&mut canvas, &g.legend);
    canvas.finish(STYLE, &g.title)
}

/// Swatches in a row under what is drawn.
fn legend(canvas: &mut Canvas, items: &[(String, String)]) {
    let (x0, y0, _, h) = canvas.bounds();
    let y = y0 + h + 16.0;
    let mut x = x0;
    for (class, text) in items {
        let width = text.chars().count() as f64 * CHAR_PX + 26.0;
        let svg = format!(
            "<g class=\"g-legend\"><rect class=\"g-node {}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"12\" height=\"12\" rx=\"3\"/><text class=\"g-label\" x=\"{:.1}\" y=\"{:.1}\" dominant-baseline=\"central\">{}</text></g>\n",
            escape(class),
            x + 16.0,
            y + 6.0,
            escape(text)
        );
        canvas.raw(&svg, Point::new(x, y), Point::new(width, 12.0));
        x += width + 8.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, class: &str) -> Node {
        Node { id: id.into(), label: id.into(), class: class.into() }
    }

    #[test]
    fn every_node_and_edge_is_drawn_with_its_class() {
        let g = Graph {
            title: "demo <graph>".into(),
            nodes: vec![node("l.one", "ok"), node("l.two", "failed"), node("w.x", "skipped")],
            edges: vec![
                Edge { from: 0, to: 1, kind: EdgeKind::Critical },
                Edge { from: 1, to: 2, kind: EdgeKind::Cross },
            ],
            legend: vec![("ok".into(), "ok".into())],
        };
        let svg = render(&g);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        assert!(svg.contains("<title>demo &lt;graph&gt;</title>"));
        for (id, class) in [("l.one", "ok"), ("l.two", "failed"), ("w.x", "skipped")] {
            assert_eq!(svg.matches(&format!("class=\"g-node {class}\" data-node=\"{id}\"")).count(), 1, "{svg}");
            assert!(svg.contains(&format!(">{id}</tspan>")), "{svg}");
        }
        assert_eq!(svg.matches("class=\"g-edge g-crit\"").count(), 1, "{svg}");
        assert_eq!(svg.matches("class=\"g-edge g-cross\"").count(), 1, "{svg}");
        assert!(svg.contains("marker-end=\"url(#g-arrow-cross)\""));
        assert!(svg.contains("class=\"g-legend\""));
        assert!(!svg.contains("NaN"), "{svg}");
    }

    #[test]
    fn a_graph_without_edges_or_nodes_still_renders() {
        let one = render(&Graph { nodes: vec![node("a.b", "b0")], ..Graph::default() });
        assert_eq!(one.matches("data-node=").count(), 1);
        let none = render(&Graph::default());
        assert!(none.ends_with("</svg>\n"));
    }
}
