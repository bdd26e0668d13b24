//! Connect data as JSON, as Kafka Connect's JsonConverter writes it: values as plain JSON
//! (bytes as base64 strings), schemas as `{"type": "struct", "fields": [...], "optional": ...}`,
//! and with `schemas.enable` the envelope `{"schema": ..., "payload": ...}`. Object keys keep
//! their order both ways.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use std::sync::Arc;

use crate::data::{typed, Data, Field, Schema, SchemaType, Value};

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Boolean(b) => serializer.serialize_bool(*b),
            Self::Int(i) => serializer.serialize_i64(*i),
            Self::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            Self::Float(_) => serializer.serialize_unit(),
            Self::String(s) => serializer.serialize_str(s),
            Self::Bytes(b) => serializer.serialize_str(&BASE64.encode(b)),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Map(entries) => {
                // Connect writes maps with non-string keys as a list of [key, value] pairs.
                if entries.iter().all(|(k, _)| matches!(k, Self::String(_))) {
                    let mut map = serializer.serialize_map(Some(entries.len()))?;
                    for (k, v) in entries {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                } else {
                    let mut seq = serializer.serialize_seq(Some(entries.len()))?;
                    for (k, v) in entries {
                        seq.serialize_element(&[k, v])?;
                    }
                    seq.end()
                }
            }
            Self::Struct(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

pub(crate) struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(entry) = map.next_entry::<String, Value>()? {
            fields.push(entry);
        }
        Ok(Value::Struct(without_repeated_keys(fields)))
    }
}

/// An object's fields with each repeated key once, where it first appeared, holding the last
/// value given (as most JSON readers do). Narrow objects are checked pair by pair; wide ones
/// (a table of many columns) by sorting the names, so a row costs n log n, not n².
fn without_repeated_keys(fields: Vec<(String, Value)>) -> Vec<(String, Value)> {
    const PAIRWISE_UP_TO: usize = 16;
    let repeated = if fields.len() <= PAIRWISE_UP_TO {
        fields.iter().enumerate().any(|(i, (name, _))| fields[..i].iter().any(|(earlier, _)| earlier == name))
    } else {
        let mut names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        names.windows(2).any(|pair| pair[0] == pair[1])
    };
    if !repeated {
        return fields;
    }
    let mut kept: Vec<(String, Value)> = Vec::with_capacity(fields.len());
    let mut first_at: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(fields.len());
    for (name, value) in fields {
        match first_at.get(&name) {
            Some(&at) => kept[at].1 = value,
            None => {
                first_at.insert(name.clone(), kept.len());
                kept.push((name, value));
            }
        }
    }
    kept
}

/// `value` as compact JSON text.
pub fn to_json_bytes(value: &Value) -> Vec<u8> {
    // Serialising this enum cannot fail: every variant maps to JSON.
    serde_json::to_vec(value).unwrap_or_default()
}

/// `value` as a `serde_json::Value` (key order becomes serde_json's).
pub fn to_json_value(value: &Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Parses JSON text into a value, keeping key order.
pub fn from_json_bytes(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))
}

/// A schema in the JSON form JsonConverter writes.
pub fn schema_to_value(schema: &Schema) -> Value {
    let mut out = vec![("type".to_string(), Value::String(schema.kind.name().to_string()))];
    match schema.kind {
        SchemaType::Struct => {
            let fields = schema
                .fields
                .iter()
                .map(|f| {
                    let Value::Struct(mut inner) = schema_to_value(&f.schema) else { return Value::Null };
                    inner.push(("field".to_string(), Value::String(f.name.clone())));
                    Value::Struct(inner)
                })
                .collect();
            out.push(("fields".to_string(), Value::Array(fields)));
        }
        SchemaType::Array => {
            if let Some(items) = &schema.items {
                out.push(("items".to_string(), schema_to_value(items)));
            }
        }
        SchemaType::Map => {
            if let Some(keys) = &schema.keys {
                out.push(("keys".to_string(), schema_to_value(keys)));
            }
            if let Some(values) = &schema.items {
                out.push(("values".to_string(), schema_to_value(values)));
            }
        }
        _ => {}
    }
    out.push(("optional".to_string(), Value::Boolean(schema.optional)));
    if let Some(name) = &schema.name {
        out.push(("name".to_string(), Value::String(name.clone())));
    }
    if let Some(version) = schema.version {
        out.push(("version".to_string(), Value::Int(i64::from(version))));
    }
    if let Some(doc) = &schema.doc {
        out.push(("doc".to_string(), Value::String(doc.clone())));
    }
    if !schema.parameters.is_empty() {
        let params = schema.parameters.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        out.push(("parameters".to_string(), Value::Struct(params)));
    }
    if let Some(default) = &schema.default {
        out.push(("default".to_string(), default.clone()));
    }
    Value::Struct(out)
}

/// Reads a schema from its JSON form.
pub fn schema_from_value(value: &Value) -> Result<Schema, String> {
    let Value::Struct(_) = value else { return Err("a schema must be a JSON object".to_string()) };
    let type_name = match value.field("type") {
        Some(Value::String(t)) => t.as_str(),
        _ => return Err("a schema needs a \"type\"".to_string()),
    };
    let kind = SchemaType::from_name(type_name).ok_or_else(|| format!("unknown schema type {type_name:?}"))?;
    let text = |key: &str| match value.field(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let mut schema = Schema::of(kind);
    schema.optional = matches!(value.field("optional"), Some(Value::Boolean(true)));
    schema.name = text("name");
    schema.doc = text("doc");
    schema.version = match value.field("version") {
        Some(Value::Int(v)) => i32::try_from(*v).ok(),
        _ => None,
    };
    if let Some(Value::Struct(params)) = value.field("parameters") {
        schema.parameters = params.iter().map(|(k, v)| (k.clone(), v.to_text())).collect();
    }
    schema.default = value.field("default").filter(|v| !v.is_null()).cloned();
    match kind {
        SchemaType::Struct => {
            let Some(Value::Array(fields)) = value.field("fields") else { return Err("a struct schema needs \"fields\"".to_string()) };
            for field in fields {
                let Some(Value::String(name)) = field.field("field") else { return Err("a struct field needs a \"field\" name".to_string()) };
                schema.fields.push(Field { name: name.clone(), schema: schema_from_value(field)? });
            }
        }
        SchemaType::Array => {
            let items = value.field("items").ok_or("an array schema needs \"items\"")?;
            schema.items = Some(Box::new(schema_from_value(items)?));
        }
        SchemaType::Map => {
            schema.keys = Some(Box::new(schema_from_value(value.field("keys").ok_or("a map schema needs \"keys\"")?)?));
            schema.items = Some(Box::new(schema_from_value(value.field("values").ok_or("a map schema needs \"values\"")?)?));
        }
        _ => {}
    }
    Ok(schema)
}

/// Encodes `data` as JsonConverter does, with or without the schema envelope.
pub(crate) fn encode(data: &Data, schemas: bool) -> Vec<u8> {
    if !schemas {
        return to_json_bytes(&data.value);
    }
    let schema = data.schema.as_deref().map(schema_to_value).unwrap_or(Value::Null);
    to_json_bytes(&Value::Struct(vec![("schema".to_string(), schema), ("payload".to_string(), data.value.clone())]))
}

/// The envelope, with its parts left as text until needed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    schema: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

thread_local! {
    /// Schemas by their JSON text: the records of a topic mostly carry the same one, and
    /// parsing it again for every record is most of a record's decoding.
    static SCHEMAS: std::cell::RefCell<std::collections::HashMap<Box<str>, Option<Arc<Schema>>>> = std::cell::RefCell::new(std::collections::HashMap::new());
    /// The envelope's start (`{"schema":…,"payload":`) as the last few records wrote it (a
    /// key's and a value's, a few topics'), with its schema: a record that starts with the same
    /// bytes needs no scan of its schema at all.
    static PREFIXES: std::cell::RefCell<Vec<KnownPrefix>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The schema written as `text` (`None` for `null`), parsed once per thread.
fn cached_schema(text: &str) -> Result<Option<Arc<Schema>>, String> {
    if let Some(found) = SCHEMAS.with(|cache| cache.borrow().get(text).cloned()) {
        return Ok(found);
    }
    let value = from_json_bytes(text.as_bytes())?;
    let schema = if value.is_null() { None } else { Some(Arc::new(schema_from_value(&value)?)) };
    SCHEMAS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(text.into(), schema.clone());
    });
    Ok(schema)
}

const SCHEMA_KEY: &[u8] = br#"{"schema":"#;
const PAYLOAD_KEY: &[u8] = br#","payload":"#;

/// An envelope's start, through `"payload":`, and the schema it holds.
type KnownPrefix = (Box<[u8]>, Option<Arc<Schema>>);

/// Envelope starts remembered per thread.
const PREFIXES_KEPT: usize = 4;

/// The payload's text and the schema, when `bytes` starts exactly as a recent envelope did
/// (compact, schema first) and ends with its closing brace.
fn same_prefix(bytes: &[u8]) -> Option<(&[u8], Option<Arc<Schema>>)> {
    PREFIXES.with(|prefixes| {
        let prefixes = prefixes.borrow();
        prefixes.iter().find_map(|(prefix, schema)| {
            let payload = bytes.strip_prefix(&prefix[..])?.strip_suffix(b"}")?;
            Some((payload, schema.clone()))
        })
    })
}

/// Remembers an envelope's start, the oldest one giving way.
fn remember_prefix(prefix: Vec<u8>, schema: Option<Arc<Schema>>) {
    PREFIXES.with(|prefixes| {
        let mut prefixes = prefixes.borrow_mut();
        if prefixes.iter().any(|(known, _)| **known == *prefix) {
            return;
        }
        if prefixes.len() >= PREFIXES_KEPT {
            prefixes.pop();
        }
        prefixes.insert(0, (prefix.into_boxed_slice(), schema));
    });
}

/// Decodes JSON text as JsonConverter does. With `schemas`, the text must be the envelope.
pub(crate) fn decode(bytes: &[u8], schemas: bool) -> Result<Data, String> {
    if !schemas {
        return Ok(Data::new(None, from_json_bytes(bytes)?));
    }
    // The payload must still be exactly one JSON value; when it is not, the full parse below
    // says what is wrong.
    if let Some((payload, schema)) = same_prefix(bytes)
        && let Ok(data) = payload_with_schema(payload, schema)
    {
        return Ok(data);
    }
    let envelope: Envelope<'_> = match serde_json::from_slice(bytes) {
        Ok(envelope) => envelope,
        // Not JSON at all: say so; JSON of another shape: say what is expected.
        Err(e) if e.is_syntax() || e.is_eof() => return Err(format!("not valid JSON: {e}")),
        Err(_) => return Err(envelope_error()),
    };
    let schema_text = envelope.schema.get();
    let schema = cached_schema(schema_text)?;
    let prefix = [SCHEMA_KEY, schema_text.as_bytes(), PAYLOAD_KEY].concat();
    if bytes.starts_with(&prefix) {
        remember_prefix(prefix, schema.clone());
    }
    payload_with_schema(envelope.payload.get().as_bytes(), schema)
}

/// The envelope's payload read by its schema: in one pass (`typed`) when it fits, else the
/// long way, parsed then coerced, whose errors say what is wrong.
fn payload_with_schema(payload: &[u8], schema: Option<Arc<Schema>>) -> Result<Data, String> {
    if let Some(schema) = &schema
        && let Some(value) = typed::read(payload, schema)
    {
        return Ok(Data::shared(Some(schema.clone()), value));
    }
    with_schema(from_json_bytes(payload)?, schema)
}

fn with_schema(payload: Value, schema: Option<Arc<Schema>>) -> Result<Data, String> {
    match schema {
        None => Ok(Data::new(None, payload)),
        Some(schema) => {
            let value = coerce(payload, &schema)?;
            Ok(Data::shared(Some(schema), value))
        }
    }
}

fn envelope_error() -> String {
    "with schemas.enable=true, JSON values must be {\"schema\": ..., \"payload\": ...} with no other fields; \
     set value.converter.schemas.enable=false (or key.converter.schemas.enable=false) to read plain JSON"
        .to_string()
}

/// What a JSON null stands for under `schema`: its default, or a null where one is allowed;
/// `None` for a required field without a default.
pub(crate) fn null_for(schema: &Schema) -> Option<Value> {
    (schema.optional || schema.default.is_some()).then(|| schema.default.clone().unwrap_or(Value::Null))
}

/// Reads a payload by its schema: base64 text as bytes, integers as floats where a float is
/// expected, struct fields in the schema's order.
pub(crate) fn coerce(value: Value, schema: &Schema) -> Result<Value, String> {
    if value.is_null() {
        return null_for(schema).ok_or_else(|| format!("null for a required {} field", schema.kind.name()));
    }
    Ok(match (schema.kind, value) {
        (SchemaType::Bytes, Value::String(s)) => Value::Bytes(BASE64.decode(s.as_bytes()).map_err(|e| format!("bytes field is not base64: {e}"))?),
        (SchemaType::Float32 | SchemaType::Float64, Value::Int(i)) => Value::Float(i as f64),
        (kind, v @ Value::Int(_)) if kind.is_integer() => v,
        // Fields already in the schema's order (as most writers put them): kept as they are.
        (SchemaType::Struct, Value::Struct(mut fields))
            if fields.len() == schema.fields.len() && fields.iter().zip(&schema.fields).all(|((name, _), field)| *name == field.name) =>
        {
            for ((name, v), field) in fields.iter_mut().zip(&schema.fields) {
                *v = coerce(std::mem::replace(v, Value::Null), &field.schema).map_err(|e| format!("{name}: {e}"))?;
            }
            Value::Struct(fields)
        }
        (SchemaType::Struct, Value::Struct(mut fields)) => {
            let mut ordered = Vec::with_capacity(schema.fields.len());
            for field in &schema.fields {
                let at = fields.iter().position(|(name, _)| *name == field.name);
                let v = at.map(|i| fields.swap_remove(i).1).unwrap_or(Value::Null);
                ordered.push((field.name.clone(), coerce(v, &field.schema).map_err(|e| format!("{}: {e}", field.name))?));
            }
            Value::Struct(ordered)
        }
        (SchemaType::Array, Value::Array(items)) => match &schema.items {
            Some(item_schema) => Value::Array(items.into_iter().map(|v| coerce(v, item_schema)).collect::<Result<_, _>>()?),
            None => Value::Array(items),
        },
        (SchemaType::Map, Value::Struct(entries)) => Value::Map(entries.into_iter().map(|(k, v)| (Value::String(k), v)).collect()),
        (SchemaType::Map, Value::Array(pairs)) => {
            let mut entries = Vec::with_capacity(pairs.len());
            for pair in pairs {
                match pair {
                    Value::Array(mut kv) if kv.len() == 2 => {
                        let v = kv.pop().unwrap_or(Value::Null);
                        let k = kv.pop().unwrap_or(Value::Null);
                        entries.push((k, v));
                    }
                    _ => return Err("a map with non-string keys must be a list of [key, value] pairs".to_string()),
                }
            }
            Value::Map(entries)
        }
        (SchemaType::String, v @ Value::String(_)) | (SchemaType::Boolean, v @ Value::Boolean(_)) | (SchemaType::Float32 | SchemaType::Float64, v @ Value::Float(_)) => v,
        (kind, other) => return Err(format!("expected {} but found {}", kind.name(), String::from_utf8_lossy(&to_json_bytes(&other)))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_round_trips_with_order_bytes_and_nested_types() {
        let text = br#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"bytes","optional":true,"field":"blob"},{"type":"array","items":{"type":"double","optional":false},"optional":true,"field":"xs"}],"optional":false,"name":"row"},"payload":{"xs":[1,2.5],"id":7,"blob":"AQI="}}"#;
        let data = decode(text, true).expect("envelope");
        assert_eq!(
            data.value,
            Value::Struct(vec![
                ("id".into(), Value::Int(7)),
                ("blob".into(), Value::Bytes(vec![1, 2])),
                ("xs".into(), Value::Array(vec![Value::Float(1.0), Value::Float(2.5)]))
            ])
        );
        let again = decode(&encode(&data, true), true).expect("round trip");
        assert_eq!(again, data);
    }

    #[test]
    fn records_that_repeat_an_envelopes_start_decode_as_the_first_did() {
        let key = |id: i64| format!(r#"{{"schema":{{"type":"int64","optional":false}},"payload":{id}}}"#);
        let value = |id: i64, tail: &str| format!(r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"id"}},{{"type":"string","optional":true,"field":"name"}}],"optional":false}},"payload":{{"id":{id},"name":"n{id}"}}{tail}}}"#);
        let mut schemas = Vec::new();
        for id in 0..3 {
            // Keys and values alternate, as a sink decodes them.
            let k = decode(key(id).as_bytes(), true).expect("key");
            assert_eq!(k.value, Value::Int(id));
            let v = decode(value(id, "").as_bytes(), true).expect("value");
            assert_eq!(v.value, Value::Struct(vec![("id".into(), Value::Int(id)), ("name".into(), Value::String(format!("n{id}")))]));
            schemas.push(v.schema.expect("a schema"));
        }
        assert!(schemas.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "one schema shared by every record");
        // The same start with more after the payload is still refused as the envelope's error.
        let err = decode(value(3, r#","extra":1"#).as_bytes(), true).unwrap_err();
        assert!(err.contains("schemas.enable=false"), "{err}");
        let err = decode(value(4, " 5").as_bytes(), true).unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value_in_narrow_and_wide_objects() {
        let narrow = from_json_bytes(br#"{"a":1,"b":2,"a":3}"#).expect("json");
        assert_eq!(narrow, Value::Struct(vec![("a".into(), Value::Int(3)), ("b".into(), Value::Int(2))]));
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!(r#""c{i}":{i},"#));
        }
        text.push_str(r#""c7":"late","c39":null}"#);
        let Value::Struct(wide) = from_json_bytes(text.as_bytes()).expect("json") else { panic!("an object") };
        assert_eq!(wide.len(), 40);
        assert_eq!(wide[7], ("c7".into(), Value::String("late".into())));
        assert_eq!(wide[39], ("c39".into(), Value::Null));
        assert_eq!(wide[8], ("c8".into(), Value::Int(8)));
        let Value::Struct(distinct) = from_json_bytes(text.replace(r#","c7":"late","c39":null"#, "").as_bytes()).expect("json") else { panic!("an object") };
        assert_eq!(distinct.len(), 40);
    }

    #[test]
    fn plain_json_keeps_key_order() {
        let data = decode(br#"{"z":1,"a":{"y":true,"b":null}}"#, false).expect("json");
        assert_eq!(String::from_utf8_lossy(&encode(&data, false)), r#"{"z":1,"a":{"y":true,"b":null}}"#);
    }

    #[test]
    fn a_missing_envelope_says_which_setting_to_change() {
        let err = decode(br#"{"id": 1}"#, true).unwrap_err();
        assert!(err.contains("schemas.enable=false"), "{err}");
        let err = decode(br#"{"schema":{"type":"int32"},"payload":"x"}"#, true).unwrap_err();
        assert!(err.contains("expected int32"), "{err}");
    }
}
