//! A `layout-rs` render backend that writes compact SVG styled by CSS
//! classes (prefixed `g-`, so that the drawing can sit inline in the HTML
//! page next to other styles) instead of inline colours and fonts.
//!
//! Conventions with `graph_svg`: a node's `properties` are extra attributes
//! of its `<g>` (a class and `data-node`); an arrow's `properties` are its
//! kind (`cross`, `crit`), which picks its class and arrowhead.

use std::fmt::Write;

use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;

use super::xml::escape;

/// Margin around the drawing, in pixels.
const MARGIN: f64 = 8.0;

#[derive(Debug, Default)]
pub struct Canvas {
    body: String,
    min: Option<(f64, f64)>,
    max: (f64, f64),
    clips: usize,
    defs: String,
}

impl Canvas {
    fn grow(&mut self, p: Point, size: Point) {
        let (x0, y0) = self.min.unwrap_or((p.x, p.y));
        self.min = Some((x0.min(p.x), y0.min(p.y)));
        self.max = (self.max.0.max(p.x + size.x), self.max.1.max(p.y + size.y));
    }

    /// The bounding box drawn so far: `(x, y, width, height)`.
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        let (x0, y0) = self.min.unwrap_or((0.0, 0.0));
        (x0, y0, (self.max.0 - x0).max(0.0), (self.max.1 - y0).max(0.0))
    }

    /// Adds raw SVG drawn outside the layout (a legend), growing the box.
    pub fn raw(&mut self, svg: &str, at: Point, size: Point) {
        self.grow(at, size);
        self.body.push_str(svg);
    }

    /// The finished `<svg>` element; `style` goes in its `<style>`.
    pub fn finish(&self, style: &str, title: &str) -> String {
        let (x, y, w, h) = self.bounds();
        let (x, y, w, h) = (x - MARGIN, y - MARGIN, w + 2.0 * MARGIN, h + 2.0 * MARGIN);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"g-graph\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"{x:.1} {y:.1} {w:.1} {h:.1}\" role=\"img\" aria-label=\"{}\">",
            escape(title)
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        out.push_str("<defs>\n");
        for kind in ["plain", "cross", "crit"] {
            let _ = writeln!(
                out,
                "<marker id=\"g-arrow-{kind}\" class=\"g-head g-{kind}\" markerUnits=\"userSpaceOnUse\" markerWidth=\"10\" markerHeight=\"7\" refX=\"10\" refY=\"3.5\" orient=\"auto\"><polygon points=\"0 0, 10 3.5, 0 7\"/></marker>"
            );
        }
        out.push_str(&self.defs);
        out.push_str("</defs>\n<style>\n");
        out.push_str(style);
        out.push_str("</style>\n");
        out.push_str(&self.body);
        out.push_str("</svg>\n");
        out
    }
}

impl RenderBackend for Canvas {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
        clip: Option<ClipHandle>,
    ) {
        self.grow(xy, size);
        let clip = clip.map(|c| format!(" clip-path=\"url(#g-clip{c})\"")).unwrap_or_default();
        let _ = writeln!(
            self.body,
            "<g {}><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{}\"{clip}/></g>",
            properties.unwrap_or_else(|| "class=\"g-box\"".into()),
            xy.x,
            xy.y,
            size.x,
            size.y,
            look.rounded
        );
    }

    fn draw_line(&mut self, start: Point, stop: Point, _look: &StyleAttr, properties: Option<String>) {
        self.grow(start, Point::zero());
        self.grow(stop, Point::zero());
        let _ = writeln!(
            self.body,
            "<line class=\"g-line\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" {}/>",
            start.x,
            start.y,
            stop.x,
            stop.y,
            properties.unwrap_or_default()
        );
    }

    fn draw_circle(&mut self, xy: Point, size: Point, _look: &StyleAttr, properties: Option<String>) {
        self.grow(Point::new(xy.x - size.x / 2.0, xy.y - size.y / 2.0), size);
        let _ = writeln!(
            self.body,
            "<g {}><ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{:.1}\"/></g>",
            properties.unwrap_or_else(|| "class=\"g-box\"".into()),
            xy.x,
            xy.y,
            size.x / 2.0,
            size.y / 2.0
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, _look: &StyleAttr) {
        let lines: Vec<&str> = text.lines().collect();
        let n = lines.len().max(1) as f64;
        let _ = write!(
            self.body,
            "<text class=\"g-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" dominant-baseline=\"central\">",
            xy.x,
            xy.y - (n - 1.0) * 0.6 * 14.0
        );
        for (i, line) in lines.iter().enumerate() {
            let dy = if i == 0 { "0" } else { "1.2em" };
            let _ = write!(self.body, "<tspan x=\"{:.1}\" dy=\"{dy}\">{}</tspan>", xy.x, escape(line));
        }
        self.body.push_str("</text>\n");
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        head: (bool, bool),
        _look: &StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        if path.len() < 2 {
            return;
        }
        for (p, c) in path {
            self.grow(*p, Point::zero());
            self.grow(*c, Point::zero());
        }
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            path[0].0.x, path[0].0.y, path[0].1.x, path[0].1.y, path[1].0.x, path[1].0.y, path[1].1.x, path[1].1.y
        );
        for (p, c) in path.iter().skip(2) {
            let _ = write!(d, " S {:.1} {:.1}, {:.1} {:.1}", p.x, p.y, c.x, c.y);
        }
        let kind = properties.unwrap_or_else(|| "plain".into());
        let dash = if dashed { " stroke-dasharray=\"5,5\"" } else { "" };
        let end = if head.1 { format!(" marker-end=\"url(#g-arrow-{kind})\"") } else { String::new() };
        let _ = writeln!(self.body, "<path class=\"g-edge g-{kind}\" d=\"{d}\"{dash}{end}/>");
    }

    fn create_clip(&mut self, xy: Point, size: Point, rounded_px: usize) -> ClipHandle {
        let id = self.clips;
        self.clips += 1;
        let _ = writeln!(
            self.defs,
            "<clipPath id=\"g-clip{id}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rounded_px}\"/></clipPath>",
            xy.x, xy.y, size.x, size.y
        );
        id
    }
}
