//! A step's `with` checked against the config schema its plugin's
//! `describe()` declares, before anything runs. The schema is JSON Schema;
//! the keywords stages use are understood (`type`, `properties`,
//! `required`, `additionalProperties`, `items`, `minItems`, `maxItems`,
//! `minimum`, `maximum`, `enum`, `const`, `oneOf`, `anyOf`), others are
//! ignored. Each error names the key path (`boards.b.steps[0].with.run[1]`)
//! and, for a misspelt key, the likely one (`rnu` → `run`).

use serde_json::Value;

use crate::text::suggest;

/// One problem: where (relative to `with`, e.g. `.run[1]`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// Checks `value` against `schema`; every problem, in document order.
pub fn check(schema: &Value, value: &Value) -> Vec<ConfigError> {
    let mut out = Vec::new();
    walk(schema, value, "", &mut out);
    out
}

fn error(out: &mut Vec<ConfigError>, path: &str, message: String) {
    out.push(ConfigError { path: path.to_string(), message });
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<ConfigError>) {
    let Some(s) = schema.as_object() else {
        // `true`, `{}` or anything else: no constraint.
        return;
    };
    if let Some(c) = s.get("const")
        && c != value
    {
        return error(out, path, format!("expected {c}, found {}", kind(value)));
    }
    if let Some(Value::Array(choices)) = s.get("enum")
        && !choices.contains(value)
    {
        let list: Vec<String> = choices.iter().map(Value::to_string).collect();
        let hint =
            value.as_str().map(|v| suggest::hint(v, choices.iter().filter_map(Value::as_str))).unwrap_or_default();
        return error(out, path, format!("expected one of {}, found {value}{hint}", list.join(", ")));
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(value, t)) {
            let wanted: Vec<&str> = types.iter().map(|t| type_word(t)).collect();
            return error(out, path, format!("expected {}, found {}", wanted.join(" or "), kind(value)));
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(alternatives)) = s.get(key) {
            alternative(alternatives, value, path, out);
        }
    }
    match value {
        Value::Object(map) => object(s, map, path, out),
        Value::Array(items) => array(s, items, path, out),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                error(out, path, format!("must be at least {min}, found {n}"));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                error(out, path, format!("must be at most {max}, found {n}"));
            }
        }
        _ => {}
    }
}

fn object(
    s: &serde_json::Map<String, Value>,
    map: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<ConfigError>,
) {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = s.get("required") {
        for key in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                error(out, path, format!("missing key `{key}`"));
            }
        }
    }
    for (key, v) in map {
        let at = format!("{path}.{key}");
        match (props.and_then(|p| p.get(key)), s.get("additionalProperties")) {
            (Some(sub), _) => walk(sub, v, &at, out),
            (None, Some(Value::Bool(false))) => {
                let known: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                let hint = suggest::hint(key, known.iter().copied());
                let expected = if hint.is_empty() && !known.is_empty() {
                    format!(" (expected one of: {})", known.join(", "))
                } else {
                    hint
                };
                error(out, &at, format!("unknown key `{key}`{expected}"));
            }
            (None, Some(extra)) => walk(extra, v, &at, out),
            (None, None) => {}
        }
    }
}

fn array(s: &serde_json::Map<String, Value>, items: &[Value], path: &str, out: &mut Vec<ConfigError>) {
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        error(out, path, format!("needs at least {min} item{}, found {}", plural(min), items.len()));
    }
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && (items.len() as u64) > max
    {
        error(out, path, format!("takes at most {max} item{}, found {}", plural(max), items.len()));
    }
    if let Some(item) = s.get("items") {
        for (i, v) in items.iter().enumerate() {
            walk(item, v, &format!("{path}[{i}]"), out);
        }
    }
}

/// `oneOf`/`anyOf`: fine if an alternative fits. Otherwise the errors of the
/// closest alternative of the value's type (a misspelt key in a table), or
/// what was expected.
fn alternative(alternatives: &[Value], value: &Value, path: &str, out: &mut Vec<ConfigError>) {
    let mut closest: Option<Vec<ConfigError>> = None;
    let mut typed = false;
    for alt in alternatives {
        let errors = check(alt, value);
        if errors.is_empty() {
            return;
        }
        let same_type = alt.get("type").and_then(Value::as_str).is_none_or(|t| is_type(value, t))
            && alt.get("const").is_none_or(|c| kind(c) == kind(value));
        if same_type && closest.as_ref().is_none_or(|c| errors.len() < c.len()) {
            typed = true;
            closest = Some(errors);
        }
    }
    match closest {
        Some(errors) if typed => {
            out.extend(errors.into_iter().map(|e| ConfigError { path: format!("{path}{}", e.path), ..e }));
        }
        _ => {
            let wanted: Vec<String> = alternatives.iter().map(describe).collect();
            error(out, path, format!("expected {}, found {}", wanted.join(" or "), kind(value)));
        }
    }
}

/// What a schema accepts, in a few words.
fn describe(schema: &Value) -> String {
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => match schema.get("required").and_then(Value::as_array) {
            Some(keys) if !keys.is_empty() => {
                let keys: Vec<String> = keys.iter().filter_map(Value::as_str).map(|k| format!("`{k}`")).collect();
                format!("a table with {}", keys.join(" and "))
            }
            _ => "a table".into(),
        },
        Some(t) => type_word(t).into(),
        None => "another value".into(),
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn type_word(t: &str) -> &str {
    match t {
        "string" => "a string",
        "array" => "a list",
        "object" => "a table",
        "boolean" => "true or false",
        "integer" => "an integer",
        "number" => "a number",
        "null" => "nothing",
        other => other,
    }
}

/// The kind of a value, for "found …".
fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::Null => "nothing",
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(schema: Value, value: Value) -> Vec<String> {
        check(&schema, &value).into_iter().map(|e| format!("{}: {}", e.path, e.message)).collect()
    }

    #[test]
    fn misspelt_keys_get_a_suggestion_and_types_are_named() {
        let schema = json!({
            "type": "object", "required": ["run"], "additionalProperties": false,
            "properties": {
                "run": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"oneOf": [
                    {"type": "string"},
                    {"type": "object", "required": ["emit"], "additionalProperties": false, "properties": {"emit": {"type": "string"}}}
                ]}}]},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "max": {"type": "integer", "minimum": 1}
            }
        });
        assert_eq!(messages(schema.clone(), json!({"run": "make"})), Vec::<String>::new());
        assert_eq!(
            messages(schema.clone(), json!({"rnu": "make"})),
            [": missing key `run`", ".rnu: unknown key `rnu` (did you mean run?)"]
        );
        assert_eq!(
            messages(schema.clone(), json!({"run": ["a", {"emitt": "x"}, 3], "env": {"A": 1}, "max": 0})),
            [
                ".env.A: expected a string, found an integer",
                ".max: must be at least 1, found 0",
                ".run[1]: missing key `emit`",
                ".run[1].emitt: unknown key `emitt` (did you mean emit?)",
                ".run[2]: expected a string or a table with `emit`, found an integer",
            ]
        );
        assert_eq!(
            messages(schema, json!({"run": 1, "zzz": 1})),
            [
                ".run: expected a string or a list, found an integer",
                ".zzz: unknown key `zzz` (expected one of: env, max, run)"
            ]
        );
    }
}
