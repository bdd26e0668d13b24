//! A record as a table row: its table (`table.name.format`), its values by column (the
//! value's fields; with `pk.mode=record_key`, the key's too), and whether it deletes (a
//! tombstone with `delete.enabled`). What the rows of one topic share — the table, the
//! columns' names and schemas, the primary key — is worked out once per topic and schema and
//! shared by every row of that shape.

use std::sync::Arc;

use crate::connectors::postgres::TableName;
use crate::data::{Data, Schema, SchemaType, Value};
use crate::record::{Record, SinkRecord};
use crate::transforms::fields::kind_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    None,
    RecordKey,
    RecordValue,
}

/// The columns a row writes, with their schemas (given by the record, or inferred from the
/// first row of this shape), and which of them make the primary key.
#[derive(Debug, PartialEq)]
pub struct Shape {
    pub columns: Vec<(String, Schema)>,
    pub pk: Vec<String>,
}

impl Shape {
    /// The columns' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(name, _)| name.as_str())
    }

    /// Whether rows of these two shapes write the same columns (one statement can take both;
    /// each row's values are written by its own shape's schemas).
    pub fn same_columns(a: &Arc<Shape>, b: &Arc<Shape>) -> bool {
        Arc::ptr_eq(a, b) || a.names().eq(b.names())
    }
}

/// One row to write or delete.
#[derive(Debug, Clone)]
pub struct Row {
    pub table: Arc<TableName>,
    pub shape: Arc<Shape>,
    /// One value per column of the shape, in its order, with the name the record gave it (the
    /// record's own string, kept rather than dropped and copied).
    pub cells: Vec<(String, Value)>,
    pub delete: bool,
}

impl Row {
    /// Whether `other` can go in the same statement (same table, operation and columns).
    pub fn same_statement(&self, other: &Row) -> bool {
        // `Arc`'s equality compares pointers first.
        self.delete == other.delete && self.table == other.table && Shape::same_columns(&self.shape, &other.shape)
    }

    /// The primary key's values as text (to find repeats of a key in one batch).
    pub fn key_text(&self) -> Vec<Option<String>> {
        self.shape
            .pk
            .iter()
            .map(|k| {
                let at = self.shape.columns.iter().position(|(n, _)| n == k)?;
                crate::connectors::postgres::text::value_to_text(&self.cells.get(at)?.1, Some(&self.shape.columns[at].1)).ok().flatten()
            })
            .collect()
    }
}

/// How records become rows.
#[derive(Debug, Clone)]
pub struct RowBuilder {
    pub table_format: String,
    pub upsert: bool,
    pub pk_mode: PkMode,
    pub pk_fields: Vec<String>,
    pub delete_enabled: bool,
    /// The table and shape of the last row built, and what they were worked out from.
    last: Option<Last>,
}

#[derive(Debug, Clone)]
struct Last {
    topic: String,
    table: Arc<TableName>,
    key_schema: Option<Arc<Schema>>,
    value_schema: Option<Arc<Schema>>,
    delete: bool,
    shape: Arc<Shape>,
}

/// The named fields of a struct (or JSON object), taken out of it.
fn fields_of(value: Value, what: &str) -> Result<Vec<(String, Value)>, String> {
    match value {
        Value::Struct(fields) => Ok(fields),
        other => Err(format!("the record's {what} must be a struct or JSON object to become a row, but it is {}", kind_of(&other))),
    }
}

fn same_schema(a: Option<&Arc<Schema>>, b: Option<&Arc<Schema>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

impl RowBuilder {
    pub fn new(table_format: String, upsert: bool, pk_mode: PkMode, pk_fields: Vec<String>, delete_enabled: bool) -> Self {
        Self { table_format, upsert, pk_mode, pk_fields, delete_enabled, last: None }
    }

    /// The row for `record`; `None` for a tombstone that deletes nothing. An error names the
    /// record's place in its topic.
    pub fn row(&mut self, record: SinkRecord) -> Result<Option<Row>, String> {
        let (partition, offset) = (record.partition, record.offset);
        let Record { topic, key, value, .. } = record.record;
        self.build(&topic, key, value).map_err(|e| format!("record at {topic}-{partition} offset {offset}: {e}"))
    }

    fn build(&mut self, topic: &str, key: Data, value: Data) -> Result<Option<Row>, String> {
        let key_schema = key.schema.clone();
        let mut columns = match self.pk_mode {
            PkMode::RecordKey => self.key_columns(key)?,
            _ => Vec::new(),
        };
        let key_count = columns.len();
        let delete = value.is_null();
        if delete && !self.delete_enabled {
            return Ok(None);
        }
        let value_schema = value.schema.clone();
        if !delete {
            let fields = fields_of(value.value, "value")?;
            if key_count == 0 {
                // No key columns: the value's fields are the row's, as they are.
                columns = fields;
            } else {
                for field in fields {
                    if !columns[..key_count].iter().any(|(n, _)| *n == field.0) {
                        columns.push(field);
                    }
                }
            }
        }
        let (table, shape) = match &self.last {
            Some(last)
                if last.delete == delete
                    && last.topic == topic
                    && same_schema(last.key_schema.as_ref(), key_schema.as_ref())
                    && same_schema(last.value_schema.as_ref(), value_schema.as_ref())
                    && last.shape.names().eq(columns.iter().map(|c| c.0.as_str())) =>
            {
                (last.table.clone(), last.shape.clone())
            }
            _ => {
                let table = match &self.last {
                    Some(last) if last.topic == topic => last.table.clone(),
                    _ => Arc::new(TableName::parse(&self.table_format.replace("${topic}", topic))),
                };
                let shape = Arc::new(self.shape(&columns, key_count, key_schema.as_deref(), value_schema.as_deref())?);
                self.last = Some(Last { topic: topic.to_string(), table: table.clone(), key_schema, value_schema, delete, shape: shape.clone() });
                (table, shape)
            }
        };
        Ok(Some(Row { table, shape, cells: columns, delete }))
    }

    /// The shape of rows with these columns, the first `key_count` of them from the key.
    fn shape(&self, columns: &[(String, Value)], key_count: usize, key_schema: Option<&Schema>, value_schema: Option<&Schema>) -> Result<Shape, String> {
        let schema_of = |i: usize, name: &str, value: &Value| {
            let given = if i < key_count {
                match key_schema {
                    // A plain key: its own schema is the column's.
                    Some(s) if s.kind != SchemaType::Struct => Some(s.clone()),
                    Some(s) => s.field(name).cloned(),
                    None => None,
                }
            } else {
                value_schema.and_then(|s| s.field(name)).cloned()
            };
            given.unwrap_or_else(|| Schema::infer(value))
        };
        let typed: Vec<(String, Schema)> = columns.iter().enumerate().map(|(i, (name, value))| (name.clone(), schema_of(i, name, value))).collect();
        let pk: Vec<String> = match self.pk_mode {
            PkMode::None => Vec::new(),
            PkMode::RecordKey => columns[..key_count].iter().map(|(n, _)| n.clone()).collect(),
            PkMode::RecordValue if self.pk_fields.is_empty() => columns.iter().map(|(n, _)| n.clone()).collect(),
            PkMode::RecordValue => {
                for f in &self.pk_fields {
                    if !columns.iter().any(|(n, _)| n == f) {
                        return Err(format!("pk.fields names {f}, which the value does not have"));
                    }
                }
                self.pk_fields.clone()
            }
        };
        Ok(Shape { columns: typed, pk })
    }

    /// The key as primary key columns.
    fn key_columns(&self, key: Data) -> Result<Vec<(String, Value)>, String> {
        match key.value {
            Value::Null => Err("pk.mode=record_key but the record has no key".to_string()),
            Value::Struct(_) => {
                let mut columns = fields_of(key.value, "key")?;
                if !self.pk_fields.is_empty() {
                    columns.retain(|(n, _)| self.pk_fields.contains(n));
                }
                Ok(columns)
            }
            plain => {
                let name = self.pk_fields.first().ok_or("pk.mode=record_key with a plain (non-struct) key needs pk.fields to name its column")?;
                Ok(vec![(name.clone(), plain)])
            }
        }
    }
}
