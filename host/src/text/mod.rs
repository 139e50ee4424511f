//! Text on its way to a person or a file: control characters escaped so
//! that nothing a stage prints acts on a terminal ([`escape`]), and secret
//! values replaced by `***` wherever baton writes or shows them ([`mask`]).
//!
//! Both are applied where untrusted text enters the host (a stage's error
//! and progress messages, the step log and its tail) and again where it is
//! shown (the terminal, `baton logs`, `baton check`), so that a path that
//! forgets one still gets the other.

pub mod escape;
pub mod mask;
pub mod suggest;

pub use escape::{escape_line, escape_text};
pub use mask::{Secrets, StreamMasker};

/// Longest error message a stage may hand the host; longer ones are cut,
/// and say so.
pub const MAX_ERROR: usize = 64 * 1024;

/// The longest prefix of `s` of at most `max` bytes.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// A message from a stage made fit to store and show: secrets masked,
/// control characters escaped (newlines kept), and cut to `max` bytes with
/// a note of the original size when longer.
pub fn clean_message(message: &str, secrets: &Secrets, max: usize) -> String {
    // Only a bounded start of the message can be kept: work on that (with
    // room for a value that starts before the cut and for escapes).
    let head = prefix(message, max.saturating_mul(4).saturating_add(secrets.longest()));
    let masked = secrets.mask(head);
    let escaped = escape_text(&masked);
    if head.len() == message.len() && escaped.len() <= max {
        return escaped.into_owned();
    }
    format!(
        "{} [… cut: the message has {} bytes; messages are capped at {}]",
        prefix(&escaped, max),
        message.len(),
        crate::units::Size(max as u64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_and_says_so() {
        let none = Secrets::default();
        let s = "é".repeat(100);
        assert_eq!(clean_message(&s, &none, 1000), s);
        assert_eq!(clean_message(&s, &none, 5), "éé [… cut: the message has 200 bytes; messages are capped at 5B]");
        let huge = "x".repeat(10 << 20);
        let note = " [… cut: the message has 10485760 bytes; messages are capped at 64KiB]";
        let cut = clean_message(&huge, &none, MAX_ERROR);
        assert!(cut.ends_with(&format!("x{note}")), "{}", &cut[MAX_ERROR - 10..]);
        assert_eq!(cut.len(), MAX_ERROR + note.len());
    }

    #[test]
    fn a_message_is_masked_before_it_is_cut() {
        let secrets = Secrets::new([("T".to_string(), "0123456789".to_string())]);
        // The value is masked first, then the message is cut: no digit of it survives.
        let m = format!("{}0123456789", "a".repeat(16));
        assert_eq!(clean_message(&m, &secrets, 20), "aaaaaaaaaaaaaaaa***");
        assert_eq!(
            clean_message(&m, &secrets, 18),
            "aaaaaaaaaaaaaaaa** [… cut: the message has 26 bytes; messages are capped at 18B]"
        );
        assert_eq!(clean_message("\x1b[31mred\r\nnext", &secrets, 100), "\\x1b[31mred\\r\nnext");
    }
}
