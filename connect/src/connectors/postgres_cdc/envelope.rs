//! Change events in Debezium's envelope, so Debezium consumers and the `extract-new-record-state`
//! transform read them unchanged: the value is `{before, after, source, op, ts_ms}` (op `c`, `u`,
//! `d`, `r` for snapshot reads, `t` for truncates) with schemas named as Debezium names them
//! (`PREFIX.SCHEMA.TABLE.Value`, `.Key`, `.Envelope`, `io.debezium.connector.postgresql.Source`);
//! the key is the primary key's columns (null for tables without one); the topic is
//! `PREFIX.SCHEMA.TABLE`.

use crate::connectors::postgres::decimal::DecimalMode;
use crate::connectors::postgres::text::{schema_for, value_from_text};
use crate::connectors::postgres_cdc::pgoutput::{Cell, Relation};
use crate::data::{Data, Field, Schema, SchemaType, Value};

/// What Debezium puts in a change's `source` block.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub db: String,
    /// Commit time, ms since the epoch.
    pub ts_ms: i64,
    /// `true`, `last` (the snapshot's last record) or `false`.
    pub snapshot: &'static str,
    pub tx_id: Option<i64>,
    pub lsn: Option<i64>,
}

/// A table's schemas and topic.
#[derive(Debug, Clone)]
pub struct TableSchema {
    pub topic: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<(String, Schema)>,
    key_columns: Vec<usize>,
    key_schema: Option<std::sync::Arc<Schema>>,
    envelope_schema: std::sync::Arc<Schema>,
    prefix: String,
}

/// Debezium's placeholder for a TOASTed value the change does not carry.
pub const UNAVAILABLE: &str = "__debezium_unavailable_value";

fn source_schema() -> Schema {
    let field = |name: &str, schema: Schema| Field { name: name.to_string(), schema };
    Schema::structure(
        Some("io.debezium.connector.postgresql.Source"),
        vec![
            field("version", Schema::of(SchemaType::String)),
            field("connector", Schema::of(SchemaType::String)),
            field("name", Schema::of(SchemaType::String)),
            field("ts_ms", Schema::of(SchemaType::Int64)),
            field("snapshot", Schema::optional(SchemaType::String)),
            field("db", Schema::of(SchemaType::String)),
            field("schema", Schema::of(SchemaType::String)),
            field("table", Schema::of(SchemaType::String)),
            field("txId", Schema::optional(SchemaType::Int64)),
            field("lsn", Schema::optional(SchemaType::Int64)),
        ],
    )
}

impl TableSchema {
    /// The schemas of `relation`, each column's SQL type given (`format_type`'s text), numerics
    /// as `decimals` says.
    pub fn new(prefix: &str, relation: &Relation, sql_types: &[String], decimals: DecimalMode) -> Self {
        let base = format!("{prefix}.{}.{}", relation.schema, relation.table);
        let columns: Vec<(String, Schema)> =
            relation.columns.iter().zip(sql_types).map(|(c, sql_type)| (c.name.clone(), schema_for(sql_type, !c.key, decimals))).collect();
        let key_columns: Vec<usize> = relation.columns.iter().enumerate().filter(|(_, c)| c.key).map(|(i, _)| i).collect();
        let key_schema = (!key_columns.is_empty()).then(|| {
            std::sync::Arc::new(Schema::structure(
                Some(&format!("{base}.Key")),
                key_columns.iter().map(|&i| Field { name: columns[i].0.clone(), schema: columns[i].1.clone() }).collect(),
            ))
        });
        let row_schema = Schema::structure(Some(&format!("{base}.Value")), columns.iter().map(|(n, s)| Field { name: n.clone(), schema: s.clone() }).collect()).into_optional();
        let envelope_schema = std::sync::Arc::new(Schema::structure(
            Some(&format!("{base}.Envelope")),
            vec![
                Field { name: "before".into(), schema: row_schema.clone() },
                Field { name: "after".into(), schema: row_schema.clone() },
                Field { name: "source".into(), schema: source_schema() },
                Field { name: "op".into(), schema: Schema::of(SchemaType::String) },
                Field { name: "ts_ms".into(), schema: Schema::optional(SchemaType::Int64) },
            ],
        ));
        Self {
            topic: base,
            schema: relation.schema.clone(),
            table: relation.table.clone(),
            columns,
            key_columns,
            key_schema,
            envelope_schema,
            prefix: prefix.to_string(),
        }
    }

    /// A row from a tuple's cells (fewer cells than columns: the rest are null).
    pub fn row(&self, cells: &[Cell]) -> Result<Value, String> {
        let mut fields = Vec::with_capacity(self.columns.len());
        for (i, (name, schema)) in self.columns.iter().enumerate() {
            let value = match cells.get(i).unwrap_or(&Cell::Null) {
                Cell::Null => Value::Null,
                Cell::Unchanged if schema.kind == SchemaType::String => Value::String(UNAVAILABLE.to_string()),
                Cell::Unchanged => Value::Null,
                Cell::Text(text) => value_from_text(Some(text), schema).map_err(|e| format!("{}.{}.{name}: {e}", self.schema, self.table))?,
            };
            fields.push((name.clone(), value));
        }
        Ok(Value::Struct(fields))
    }

    /// The key of a row (null without a primary key).
    pub fn key(&self, row: &Value) -> Data {
        let Some(schema) = &self.key_schema else { return Data::NULL };
        let Value::Struct(fields) = row else { return Data::NULL };
        let key = self.key_columns.iter().filter_map(|&i| fields.get(i).cloned()).collect();
        Data::shared(Some(schema.clone()), Value::Struct(key))
    }

    /// The change event.
    pub fn event(&self, op: &str, before: Option<Value>, after: Option<Value>, source: &SourceInfo, now_ms: i64) -> Data {
        let source_value = Value::Struct(vec![
            ("version".into(), Value::String(env!("CARGO_PKG_VERSION").into())),
            ("connector".into(), Value::String("postgresql".into())),
            ("name".into(), Value::String(self.prefix.clone())),
            ("ts_ms".into(), Value::Int(source.ts_ms)),
            ("snapshot".into(), Value::String(source.snapshot.into())),
            ("db".into(), Value::String(source.db.clone())),
            ("schema".into(), Value::String(self.schema.clone())),
            ("table".into(), Value::String(self.table.clone())),
            ("txId".into(), source.tx_id.map_or(Value::Null, Value::Int)),
            ("lsn".into(), source.lsn.map_or(Value::Null, Value::Int)),
        ]);
        let value = Value::Struct(vec![
            ("before".into(), before.unwrap_or(Value::Null)),
            ("after".into(), after.unwrap_or(Value::Null)),
            ("source".into(), source_value),
            ("op".into(), Value::String(op.into())),
            ("ts_ms".into(), Value::Int(now_ms)),
        ]);
        Data::shared(Some(self.envelope_schema.clone()), value)
    }
}

/// Marks a snapshot event as the snapshot's last (`source.snapshot = "last"`), as Debezium does.
pub fn mark_last_snapshot_record(event: &mut Data) {
    let Value::Struct(fields) = &mut event.value else { return };
    let Some((_, Value::Struct(source))) = fields.iter_mut().find(|(n, _)| n == "source") else { return };
    if let Some((_, flag)) = source.iter_mut().find(|(n, _)| n == "snapshot") {
        *flag = Value::String("last".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::postgres::decimal::to_text;
    use crate::connectors::postgres_cdc::pgoutput::Column;
    use crate::data::logical;

    fn accounts(decimals: DecimalMode) -> TableSchema {
        let column = |name: &str, key: bool| Column { name: name.into(), type_oid: 0, type_modifier: -1, key };
        let relation = Relation { oid: 1, schema: "public".into(), table: "accounts".into(), columns: vec![column("id", true), column("balance", false), column("rate", false)] };
        TableSchema::new("shop", &relation, &["integer".into(), "numeric(12,2)".into(), "numeric".into()], decimals)
    }

    #[test]
    fn numerics_are_connect_decimals_by_default_as_in_debezium() {
        let table = accounts(DecimalMode::parse(None));
        let balance = &table.columns[1].1;
        assert_eq!((balance.kind, balance.name.as_deref()), (SchemaType::Bytes, Some(logical::DECIMAL)));
        assert_eq!(table.columns[2].1.name.as_deref(), Some(crate::connectors::postgres::decimal::VARIABLE_SCALE));
        let row = table.row(&[Cell::Text("7".into()), Cell::Text("-12.34".into()), Cell::Text("0.5".into())]).unwrap();
        let Value::Struct(fields) = row else { panic!("a row is a struct") };
        let Value::Bytes(bytes) = &fields[1].1 else { panic!("balance as bytes: {:?}", fields[1]) };
        assert_eq!(to_text(bytes, 2).unwrap(), "-12.34");
    }

    #[test]
    fn decimal_handling_mode_string_and_double_keep_text_and_floats() {
        let row = accounts(DecimalMode::String).row(&[Cell::Text("7".into()), Cell::Text("-12.34".into()), Cell::Text("NaN".into())]).unwrap();
        assert_eq!(row, Value::Struct(vec![("id".into(), Value::Int(7)), ("balance".into(), Value::String("-12.34".into())), ("rate".into(), Value::String("NaN".into()))]));
        let row = accounts(DecimalMode::Double).row(&[Cell::Text("7".into()), Cell::Text("-12.5".into()), Cell::Null]).unwrap();
        assert_eq!(row, Value::Struct(vec![("id".into(), Value::Int(7)), ("balance".into(), Value::Float(-12.5)), ("rate".into(), Value::Null)]));
    }
}
