//! Debezium's ExtractNewRecordState (`extract-new-record-state`): from a change event
//! `{before, after, source, op, ts_ms}` keep the new row state, so a sink sees rows, not
//! envelopes. Creates, updates and snapshot reads become `after`; deletes become tombstones
//! (`delete.tombstone.handling.mode=tombstone`, Debezium's default since 2.5; `drop` drops
//! them, `rewrite` keeps the old row with `__deleted=true`); truncate events are dropped.
//! `add.fields=op,table,lsn,source.ts_ms` copies envelope fields into the row as `__op`, ...

use crate::data::{Data, Field, Schema, SchemaType, Value};
use crate::error::{ConnectError, Result};
use crate::record::Record;
use crate::transforms::{Position, Settings, Transform};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeleteMode {
    Tombstone,
    Drop,
    Rewrite,
}

#[derive(Debug)]
pub struct ExtractNewRecordState {
    deletes: DeleteMode,
    add_fields: Vec<String>,
}

impl ExtractNewRecordState {
    pub fn new(settings: &Settings) -> Result<Self> {
        let mode = settings.get("delete.tombstone.handling.mode").or_else(|| match settings.get("delete.handling.mode") {
            Some("none") => Some("tombstone"),
            other => other,
        });
        let deletes = match mode {
            None | Some("tombstone") => DeleteMode::Tombstone,
            Some("drop") => DeleteMode::Drop,
            Some("rewrite") => DeleteMode::Rewrite,
            Some(other) => return Err(ConnectError::Config(format!("transforms.{}.delete.tombstone.handling.mode {other:?}: use tombstone, drop or rewrite", settings.name))),
        };
        Ok(Self { deletes, add_fields: settings.list("add.fields") })
    }

    fn envelope_field(value: &Value, path: &str) -> Value {
        match path.split_once('.') {
            Some(("source", rest)) => value.field("source").and_then(|s| s.field(rest)).cloned().unwrap_or(Value::Null),
            _ => value.field(path).or_else(|| value.field("source").and_then(|s| s.field(path))).cloned().unwrap_or(Value::Null),
        }
    }
}

impl Transform for ExtractNewRecordState {
    fn apply(&self, mut record: Record, _: Position) -> Result<Option<Record>, String> {
        if record.value.is_null() {
            return Ok(Some(record));
        }
        let envelope = record.value.value.clone();
        let Some(Value::String(op)) = envelope.field("op") else {
            return Err("the value is not a change event: it has no \"op\" field (is this a CDC topic?)".to_string());
        };
        let (state_field, deleted) = match op.as_str() {
            "c" | "u" | "r" => ("after", false),
            "d" => match self.deletes {
                DeleteMode::Drop => return Ok(None),
                DeleteMode::Tombstone => {
                    record.value = Data::NULL;
                    return Ok(Some(record));
                }
                DeleteMode::Rewrite => ("before", true),
            },
            "t" => return Ok(None),
            other => return Err(format!("unknown change event op {other:?}")),
        };
        let state = envelope.field(state_field).cloned().unwrap_or(Value::Null);
        let Value::Struct(mut fields) = state else {
            return Err(format!("the change event's {state_field} is not a row"));
        };
        let mut schema = record.value.schema.as_ref().and_then(|s| s.field(state_field).cloned());
        let mut add = |name: String, value: Value, field_schema: Schema| {
            fields.push((name.clone(), value));
            if let Some(s) = schema.as_mut() {
                s.fields.push(Field { name, schema: field_schema });
            }
        };
        for path in &self.add_fields {
            let name = format!("__{}", path.replace('.', "_"));
            let value = Self::envelope_field(&envelope, path);
            let field_schema = match &value {
                Value::Int(_) => Schema::optional(SchemaType::Int64),
                Value::Boolean(_) => Schema::optional(SchemaType::Boolean),
                _ => Schema::optional(SchemaType::String),
            };
            add(name, value, field_schema);
        }
        if deleted {
            add("__deleted".to_string(), Value::String("true".to_string()), Schema::optional(SchemaType::String));
        }
        record.value = Data::new(schema, Value::Struct(fields));
        Ok(Some(record))
    }
}
