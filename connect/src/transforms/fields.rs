//! Transforms that add, keep, drop, rename, mask and move fields of a struct (or JSON object)
//! key or value: InsertField, ReplaceField, MaskField, ValueToKey, ExtractField, Drop. Nulls
//! (tombstones) pass through them unchanged, as in Kafka Connect.

use crate::data::{Data, Field, Schema, SchemaType, Value, logical};
use crate::error::Result;
use crate::record::Record;
use crate::transforms::{Position, Settings, Target, Transform};

/// What a value is, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::String(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        Value::Struct(_) => "a struct",
    }
}

/// Runs `f` on the struct fields of `data` (and its struct schema, when it has one); a null
/// passes untouched.
fn with_struct(data: &mut Data, what: &str, f: impl FnOnce(&mut Vec<(String, Value)>, Option<&mut Schema>) -> Result<(), String>) -> Result<(), String> {
    match &mut data.value {
        Value::Null => Ok(()),
        Value::Struct(fields) => f(fields, data.schema.as_mut().filter(|s| s.kind == SchemaType::Struct).map(std::sync::Arc::make_mut)),
        other => Err(format!("{what} needs a struct or JSON object, but the record has {}", kind_of(other))),
    }
}

/// A field name as Kafka writes it, without the `!` (required) or `?` (optional) suffix.
fn field_name(spec: &str) -> (String, bool) {
    match spec.strip_suffix('!') {
        Some(name) => (name.to_string(), false),
        None => (spec.trim_end_matches('?').to_string(), true),
    }
}

/// InsertField: record metadata or a constant as new fields.
#[derive(Debug)]
pub struct InsertField {
    target: Target,
    topic: Option<(String, bool)>,
    partition: Option<(String, bool)>,
    offset: Option<(String, bool)>,
    timestamp: Option<(String, bool)>,
    fixed: Option<((String, bool), String)>,
}

impl InsertField {
    pub fn new(settings: &Settings, target: Target) -> Result<Self> {
        let field = |key: &str| settings.get(key).filter(|v| !v.is_empty()).map(field_name);
        let fixed = match (field("static.field"), settings.get("static.value")) {
            (Some(f), Some(v)) => Some((f, v.to_string())),
            (Some(_), None) => return Err(crate::error::ConnectError::Config(format!("transforms.{}.static.field needs static.value", settings.name))),
            _ => None,
        };
        let insert = Self { target, topic: field("topic.field"), partition: field("partition.field"), offset: field("offset.field"), timestamp: field("timestamp.field"), fixed };
        if insert.topic.is_none() && insert.partition.is_none() && insert.offset.is_none() && insert.timestamp.is_none() && insert.fixed.is_none() {
            return Err(crate::error::ConnectError::Config(format!(
                "transforms.{} inserts nothing: set topic.field, partition.field, offset.field, timestamp.field or static.field",
                settings.name
            )));
        }
        Ok(insert)
    }
}

impl Transform for InsertField {
    fn apply(&self, mut record: Record, position: Position) -> Result<Option<Record>, String> {
        let mut additions: Vec<(&(String, bool), Value, Schema)> = Vec::new();
        if let Some(f) = &self.topic {
            additions.push((f, Value::String(record.topic.clone()), Schema::of(SchemaType::String)));
        }
        if let Some(f) = &self.partition {
            additions.push((f, record.partition.map_or(Value::Null, |p| Value::Int(i64::from(p))), Schema::of(SchemaType::Int32)));
        }
        if let Some(f) = &self.offset {
            additions.push((f, position.offset.map_or(Value::Null, Value::Int), Schema::of(SchemaType::Int64)));
        }
        if let Some(f) = &self.timestamp {
            additions.push((f, record.timestamp.map_or(Value::Null, Value::Int), Schema::of(SchemaType::Int64).named(logical::TIMESTAMP)));
        }
        if let Some((f, v)) = &self.fixed {
            additions.push((f, Value::String(v.clone()), Schema::of(SchemaType::String)));
        }
        with_struct(self.target.data(&mut record), "insert-field", |fields, mut schema| {
            for ((name, optional), value, field_schema) in additions {
                if value.is_null() && !optional {
                    return Err(format!("{name} is required but the record has none"));
                }
                fields.retain(|(n, _)| n != name);
                fields.push((name.clone(), value));
                if let Some(schema) = schema.as_deref_mut() {
                    schema.fields.retain(|f| f.name != *name);
                    let field_schema = if *optional { field_schema.into_optional() } else { field_schema };
                    schema.fields.push(Field { name: name.clone(), schema: field_schema });
                }
            }
            Ok(())
        })?;
        Ok(Some(record))
    }
}

/// ReplaceField: include / exclude fields, rename them.
#[derive(Debug)]
pub struct ReplaceField {
    target: Target,
    include: Vec<String>,
    exclude: Vec<String>,
    renames: Vec<(String, String)>,
}

impl ReplaceField {
    pub fn new(settings: &Settings, target: Target) -> Result<Self> {
        let mut include = settings.list("include");
        include.extend(settings.list("whitelist"));
        let mut exclude = settings.list("exclude");
        exclude.extend(settings.list("blacklist"));
        let mut renames = Vec::new();
        for pair in settings.list("renames") {
            let (from, to) = pair
                .split_once(':')
                .ok_or_else(|| crate::error::ConnectError::Config(format!("transforms.{}.renames: {pair:?} is not old:new", settings.name)))?;
            renames.push((from.trim().to_string(), to.trim().to_string()));
        }
        Ok(Self { target, include, exclude, renames })
    }

    fn keeps(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name) && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.iter().find(|(from, _)| from == name).map_or(name, |(_, to)| to.as_str())
    }
}

impl Transform for ReplaceField {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        with_struct(self.target.data(&mut record), "replace-field", |fields, schema| {
            fields.retain(|(n, _)| self.keeps(n));
            for (n, _) in fields.iter_mut() {
                *n = self.renamed(n).to_string();
            }
            if let Some(schema) = schema {
                schema.fields.retain(|f| self.keeps(&f.name));
                for f in &mut schema.fields {
                    f.name = self.renamed(&f.name).to_string();
                }
            }
            Ok(())
        })?;
        Ok(Some(record))
    }
}

/// MaskField: fields' values replaced by the empty value of their type, or `replacement`.
#[derive(Debug)]
pub struct MaskField {
    target: Target,
    fields: Vec<String>,
    replacement: Option<String>,
}

impl MaskField {
    pub fn new(settings: &Settings, target: Target) -> Result<Self> {
        let fields = settings.list("fields");
        if fields.is_empty() {
            return Err(crate::error::ConnectError::Config(format!("transforms.{}.fields names no field to mask", settings.name)));
        }
        Ok(Self { target, fields, replacement: settings.get("replacement").map(str::to_string) })
    }

    fn mask(&self, value: &Value) -> Result<Value, String> {
        Ok(match (value, &self.replacement) {
            (Value::Null, _) => Value::Null,
            (Value::String(_), Some(r)) => Value::String(r.clone()),
            (Value::String(_), None) => Value::String(String::new()),
            (Value::Int(_), Some(r)) => Value::Int(r.parse().map_err(|_| format!("replacement {r:?} is not an integer for an integer field"))?),
            (Value::Int(_), None) => Value::Int(0),
            (Value::Float(_), Some(r)) => Value::Float(r.parse().map_err(|_| format!("replacement {r:?} is not a number for a number field"))?),
            (Value::Float(_), None) => Value::Float(0.0),
            (Value::Boolean(_), _) => Value::Boolean(false),
            (Value::Bytes(_), _) => Value::Bytes(Vec::new()),
            (Value::Array(_), _) => Value::Array(Vec::new()),
            (Value::Map(_), _) => Value::Map(Vec::new()),
            (Value::Struct(_), _) => return Err("cannot mask a struct field; mask its fields".to_string()),
        })
    }
}

impl Transform for MaskField {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        with_struct(self.target.data(&mut record), "mask-field", |fields, _| {
            for (name, value) in fields.iter_mut() {
                if self.fields.contains(name) {
                    *value = self.mask(value).map_err(|e| format!("{name}: {e}"))?;
                }
            }
            Ok(())
        })?;
        Ok(Some(record))
    }
}

/// ValueToKey: the key becomes a struct of some of the value's fields.
#[derive(Debug)]
pub struct ValueToKey {
    fields: Vec<String>,
}

impl ValueToKey {
    pub fn new(settings: &Settings) -> Result<Self> {
        let fields = settings.list("fields");
        if fields.is_empty() {
            return Err(crate::error::ConnectError::Config(format!("transforms.{}.fields names no field for the key", settings.name)));
        }
        Ok(Self { fields })
    }
}

impl Transform for ValueToKey {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        if record.value.is_null() {
            return Ok(Some(record));
        }
        let mut key_fields = Vec::with_capacity(self.fields.len());
        let mut key_schema = record.value.schema.as_ref().map(|_| Schema::structure(None, Vec::new()));
        for name in &self.fields {
            let value = record.value.value.field(name).cloned().ok_or_else(|| format!("the value has no field {name}"))?;
            key_fields.push((name.clone(), value));
            if let (Some(key_schema), Some(value_schema)) = (key_schema.as_mut(), record.value.schema.as_ref()) {
                let field_schema = value_schema.field(name).cloned().ok_or_else(|| format!("the value's schema has no field {name}"))?;
                key_schema.fields.push(Field { name: name.clone(), schema: field_schema });
            }
        }
        record.key = Data::new(key_schema, Value::Struct(key_fields));
        Ok(Some(record))
    }
}

/// ExtractField: the key or value replaced by one of its fields.
#[derive(Debug)]
pub struct ExtractField {
    target: Target,
    field: String,
}

impl ExtractField {
    pub fn new(settings: &Settings, target: Target) -> Result<Self> {
        Ok(Self { target, field: settings.require("field")?.to_string() })
    }
}

impl Transform for ExtractField {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        let data = self.target.data(&mut record);
        if data.is_null() {
            return Ok(Some(record));
        }
        let Value::Struct(_) = &data.value else {
            return Err(format!("extract-field needs a struct or JSON object, but the record has {}", kind_of(&data.value)));
        };
        let value = data.value.field(&self.field).cloned().unwrap_or(Value::Null);
        let schema = data.schema.as_ref().and_then(|s| s.field(&self.field).cloned());
        *data = Data::new(schema, value);
        Ok(Some(record))
    }
}

/// Drop: the key or value set to null.
#[derive(Debug)]
pub struct Drop {
    pub target: Target,
}

impl Transform for Drop {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        *self.target.data(&mut record) = Data::NULL;
        Ok(Some(record))
    }
}
