//! Connect schemas: a type, optional or not, a logical name, and the parts of composite types.

use crate::data::Value;

/// Connect's schema types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    /// The name in JSON schemas (`int32`, `struct`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Float32 => "float",
            Self::Float64 => "double",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Bytes => "bytes",
            Self::Array => "array",
            Self::Map => "map",
            Self::Struct => "struct",
        }
    }

    /// The type named `name` (also accepting `float32`/`float64`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "int8" => Self::Int8,
            "int16" => Self::Int16,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "float" | "float32" => Self::Float32,
            "double" | "float64" => Self::Float64,
            "boolean" => Self::Boolean,
            "string" => Self::String,
            "bytes" => Self::Bytes,
            "array" => Self::Array,
            "map" => Self::Map,
            "struct" => Self::Struct,
            _ => return None,
        })
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Self::Int8 | Self::Int16 | Self::Int32 | Self::Int64)
    }
}

/// A Connect schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub kind: SchemaType,
    pub optional: bool,
    /// A logical type or record name (`org.apache.kafka.connect.data.Timestamp`, `io.debezium…`).
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub default: Option<Value>,
    /// A struct's fields, in order.
    pub fields: Vec<Field>,
    /// An array's element schema, or a map's value schema.
    pub items: Option<Box<Schema>>,
    /// A map's key schema.
    pub keys: Option<Box<Schema>>,
}

/// A named field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub schema: Schema,
}

/// Kafka Connect's logical type names.
pub mod logical {
    pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
    pub const DATE: &str = "org.apache.kafka.connect.data.Date";
    pub const TIME: &str = "org.apache.kafka.connect.data.Time";
    pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
}

impl Schema {
    /// A required schema of a primitive type.
    pub fn of(kind: SchemaType) -> Self {
        Self { kind, optional: false, name: None, version: None, doc: None, parameters: Vec::new(), default: None, fields: Vec::new(), items: None, keys: None }
    }

    /// An optional schema of a primitive type.
    pub fn optional(kind: SchemaType) -> Self {
        Self { optional: true, ..Self::of(kind) }
    }

    /// A struct schema with these fields.
    pub fn structure(name: Option<&str>, fields: Vec<Field>) -> Self {
        Self { name: name.map(str::to_string), fields, ..Self::of(SchemaType::Struct) }
    }

    /// The same schema, optional.
    pub fn into_optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The same schema with a logical name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// A struct field's schema by name.
    pub fn field(&self, name: &str) -> Option<&Schema> {
        self.fields.iter().find(|f| f.name == name).map(|f| &f.schema)
    }

    /// A schema that describes `value` (used when a value without a schema meets a place that
    /// needs one, such as a table to create).
    pub fn infer(value: &Value) -> Self {
        match value {
            Value::Null => Self::optional(SchemaType::String),
            Value::Boolean(_) => Self::optional(SchemaType::Boolean),
            Value::Int(_) => Self::optional(SchemaType::Int64),
            Value::Float(_) => Self::optional(SchemaType::Float64),
            Value::String(_) => Self::optional(SchemaType::String),
            Value::Bytes(_) => Self::optional(SchemaType::Bytes),
            Value::Array(items) => Self { items: Some(Box::new(items.first().map(Self::infer).unwrap_or_else(|| Self::optional(SchemaType::String)))), ..Self::optional(SchemaType::Array) },
            Value::Map(_) => Self::optional(SchemaType::Map),
            Value::Struct(fields) => Self {
                fields: fields.iter().map(|(name, v)| Field { name: name.clone(), schema: Self::infer(v) }).collect(),
                ..Self::optional(SchemaType::Struct)
            },
        }
    }
}
