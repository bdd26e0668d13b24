//! A record as a table row: its table (`table.name.format`), its columns (the value's fields;
//! with `pk.mode=record_key`, the key's too) with their schemas, its primary key columns, and
//! whether it deletes (a tombstone with `delete.enabled`).

use crate::connectors::postgres::TableName;
use crate::data::{Schema, Value};
use crate::record::SinkRecord;
use crate::transforms::fields::kind_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkMode {
    None,
    RecordKey,
    RecordValue,
}

/// One row to write or delete.
#[derive(Debug, Clone)]
pub struct Row {
    pub table: TableName,
    /// Column name, its schema, its value.
    pub columns: Vec<(String, Schema, Value)>,
    /// The primary key's column names.
    pub pk: Vec<String>,
    pub delete: bool,
}

impl Row {
    /// Whether `other` can go in the same statement (same table, operation and columns).
    pub fn same_statement(&self, other: &Row) -> bool {
        self.table == other.table
            && self.delete == other.delete
            && self.columns.len() == other.columns.len()
            && self.columns.iter().zip(&other.columns).all(|(a, b)| a.0 == b.0)
    }

    /// The primary key's values as text (to find repeats of a key in one batch).
    pub fn key_text(&self) -> Vec<Option<String>> {
        self.pk
            .iter()
            .map(|k| self.columns.iter().find(|(n, _, _)| n == k).and_then(|(_, s, v)| crate::connectors::postgres::text::value_to_text(v, Some(s)).ok().flatten()))
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
}

/// The named fields of a struct (or JSON object) with a schema each (given, or inferred).
fn fields_of(value: &Value, schema: Option<&Schema>, what: &str) -> Result<Vec<(String, Schema, Value)>, String> {
    let Value::Struct(fields) = value else {
        return Err(format!("the record's {what} must be a struct or JSON object to become a row, but it is {}", kind_of(value)));
    };
    Ok(fields
        .iter()
        .map(|(name, v)| {
            let field_schema = schema.and_then(|s| s.field(name)).cloned().unwrap_or_else(|| Schema::infer(v));
            (name.clone(), field_schema, v.clone())
        })
        .collect())
}

impl RowBuilder {
    /// The row for `record`; `None` for a tombstone that deletes nothing.
    pub fn row(&self, record: &SinkRecord) -> Result<Option<Row>, String> {
        let table = TableName::parse(&self.table_format.replace("${topic}", &record.record.topic));
        let key_columns = match self.pk_mode {
            PkMode::RecordKey => self.key_columns(record)?,
            _ => Vec::new(),
        };
        if record.record.value.is_null() {
            if !self.delete_enabled {
                return Ok(None);
            }
            let pk = key_columns.iter().map(|(n, _, _)| n.clone()).collect();
            return Ok(Some(Row { table, columns: key_columns, pk, delete: true }));
        }
        let value = &record.record.value;
        let mut columns = key_columns;
        for field in fields_of(&value.value, value.schema.as_ref(), "value")? {
            if !columns.iter().any(|(n, _, _)| *n == field.0) {
                columns.push(field);
            }
        }
        let pk: Vec<String> = match self.pk_mode {
            PkMode::None => Vec::new(),
            PkMode::RecordKey => columns.iter().filter(|(n, _, _)| self.is_key_column(record, n)).map(|(n, _, _)| n.clone()).collect(),
            PkMode::RecordValue if self.pk_fields.is_empty() => columns.iter().map(|(n, _, _)| n.clone()).collect(),
            PkMode::RecordValue => {
                for f in &self.pk_fields {
                    if !columns.iter().any(|(n, _, _)| n == f) {
                        return Err(format!("pk.fields names {f}, which the value does not have"));
                    }
                }
                self.pk_fields.clone()
            }
        };
        Ok(Some(Row { table, columns, pk, delete: false }))
    }

    fn is_key_column(&self, record: &SinkRecord, name: &str) -> bool {
        match &record.record.key.value {
            Value::Struct(fields) => fields.iter().any(|(n, _)| n == name) && (self.pk_fields.is_empty() || self.pk_fields.iter().any(|f| f == name)),
            _ => self.pk_fields.first().is_some_and(|f| f == name),
        }
    }

    /// The key as primary key columns.
    fn key_columns(&self, record: &SinkRecord) -> Result<Vec<(String, Schema, Value)>, String> {
        let key = &record.record.key;
        match &key.value {
            Value::Null => Err("pk.mode=record_key but the record has no key".to_string()),
            Value::Struct(_) => {
                let mut columns = fields_of(&key.value, key.schema.as_ref(), "key")?;
                if !self.pk_fields.is_empty() {
                    columns.retain(|(n, _, _)| self.pk_fields.contains(n));
                }
                Ok(columns)
            }
            plain => {
                let name = self.pk_fields.first().ok_or("pk.mode=record_key with a plain (non-struct) key needs pk.fields to name its column")?;
                let schema = key.schema.clone().unwrap_or_else(|| Schema::infer(plain));
                Ok(vec![(name.clone(), schema, plain.clone())])
            }
        }
    }
}
