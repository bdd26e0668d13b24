//! Helpers for JSON record values: parse, reach a field by a dotted path, rewrite every
//! string in place, and write back.

pub use serde_json::{self, Value};

/// The value of `record` as JSON; an error says why it is not.
pub fn parse(value: Option<&[u8]>) -> Result<Value, String> {
    let bytes = value.ok_or("the record has no value (a tombstone), not JSON")?;
    serde_json::from_slice(bytes).map_err(|e| format!("the value is not JSON: {e}"))
}

/// The JSON text of `value`.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The field at `path` (`a.b.c`; array elements by index, `items.0.name`), if present.
pub fn field<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Calls `rewrite` on every string in `value` (object values and array elements, at any
/// depth; not object keys) and replaces those it returns a new text for. Returns how many
/// strings changed.
pub fn rewrite_strings(value: &mut Value, rewrite: &mut impl FnMut(&str) -> Option<String>) -> usize {
    match value {
        Value::String(s) => match rewrite(s) {
            Some(new) if new != *s => {
                *s = new;
                1
            }
            _ => 0,
        },
        Value::Array(items) => items.iter_mut().map(|v| rewrite_strings(v, rewrite)).sum(),
        Value::Object(map) => map.values_mut().map(|v| rewrite_strings(v, rewrite)).sum(),
        _ => 0,
    }
}
