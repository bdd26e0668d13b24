//! The sink's knowledge of target tables: their columns and SQL types (read from the
//! catalog), and creating or widening them from record schemas (`auto.create`,
//! `auto.evolve`).

use sqlx::{PgConnection, Row};

use crate::connectors::postgres::text::column_type;
use crate::connectors::postgres::{database_error, quote, TableName};
use crate::data::Schema;
use crate::error::{ConnectError, Result};

/// A table's columns in order, with their SQL types as `format_type` writes them.
#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    pub columns: Vec<(String, String)>,
}

impl TableInfo {
    pub fn sql_type(&self, column: &str) -> Option<&str> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, t)| t.as_str())
    }
}

/// The table's columns, or `None` when it does not exist.
pub async fn describe(conn: &mut PgConnection, table: &TableName) -> Result<Option<TableInfo>> {
    let rows = sqlx::query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(table.sql())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| database_error(&format!("could not read the columns of {table}"), &e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0).map_err(|e| database_error("catalog", &e))?;
        let sql_type: String = row.try_get(1).map_err(|e| database_error("catalog", &e))?;
        columns.push((name, sql_type));
    }
    Ok(Some(TableInfo { columns }))
}

/// Creates `table` with these columns (name, schema) and primary key.
pub async fn create(conn: &mut PgConnection, table: &TableName, columns: &[(String, Schema)], primary_key: &[String]) -> Result<()> {
    let mut parts: Vec<String> = columns
        .iter()
        .map(|(name, schema)| {
            let not_null = if !schema.optional || primary_key.contains(name) { " NOT NULL" } else { "" };
            format!("{} {}{not_null}", quote(name), column_type(schema))
        })
        .collect();
    if !primary_key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", primary_key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")));
    }
    let sql = format!("CREATE TABLE IF NOT EXISTS {} ({})", table.sql(), parts.join(", "));
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.map_err(|e| database_error(&format!("could not create table {table}"), &e))?;
    tracing::info!(%table, "created the table (auto.create)");
    Ok(())
}

/// Adds the columns `info` lacks (nullable: rows already there have no value for them).
pub async fn evolve(conn: &mut PgConnection, table: &TableName, missing: &[(String, Schema)]) -> Result<()> {
    for (name, schema) in missing {
        let sql = format!("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}", table.sql(), quote(name), column_type(schema));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| database_error(&format!("could not add column {name} to {table}"), &e))?;
        tracing::info!(%table, column = %name, "added a column (auto.evolve)");
    }
    Ok(())
}

/// The error for columns a table lacks when it may not be changed.
pub fn missing_columns(table: &TableName, missing: &[(String, Schema)]) -> ConnectError {
    let names: Vec<&str> = missing.iter().map(|(n, _)| n.as_str()).collect();
    ConnectError::Task(format!("table {table} has no column(s) {}; add them, or set auto.evolve=true", names.join(", ")))
}
