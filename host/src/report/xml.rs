//! Escaping for XML and HTML output (JUnit, the HTML page, SVG).
//!
//! Step logs hold whatever programs print: terminal colour sequences and
//! control characters that XML 1.0 forbids. `escape` drops colour sequences,
//! shows other control characters as `\u{fffd}` and escapes markup, so any
//! log line is safe in text and in attribute values.

use std::fmt::Write;

/// `text` escaped for XML/HTML text and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{1b}' => {
                // CSI sequences (`ESC [ … final byte`) are colours and cursor moves.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for f in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&f) {
                            break;
                        }
                    }
                } else {
                    out.push('\u{fffd}');
                }
            }
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Seconds as an XML number with millisecond precision (`1.250`).
pub fn seconds(s: f64) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:.3}", s.max(0.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn colours_are_dropped_and_control_characters_replaced() {
        assert_eq!(escape("\u{1b}[1;31merror\u{1b}[0m: bad\u{7}\u{0}"), "error: bad\u{fffd}\u{fffd}");
        assert_eq!(escape("tab\tand\nnewline"), "tab\tand\nnewline");
        assert_eq!(escape("lone \u{1b} escape"), "lone \u{fffd} escape");
    }
}
