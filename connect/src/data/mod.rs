//! Kafka Connect's data model: a value with an optional schema. Schemas have Connect's types
//! (`int8`…`int64`, `float32`/`float64`, `boolean`, `string`, `bytes`, `array`, `map`,
//! `struct`) and may carry a logical name (`org.apache.kafka.connect.data.Timestamp`, …).
//! Structs keep their fields in order, so a table's columns or a JSON object's keys come out
//! as they went in.

pub(crate) mod json;
mod schema;
pub mod time;
mod typed;

pub use json::{from_json_bytes, schema_from_value, schema_to_value, to_json_bytes, to_json_value};
pub use schema::{Field, Schema, SchemaType, logical};

use std::sync::Arc;

/// A value in Connect's model.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    /// A map whose keys are not all strings (a schema'd Connect map).
    Map(Vec<(Value, Value)>),
    /// A struct, or a JSON object: named fields in order.
    Struct(Vec<(String, Value)>),
}

impl Value {
    /// A struct field (or object key) by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Self::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as text, as Kafka's StringConverter writes it (strings as they are, other
    /// values as JSON).
    pub fn to_text(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            Self::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => String::from_utf8_lossy(&to_json_bytes(other)).into_owned(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

/// A value with the schema it was written with, if any (schemaless JSON has none). The schema
/// is shared: the records of a topic mostly carry the same one, and a transform that changes
/// it copies it first (`Arc::make_mut`).
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub schema: Option<Arc<Schema>>,
    pub value: Value,
}

impl Data {
    /// A null without a schema (a record without a key, or a tombstone's value).
    pub const NULL: Data = Data { schema: None, value: Value::Null };

    pub fn new(schema: Option<Schema>, value: Value) -> Self {
        Self { schema: schema.map(Arc::new), value }
    }

    /// A value with a schema already shared by other records.
    pub fn shared(schema: Option<Arc<Schema>>, value: Value) -> Self {
        Self { schema, value }
    }

    /// A string with Connect's string schema.
    pub fn string(s: impl Into<String>) -> Self {
        Self::new(Some(Schema::of(SchemaType::String)), Value::String(s.into()))
    }

    /// Bytes with Connect's bytes schema.
    pub fn bytes(b: Vec<u8>) -> Self {
        Self::new(Some(Schema::of(SchemaType::Bytes)), Value::Bytes(b))
    }

    pub fn is_null(&self) -> bool {
        self.value.is_null()
    }
}
