//! Host side of the WIT interfaces, one file per interface.

pub mod artifacts;
pub mod log;
pub mod open_at;
pub mod preopens;
pub mod process;
pub mod signals;
pub mod src_view;
pub mod types;

/// Longest name or reference a stage may pass: `board.step/name` with each
/// part at its longest (128 bytes).
const MAX_REFERENCE: usize = 3 * 128 + 2;

/// Whether `name` may be a signal name or artifact reference (`name`,
/// `board.step`, `board.step/name`): checked before anything logs it.
fn plain_reference(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REFERENCE
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
}

/// A refused name as an error shows it: its start, control characters escaped.
fn shown(name: &str) -> String {
    let start: String = name.chars().take(100).collect();
    let more = if start.len() < name.len() { "…" } else { "" };
    format!("{}{more}", crate::text::escape_line(&start))
}
