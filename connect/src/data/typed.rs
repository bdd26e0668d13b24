//! A JSON payload read straight into the values its schema describes, in one pass: struct
//! fields land in the schema's order as they are parsed, integers become floats where a float
//! is expected, base64 text becomes bytes. The result is exactly what parsing the payload and
//! then coercing it to the schema gives (`json::coerce`), without building the parsed value
//! first or looking every field up again.
//!
//! Anything this pass refuses is read again the long way by the caller, whose error says
//! precisely what is wrong: this module only has to be right about what it accepts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::data::json::{coerce, null_for, ValueVisitor};
use crate::data::{Schema, SchemaType, Value};

/// The payload `bytes` read by `schema`; `None` when it does not fit (the caller reports why).
pub(crate) fn read(bytes: &[u8], schema: &Schema) -> Option<Value> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = Typed(schema).deserialize(&mut reader).ok()?;
    reader.end().ok()?;
    Some(value)
}

/// A value read by its schema.
#[derive(Clone, Copy)]
struct Typed<'s>(&'s Schema);

impl<'de> DeserializeSeed<'de> for Typed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        // Maps, and arrays without an item schema, are rare in rows and read with their own
        // rules: parsed as they are, then coerced.
        if self.0.kind == SchemaType::Map || (self.0.kind == SchemaType::Array && self.0.items.is_none()) {
            let parsed = deserializer.deserialize_any(ValueVisitor)?;
            return coerce(parsed, self.0).map_err(D::Error::custom);
        }
        deserializer.deserialize_any(self)
    }
}

fn mismatch<E: serde::de::Error>(schema: &Schema) -> E {
    E::custom(format!("not a {}", schema.kind.name()))
}

impl<'de> Visitor<'de> for Typed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} value", self.0.kind.name())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        null_for(self.0).ok_or_else(|| E::custom("a null for a required field"))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        match self.0.kind {
            SchemaType::Boolean => Ok(Value::Boolean(v)),
            _ => Err(mismatch(self.0)),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        match self.0.kind {
            kind if kind.is_integer() => Ok(Value::Int(v)),
            SchemaType::Float32 | SchemaType::Float64 => Ok(Value::Float(v as f64)),
            _ => Err(mismatch(self.0)),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        match (self.0.kind, i64::try_from(v)) {
            (kind, Ok(v)) if kind.is_integer() => Ok(Value::Int(v)),
            (SchemaType::Float32 | SchemaType::Float64, _) => Ok(Value::Float(v as f64)),
            _ => Err(mismatch(self.0)),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        match self.0.kind {
            SchemaType::Float32 | SchemaType::Float64 => Ok(Value::Float(v)),
            _ => Err(mismatch(self.0)),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        match self.0.kind {
            SchemaType::String => Ok(Value::String(v.to_string())),
            SchemaType::Bytes => BASE64.decode(v.as_bytes()).map(Value::Bytes).map_err(E::custom),
            _ => Err(mismatch(self.0)),
        }
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        match self.0.kind {
            SchemaType::String => Ok(Value::String(v)),
            _ => self.visit_str(&v),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let (SchemaType::Array, Some(items)) = (self.0.kind, self.0.items.as_deref()) else {
            return Err(mismatch(self.0));
        };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(Typed(items))? {
            out.push(item);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.0.kind != SchemaType::Struct {
            return Err(mismatch(self.0));
        }
        let fields = &self.0.fields;
        // Keys usually come in the schema's order: values are pushed as they come while they
        // do; the first key out of order moves them into one slot per field.
        let mut in_order: Vec<(String, Value)> = Vec::with_capacity(fields.len());
        let mut slots: Option<Vec<Option<Value>>> = None;
        while let Some(at) = map.next_key_seed(FieldIndex { schema: self.0, expected: in_order.len() })? {
            let Some(i) = at else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value = map.next_value_seed(Typed(&fields[i].schema))?;
            match &mut slots {
                None if i == in_order.len() => in_order.push((fields[i].name.clone(), value)),
                None => {
                    let mut all: Vec<Option<Value>> = in_order.drain(..).map(|(_, v)| Some(v)).collect();
                    all.resize(fields.len(), None);
                    // A repeated key: its last value counts, as with any JSON object here.
                    all[i] = Some(value);
                    slots = Some(all);
                }
                Some(all) => all[i] = Some(value),
            }
        }
        let Some(slots) = slots else {
            // Fields missing at the end take their defaults.
            for field in &fields[in_order.len()..] {
                let value = null_for(&field.schema).ok_or_else(|| A::Error::custom("a required field is missing"))?;
                in_order.push((field.name.clone(), value));
            }
            return Ok(Value::Struct(in_order));
        };
        let mut out = Vec::with_capacity(fields.len());
        for (field, slot) in fields.iter().zip(slots) {
            let value = match slot {
                Some(value) => value,
                None => null_for(&field.schema).ok_or_else(|| A::Error::custom("a required field is missing"))?,
            };
            out.push((field.name.clone(), value));
        }
        Ok(Value::Struct(out))
    }
}

/// Which of a struct's fields a key names (`None`: not one of them), found without copying
/// the key.
struct FieldIndex<'s> {
    schema: &'s Schema,
    expected: usize,
}

impl FieldIndex<'_> {
    fn find(&self, name: &str) -> Option<usize> {
        let fields = &self.schema.fields;
        if fields.get(self.expected).is_some_and(|f| f.name == name) {
            return Some(self.expected);
        }
        fields.iter().position(|f| f.name == name)
    }
}

impl<'de> DeserializeSeed<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.find(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::from_json_bytes;
    use crate::data::json::schema_from_value;

    fn schema(text: &str) -> Schema {
        schema_from_value(&from_json_bytes(text.as_bytes()).expect("schema json")).expect("schema")
    }

    /// What parsing and then coercing gives, for comparison.
    fn the_long_way(payload: &str, schema: &Schema) -> Result<Value, String> {
        coerce(from_json_bytes(payload.as_bytes())?, schema)
    }

    #[test]
    fn accepted_payloads_read_as_parsing_then_coercing_does() {
        let row = schema(
            r#"{"type":"struct","fields":[
                {"field":"id","type":"int64","optional":false},
                {"field":"score","type":"double","optional":true},
                {"field":"blob","type":"bytes","optional":true},
                {"field":"tags","type":"array","items":{"type":"string","optional":false},"optional":true},
                {"field":"attrs","type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":true},
                {"field":"inner","type":"struct","fields":[{"field":"ok","type":"boolean","optional":false}],"optional":true},
                {"field":"level","type":"string","optional":false,"default":"info"}
            ],"optional":false}"#,
        );
        for payload in [
            r#"{"id":1,"score":2,"blob":"AQI=","tags":["a","b"],"attrs":{"x":1},"inner":{"ok":true},"level":"warn"}"#,
            // Out of order, missing optional fields, an unknown field, a null taking the default.
            r#"{"level":null,"extra":[1,{"deep":true}],"id":2}"#,
            // A repeated key: the last value counts.
            r#"{"id":3,"score":1.5,"id":4}"#,
            r#"{"id":18446744073709551615}"#,
            r#"{"id":5,"score":18446744073709551615,"tags":null,"inner":null}"#,
        ] {
            assert_eq!(read(payload.as_bytes(), &row).ok_or("refused"), the_long_way(payload, &row).map_err(|_| "refused"), "{payload}");
        }
    }

    #[test]
    fn what_coercing_refuses_is_refused() {
        let row = schema(r#"{"type":"struct","fields":[{"field":"id","type":"int32","optional":false},{"field":"b","type":"bytes","optional":true}],"optional":false}"#);
        for payload in [r#"{"b":"AQI="}"#, r#"{"id":null}"#, r#"{"id":"7"}"#, r#"{"id":1.5}"#, r#"{"id":1,"b":"not base64!"}"#, r#"[1]"#, r#"{"id":1} 2"#, r#"{"id":1"#] {
            assert_eq!(read(payload.as_bytes(), &row), None, "{payload}");
            assert!(the_long_way(payload, &row).is_err(), "{payload}");
        }
    }
}
