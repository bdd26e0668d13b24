//! Debezium's ExtractNewRecordState (`extract-new-record-state`): from a change event
//! `{before, after, source, op, ts_ms}` keep the new row state, so a sink sees rows, not
//! envelopes. Creates, updates and snapshot reads become `after`; deletes become tombstones
//! (`delete.tombstone.handling.mode=tombstone`, Debezium's default since 2.5; `drop` drops
//! them, `rewrite` keeps the old row with `__deleted=true`); truncate events are dropped.
//! `add.fields=op,table,lsn,source.ts_ms` copies envelope fields into the row as `__op`, ...

use std::sync::{Arc, Mutex};

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
    last_schema: Mutex<Option<RowSchema>>,
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
        Ok(Self { deletes, add_fields: settings.list("add.fields"), last_schema: Mutex::new(None) })
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
        let op = match record.value.value.field("op") {
            Some(Value::String(op)) => op.as_str(),
            _ => return Err("the value is not a change event: it has no \"op\" field (is this a CDC topic?)".to_string()),
        };
        let (state_field, deleted) = match op {
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
        // The envelope's fields to copy, read before the state is moved out of it.
        let added: Vec<(String, Value)> = self.add_fields.iter().map(|path| (format!("__{}", path.replace('.', "_")), Self::envelope_field(&record.value.value, path))).collect();
        let Value::Struct(envelope) = &mut record.value.value else {
            return Err(format!("the change event's {state_field} is not a row"));
        };
        let state = envelope.iter().position(|(name, _)| name == state_field).map(|at| envelope.swap_remove(at).1).unwrap_or(Value::Null);
        let Value::Struct(mut fields) = state else {
            return Err(format!("the change event's {state_field} is not a row"));
        };
        let schema = record.value.schema.as_ref().and_then(|envelope_schema| self.row_schema(envelope_schema, state_field, deleted, &added));
        fields.extend(added);
        if deleted {
            fields.push(("__deleted".to_string(), Value::String("true".to_string())));
        }
        record.value = Data::shared(schema, Value::Struct(fields));
        Ok(Some(record))
    }
}

/// The schema type of a copied envelope field.
fn added_kind(value: &Value) -> SchemaType {
    match value {
        Value::Int(_) => SchemaType::Int64,
        Value::Boolean(_) => SchemaType::Boolean,
        _ => SchemaType::String,
    }
}

/// The row schema last made, and what it was made from: records of one table share their
/// envelope's schema, so theirs is made once, not copied per record.
#[derive(Debug)]
struct RowSchema {
    envelope: Arc<Schema>,
    state_field: &'static str,
    deleted: bool,
    kinds: Vec<SchemaType>,
    row: Arc<Schema>,
}

impl ExtractNewRecordState {
    /// The schema of the row taken from `state_field` of events with `envelope`'s schema, with
    /// the copied fields (typed by their values) and `__deleted` when rewritten.
    fn row_schema(&self, envelope: &Arc<Schema>, state_field: &'static str, deleted: bool, added: &[(String, Value)]) -> Option<Arc<Schema>> {
        let kinds = || added.iter().map(|(_, value)| added_kind(value));
        let mut last = self.last_schema.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(made) = last.as_ref().filter(|m| Arc::ptr_eq(&m.envelope, envelope) && m.state_field == state_field && m.deleted == deleted && m.kinds.iter().copied().eq(kinds())) {
            return Some(made.row.clone());
        }
        let kinds: Vec<SchemaType> = kinds().collect();
        let mut row = envelope.field(state_field)?.clone();
        for ((name, _), kind) in added.iter().zip(&kinds) {
            row.fields.push(Field { name: name.clone(), schema: Schema::optional(*kind) });
        }
        if deleted {
            row.fields.push(Field { name: "__deleted".to_string(), schema: Schema::optional(SchemaType::String) });
        }
        let row = Arc::new(row);
        *last = Some(RowSchema { envelope: envelope.clone(), state_field, deleted, kinds, row: row.clone() });
        Some(row)
    }
}

