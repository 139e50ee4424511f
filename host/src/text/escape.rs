//! Control characters made visible. A stage's output may hold ESC, BEL, CR
//! and other C0 or C1 controls (and bidirectional overrides) that would move
//! the cursor, rewrite lines, change the title or hide text on a terminal;
//! shown escaped (`\x1b`, `\r`, `\u{202e}`), they are inert and still
//! readable. Tabs stay.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must be escaped before reaching a terminal (`\n` aside).
fn is_unsafe(c: char) -> bool {
    match c {
        '\t' | '\n' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates ("Trojan source").
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| is_unsafe(c) || (c == '\n' && !keep_newlines);
    let Some(first) = s.find(bad) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if bad(c) { push_escaped(&mut out, c) } else { out.push(c) }
    }
    Cow::Owned(out)
}

/// `s` with every control character escaped but newlines and tabs: for
/// text shown as several lines (an error message, a log).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// `s` with every control character escaped, newlines too: for text that
/// must stay on one line (a progress message, a name, a log line).
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Bytes of a log shown as text: invalid UTF-8 replaced, controls escaped,
/// newlines kept.
pub fn escape_bytes(bytes: &[u8]) -> String {
    escape_text(&String::from_utf8_lossy(bytes)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_made_visible() {
        assert_eq!(escape_line("\x1b[2J\x07ok\r  1.0  baton | x"), "\\x1b[2J\\x07ok\\r  1.0  baton | x");
        assert_eq!(escape_line("a\u{9b}31m\u{7f}b"), "a\\x9b31m\\x7fb");
        assert_eq!(escape_line("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape_line("two\nlines"), "two\\nlines");
        assert_eq!(escape_text("two\nlines\tand a tab"), "two\nlines\tand a tab");
        assert_eq!(escape_bytes(b"\xff\x1b]0;title\x07\n"), "\u{fffd}\\x1b]0;title\\x07\n");
    }

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(escape_line("plain text: é ✓"), Cow::Borrowed(_)));
    }
}
