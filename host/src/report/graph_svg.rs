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

/// Most boxes a drawing may need, counting the bends of long edges (one per
/// layer an edge passes through): the layout's time grows faster than the
/// square of it.
pub const MAX_DRAWN_NODES: usize = 1000;
/// Most crossing-count work a drawing may need: the sum over adjacent layers
/// of (width of a layer)² × (width of the next), which the layout repeats
/// 50 times, each time after bubbling nodes until no swap helps. Measured:
/// 1–5s of layout at the limit in a debug build, under 1s in release.
pub const MAX_DRAWN_WORK: u64 = 30_000;

/// Why `g` is too big to lay out in seconds, if it is: layers are taken as
/// the longest path from a root, long edges add a box per layer they cross.
pub fn too_big(g: &Graph) -> Option<String> {
    let n = g.nodes.len();
    if n > MAX_DRAWN_NODES {
        return Some(format!("{n} steps are more than the {MAX_DRAWN_NODES} an SVG drawing takes"));
    }
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in g.edges.iter().filter(|e| e.from < n && e.to < n) {
        succs[e.from].push(e.to);
        preds[e.to].push(e.from);
    }
    // Longest-path layers, in topological order (Kahn); a node on a cycle keeps layer 0.
    let mut layer = vec![0usize; n];
    let mut missing: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    while let Some(i) = ready.pop() {
        for &j in &succs[i] {
            layer[j] = layer[j].max(layer[i] + 1);
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push(j);
            }
        }
    }
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    // Width per layer, with the bends of long edges (a difference array).
    let mut delta = vec![0i64; layers + 1];
    for &l in &layer {
        delta[l] += 1;
        delta[l + 1] -= 1;
    }
    for e in g.edges.iter().filter(|e| e.from < n && e.to < n) {
        let (a, b) = (layer[e.from], layer[e.to]);
        if b > a + 1 {
            delta[a + 1] += 1;
            delta[b] -= 1;
        }
    }
    let mut widths = Vec::with_capacity(layers);
    let mut w = 0i64;
    for d in &delta[..layers] {
        w += d;
        widths.push(w.max(0) as u64);
    }
    let boxes: u64 = widths.iter().sum();
    if boxes > MAX_DRAWN_NODES as u64 {
        return Some(format!(
            "{n} steps whose {} edges bend through {} layers need {boxes} boxes, more than the {MAX_DRAWN_NODES} an SVG \
             drawing takes",
            g.edges.len(),
            layers
        ));
    }
    let work: u64 = widths.windows(2).map(|p| p[0].saturating_mul(p[0]).saturating_mul(p[1])).sum();
    if work > MAX_DRAWN_WORK {
        let widest = widths.iter().max().copied().unwrap_or(0);
        return Some(format!(
            "{n} steps in layers up to {widest} wide are too tangled to lay out in seconds (crossing work {work}, \
             limit {MAX_DRAWN_WORK})"
        ));
    }
    None
}

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

    fn chain(n: usize) -> Graph {
        Graph {
            nodes: (0..n).map(|i| node(&format!("b.s{i}"), "b0")).collect(),
            edges: (1..n).map(|i| Edge { from: i - 1, to: i, kind: EdgeKind::Plain }).collect(),
            ..Graph::default()
        }
    }

    #[test]
    fn graphs_too_big_to_lay_out_are_refused_before_the_layout() {
        assert_eq!(too_big(&chain(MAX_DRAWN_NODES)), None);
        assert_eq!(
            too_big(&chain(MAX_DRAWN_NODES + 1)).as_deref(),
            Some("1001 steps are more than the 1000 an SVG drawing takes")
        );
        // 600 steps that all wait for the last of a 500-step chain... through a long edge each.
        let mut g = chain(500);
        for i in 0..100 {
            g.nodes.push(node(&format!("c.s{i}"), "b1"));
            g.edges.push(Edge { from: 0, to: 500 + i, kind: EdgeKind::Cross });
            g.edges.push(Edge { from: 500 + i, to: 499, kind: EdgeKind::Cross });
        }
        let why = too_big(&g).expect("too big");
        assert!(why.starts_with("600 steps whose 699 edges bend through 500 layers need "), "{why}");
        // One wide layer fully connected to the next: few boxes, much crossing work.
        let mut wide = Graph::default();
        for i in 0..120 {
            wide.nodes.push(node(&format!("a.s{i}"), "b0"));
        }
        for a in 0..60 {
            for b in 60..120 {
                wide.edges.push(Edge { from: a, to: b, kind: EdgeKind::Plain });
            }
        }
        let why = too_big(&wide).expect("too tangled");
        assert_eq!(
            why,
            "120 steps in layers up to 60 wide are too tangled to lay out in seconds (crossing work 216000, limit 30000)"
        );
    }

    #[test]
    fn a_graph_without_edges_or_nodes_still_renders() {
        let one = render(&Graph { nodes: vec![node("a.b", "b0")], ..Graph::default() });
        assert_eq!(one.matches("data-node=").count(), 1);
        let none = render(&Graph::default());
        assert!(none.ends_with("</svg>\n"));
    }
}
