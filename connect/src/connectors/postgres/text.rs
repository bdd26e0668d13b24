//! PostgreSQL values as text, both ways. Sources read every column as PostgreSQL's text output
//! and turn it into Connect data by the column's type (Debezium's representation: dates as
//! days, timestamps as microseconds, JSON and UUIDs as strings with Debezium's logical names,
//! numerics as `decimal.handling.mode` says, `decimal.rs`); each field's schema carries the column's SQL type as the parameter
//! `__debezium.source.column.type`. Sinks write Connect data as text that PostgreSQL casts to
//! the column's type, and create columns of the type that parameter (or the schema) says.

use crate::data::time::{format_date, format_time_micros, format_timestamp_micros, parse_date, parse_time_micros, parse_timestamp_micros};
use crate::connectors::postgres::decimal::{self, DecimalMode, VARIABLE_SCALE};
use crate::data::{self, Schema, SchemaType, Value, logical};

/// The schema parameter carrying a column's SQL type (Debezium's name for it).
pub const SOURCE_TYPE: &str = "__debezium.source.column.type";

/// Debezium's logical type names.
pub mod debezium {
    pub const DATE: &str = "io.debezium.time.Date";
    pub const TIME: &str = "io.debezium.time.Time";
    pub const MICRO_TIME: &str = "io.debezium.time.MicroTime";
    pub const TIMESTAMP: &str = "io.debezium.time.Timestamp";
    pub const MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
    pub const ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
    pub const JSON: &str = "io.debezium.data.Json";
    pub const UUID: &str = "io.debezium.data.Uuid";
}

/// The Connect schema (optional or not) for a column of SQL type `sql_type` (as
/// `format_type` or `pg_type.typname` writes it), numerics as `decimals` says.
pub fn schema_for(sql_type: &str, optional: bool, decimals: DecimalMode) -> Schema {
    let base = sql_type.split('(').next().unwrap_or(sql_type).trim();
    let mut schema = match base {
        "smallint" | "int2" => Schema::of(SchemaType::Int16),
        "integer" | "int" | "int4" | "serial" => Schema::of(SchemaType::Int32),
        "bigint" | "int8" | "bigserial" | "oid" => Schema::of(SchemaType::Int64),
        "real" | "float4" => Schema::of(SchemaType::Float32),
        "double precision" | "float8" => Schema::of(SchemaType::Float64),
        "boolean" | "bool" => Schema::of(SchemaType::Boolean),
        "bytea" => Schema::of(SchemaType::Bytes),
        "date" => Schema::of(SchemaType::Int32).named(debezium::DATE),
        "time without time zone" | "time" => Schema::of(SchemaType::Int64).named(debezium::MICRO_TIME),
        "timestamp without time zone" | "timestamp" => Schema::of(SchemaType::Int64).named(debezium::MICRO_TIMESTAMP),
        "timestamp with time zone" | "timestamptz" => Schema::of(SchemaType::String).named(debezium::ZONED_TIMESTAMP),
        "json" | "jsonb" => Schema::of(SchemaType::String).named(debezium::JSON),
        "uuid" => Schema::of(SchemaType::String).named(debezium::UUID),
        "numeric" | "decimal" => decimal::schema(sql_type, decimals),
        _ => Schema::of(SchemaType::String),
    };
    schema.optional = optional;
    schema.parameters.push((SOURCE_TYPE.to_string(), sql_type.to_string()));
    schema
}

/// The Connect value of a column's text output, by its schema from [`schema_for`].
pub fn value_from_text(text: Option<&str>, schema: &Schema) -> Result<Value, String> {
    let Some(text) = text else { return Ok(Value::Null) };
    let bad = || format!("cannot read {text:?} as {}", schema.name.as_deref().unwrap_or(schema.kind.name()));
    Ok(match (schema.kind, schema.name.as_deref()) {
        (SchemaType::Int32, Some(debezium::DATE)) => Value::Int(match text {
            "infinity" => i64::from(i32::MAX),
            "-infinity" => i64::from(i32::MIN),
            _ => parse_date(text).ok_or_else(bad)?,
        }),
        (SchemaType::Int64, Some(debezium::MICRO_TIME)) => Value::Int(parse_time_micros(text).ok_or_else(bad)?),
        (SchemaType::Int64, Some(debezium::MICRO_TIMESTAMP)) => Value::Int(match text {
            "infinity" => i64::MAX,
            "-infinity" => i64::MIN,
            _ => parse_timestamp_micros(text).ok_or_else(bad)?,
        }),
        (SchemaType::Bytes, Some(logical::DECIMAL)) | (SchemaType::Struct, Some(VARIABLE_SCALE)) => decimal::precise_value(text, schema).ok_or_else(bad)?,
        (SchemaType::String, Some(debezium::ZONED_TIMESTAMP)) => match parse_timestamp_micros(text) {
            Some(micros) => Value::String(format_timestamp_micros(micros)),
            None => Value::String(text.to_string()),
        },
        (t, _) if t.is_integer() => Value::Int(text.parse().map_err(|_| bad())?),
        (SchemaType::Float32 | SchemaType::Float64, _) => Value::Float(match text {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => text.parse().map_err(|_| bad())?,
        }),
        (SchemaType::Boolean, _) => Value::Boolean(matches!(text, "t" | "true")),
        (SchemaType::Bytes, _) => Value::Bytes(hex_bytes(text).ok_or_else(bad)?),
        _ => Value::String(text.to_string()),
    })
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// The SQL type of a column that holds values of `schema`: the source column's type when the
/// schema carries it, else by logical name and type.
pub fn column_type(schema: &Schema) -> String {
    if let Some((_, sql_type)) = schema.parameters.iter().find(|(k, _)| k == SOURCE_TYPE) {
        return sql_type.clone();
    }
    let by_name = match schema.name.as_deref() {
        Some(logical::DATE | debezium::DATE) => Some("date"),
        Some(logical::TIME | debezium::TIME | debezium::MICRO_TIME) => Some("time"),
        Some(logical::TIMESTAMP | debezium::TIMESTAMP | debezium::MICRO_TIMESTAMP) => Some("timestamp"),
        Some(debezium::ZONED_TIMESTAMP) => Some("timestamptz"),
        Some(logical::DECIMAL | VARIABLE_SCALE) => Some("numeric"),
        Some(debezium::JSON) => Some("jsonb"),
        Some(debezium::UUID) => Some("uuid"),
        _ => None,
    };
    if let Some(t) = by_name {
        return t.to_string();
    }
    match schema.kind {
        SchemaType::Int8 | SchemaType::Int16 => "smallint",
        SchemaType::Int32 => "integer",
        SchemaType::Int64 => "bigint",
        SchemaType::Float32 => "real",
        SchemaType::Float64 => "double precision",
        SchemaType::Boolean => "boolean",
        SchemaType::String => "text",
        SchemaType::Bytes => "bytea",
        SchemaType::Array | SchemaType::Map | SchemaType::Struct => "jsonb",
    }
    .to_string()
}

/// A value as text PostgreSQL reads into a column of the schema's type (`None`: NULL).
pub fn value_to_text(value: &Value, schema: Option<&Schema>) -> Result<Option<String>, String> {
    let name = schema.and_then(|s| s.name.as_deref());
    Ok(Some(match (value, name) {
        (Value::Null, _) => return Ok(None),
        (Value::Int(days), Some(logical::DATE | debezium::DATE)) => format_date(*days),
        (Value::Int(ms), Some(logical::TIME | debezium::TIME)) => format_time_micros(ms * 1000),
        (Value::Int(us), Some(debezium::MICRO_TIME)) => format_time_micros(*us),
        (Value::Int(i64::MAX), Some(logical::TIMESTAMP | debezium::TIMESTAMP | debezium::MICRO_TIMESTAMP)) => "infinity".to_string(),
        (Value::Int(i64::MIN), Some(logical::TIMESTAMP | debezium::TIMESTAMP | debezium::MICRO_TIMESTAMP)) => "-infinity".to_string(),
        (Value::Int(ms), Some(logical::TIMESTAMP | debezium::TIMESTAMP)) => format_timestamp_micros(ms.saturating_mul(1000)),
        (Value::Int(us), Some(debezium::MICRO_TIMESTAMP)) => format_timestamp_micros(*us),
        (Value::Bytes(b), Some(logical::DECIMAL)) => {
            decimal::to_text(b, schema.map_or(0, decimal::scale_of))?
        }
        (Value::Struct(fields), Some(VARIABLE_SCALE)) => {
            let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            match (field("scale"), field("value")) {
                (Some(Value::Int(scale)), Some(Value::Bytes(b))) => decimal::to_text(b, u32::try_from(*scale).map_err(|_| format!("a decimal's scale of {scale}"))?)?,
                _ => return Err("a VariableScaleDecimal without its scale and value".into()),
            }
        }
        (Value::Int(i), _) => i.to_string(),
        (Value::Float(f), _) if f.is_nan() => "NaN".to_string(),
        (Value::Float(f), _) if f.is_infinite() => if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_string(),
        (Value::Float(f), _) => f.to_string(),
        (Value::Boolean(b), _) => b.to_string(),
        (Value::String(s), _) => s.clone(),
        (Value::Bytes(b), _) => {
            let mut hex = String::with_capacity(2 + b.len() * 2);
            hex.push_str("\\x");
            for byte in b {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex
        }
        (other @ (Value::Array(_) | Value::Map(_) | Value::Struct(_)), _) => String::from_utf8_lossy(&data::to_json_bytes(other)).into_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_text_becomes_debezium_values_and_back() {
        for (sql_type, text, again) in [
            ("integer", "42", "42"),
            ("date", "2026-11-30", "2026-11-30"),
            ("timestamp without time zone", "2026-11-30 09:05:07.123456", "2026-11-30T09:05:07.123456Z"),
            ("timestamp with time zone", "2026-11-30 11:05:07+02", "2026-11-30T09:05:07.000000Z"),
            ("numeric(10,2)", "12.50", "12.50"),
            ("numeric(10,2)", "-0.05", "-0.05"),
            ("numeric", "-1234.00500", "-1234.00500"),
            ("bytea", "\\x00ff", "\\x00ff"),
            ("boolean", "t", "true"),
            ("jsonb", "{\"a\": 1}", "{\"a\": 1}"),
        ] {
            for mode in [DecimalMode::Precise, DecimalMode::String] {
                let schema = schema_for(sql_type, true, mode);
                let value = value_from_text(Some(text), &schema).expect(sql_type);
                assert_eq!(value_to_text(&value, Some(&schema)).expect(sql_type).as_deref(), Some(again), "{sql_type}");
                assert_eq!(column_type(&schema), sql_type);
            }
        }
    }
}
