//! Parts of the file turned into their types. An unknown key is reported
//! at its own path with what was likely meant, and left out, so that the
//! rest of its table still counts.

use serde::de::DeserializeOwned;

use crate::plan::error::Errors;
use crate::text::suggest::hint;

pub(super) fn section<T: DeserializeOwned>(table: &toml::Table, key: &str, errs: &mut Errors) -> Option<T> {
    parse_value(table.get(key)?, key, errs)
}

/// Deserializes `value`. An unknown key is reported at its own path with
/// the likely key it was meant to be, then left out, so that the rest of the
/// table still counts (a step with a misspelt key is still a known step for
/// `after`: one error, not a string of knock-on ones).
pub(super) fn parse_value<T: DeserializeOwned>(value: &toml::Value, path: &str, errs: &mut Errors) -> Option<T> {
    // Deserializing consumes its input: one copy when the value is right,
    // and an editable one only once a key has to be left out.
    let mut result = T::deserialize(value.clone());
    let mut edited: Option<toml::Value> = None;
    loop {
        let e = match result {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let message = e.message().trim_end().to_string();
        let value = edited.get_or_insert_with(|| value.clone());
        if let Some((key, expected)) = unknown_field(&message)
            && let Some(table) = value.as_table_mut()
            && table.remove(&key).is_some()
        {
            let help = match hint(&key, expected.iter().map(String::as_str)) {
                h if h.is_empty() && !expected.is_empty() => {
                    format!(" (expected one of: {})", expected.join(", "))
                }
                h => h,
            };
            errs.push(format!("{path}.{key}"), format!("unknown key `{key}`{help}"));
            result = T::deserialize(value.clone());
            continue;
        }
        errs.push(path, message);
        return None;
    }
}

/// The key and the expected keys of serde's "unknown field `x`, expected
/// one of `a`, `b`" (or "expected `a`", or "there are no fields").
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let expected = rest.split('`').skip(1).step_by(2).map(String::from).collect();
    Some((key.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_unknown_field_messages_are_read() {
        assert_eq!(
            unknown_field("unknown field `retires`, expected one of `name`, `retries`"),
            Some(("retires".to_string(), vec!["name".to_string(), "retries".to_string()]))
        );
        assert_eq!(unknown_field("unknown field `x`, there are no fields"), Some(("x".to_string(), vec![])));
        assert_eq!(unknown_field("invalid type: string"), None);
    }
}
