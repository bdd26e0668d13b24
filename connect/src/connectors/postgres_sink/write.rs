//! The statements the sink runs inside its flush transaction: a long run of rows written by
//! `COPY` (into the table for inserts; into a temporary staging table, then `INSERT … SELECT …
//! ON CONFLICT`, for upserts, later rows of a key winning), a short one by a single `INSERT …
//! SELECT FROM UNNEST` (with `ON CONFLICT` for upserts) or one `DELETE … WHERE (key) IN
//! (SELECT … FROM UNNEST(…))`, and the offsets table.

use std::collections::HashMap;

use sqlx::{PgConnection, Row as _};

use crate::connectors::postgres::text::value_to_text;
use crate::connectors::postgres::{database_error, quote, TableName};
use crate::connectors::postgres_sink::rows::Row;
use crate::connectors::postgres_sink::table::TableInfo;
use crate::data::{Schema, Value};
use crate::error::{ConnectError, Result};
use crate::record::TopicPartition;

/// Writes `run` (rows of one table, operation and column list) to the table described by `info`.
pub async fn write_run(conn: &mut PgConnection, run: &[Row], info: &TableInfo, upsert: bool) -> Result<()> {
    let first = &run[0];
    let table: &TableName = &first.table;
    // With upserts, only the last row of each key counts (one statement may not touch a row twice).
    let rows: Vec<&Row> = if upsert || first.delete {
        let mut last: HashMap<Vec<Option<String>>, usize> = HashMap::new();
        for (i, row) in run.iter().enumerate() {
            last.insert(row.key_text(), i);
        }
        let mut keep: Vec<usize> = last.into_values().collect();
        keep.sort_unstable();
        keep.into_iter().map(|i| &run[i]).collect()
    } else {
        run.iter().collect()
    };
    let names: Vec<&str> = first.shape.names().collect();
    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let conflict = upsert.then(|| on_conflict(first, &names));
    if first.delete || rows.len() < COPY_FROM_ROWS {
        let mut arrays: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); names.len()];
        for row in &rows {
            for (i, ((name, schema), value)) in row.shape.columns.iter().zip(row.cells.iter().map(|c| &c.1)).enumerate() {
                let text = value_to_text(value, Some(schema)).map_err(|e| ConnectError::Task(format!("{table}.{name}: {e}")))?;
                arrays[i].push(text);
            }
        }
        if first.delete {
            return delete_rows(conn, table, &names, &quoted, arrays, info).await;
        }
        // A short run (a change stream interleaves deletes with upserts): one statement.
        return insert_rows(conn, table, &names, &quoted, arrays, info, conflict.as_deref()).await;
    }
    // Rows go in by COPY: straight into the table for inserts, through a temporary staging
    // table (same columns) for upserts.
    let target = if upsert { stage(conn, table).await? } else { table.sql() };
    let mut copy = conn
        .copy_in_raw(&format!("COPY {target} ({}) FROM STDIN", quoted.join(", ")))
        .await
        .map_err(|e| database_error(&format!("could not write rows to {table}"), &e))?;
    let mut buffer = String::with_capacity((rows.len() * 64).min(2 << 20));
    for chunk in rows.chunks(4096) {
        copy_rows(chunk.iter().copied(), table, &mut buffer)?;
        if buffer.len() >= 1 << 20 {
            copy.send(buffer.as_bytes()).await.map_err(|e| database_error(&format!("could not write rows to {table}"), &e))?;
            buffer.clear();
        }
    }
    copy.send(buffer.as_bytes()).await.map_err(|e| database_error(&format!("could not write rows to {table}"), &e))?;
    copy.finish().await.map_err(|e| database_error(&format!("could not write rows to {table}"), &e))?;
    if let Some(conflict) = conflict {
        let columns = quoted.join(", ");
        let sql = format!("INSERT INTO {} ({columns}) SELECT {columns} FROM {target} {conflict}", table.sql());
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.map_err(|e| database_error(&format!("could not upsert rows into {table}"), &e))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {target}"))).execute(&mut *conn).await.map_err(|e| database_error("could not drop the staging table", &e))?;
    }
    Ok(())
}

/// Runs of at least this many rows go in by COPY; shorter ones by one `INSERT … SELECT FROM
/// UNNEST`, which needs no staging table and one round trip.
const COPY_FROM_ROWS: usize = 1000;

/// An upsert's `ON CONFLICT (key) DO UPDATE SET …` (or `DO NOTHING` when every column is key).
fn on_conflict(first: &Row, names: &[&str]) -> String {
    let pk: Vec<String> = first.shape.pk.iter().map(|k| quote(k)).collect();
    let updates: Vec<String> = names.iter().filter(|n| !first.shape.pk.iter().any(|k| k == *n)).map(|n| format!("{0} = EXCLUDED.{0}", quote(n))).collect();
    let action = if updates.is_empty() { "DO NOTHING".to_string() } else { format!("DO UPDATE SET {}", updates.join(", ")) };
    format!("ON CONFLICT ({}) {action}", pk.join(", "))
}

/// `SELECT u.c1::type, … FROM UNNEST($1::text[], …) AS u(c1, …)`: the run's columns as text
/// arrays (one parameter each), cast to the table's column types.
fn unnest_select(names: &[&str], info: &TableInfo) -> String {
    let aliases: Vec<String> = (1..=names.len()).map(|i| format!("c{i}")).collect();
    let casts: Vec<String> = names.iter().zip(&aliases).map(|(name, alias)| format!("u.{alias}::{}", info.sql_type(name).unwrap_or("text"))).collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}::text[]")).collect();
    format!("SELECT {} FROM UNNEST({}) AS u({})", casts.join(", "), params.join(", "), aliases.join(", "))
}

/// Inserts (or upserts, with `conflict`) a short run in one statement.
async fn insert_rows(conn: &mut PgConnection, table: &TableName, names: &[&str], quoted: &[String], arrays: Vec<Vec<Option<String>>>, info: &TableInfo, conflict: Option<&str>) -> Result<()> {
    let sql = format!("INSERT INTO {} ({}) {} {}", table.sql(), quoted.join(", "), unnest_select(names, info), conflict.unwrap_or_default());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for array in arrays {
        query = query.bind(array);
    }
    query.execute(&mut *conn).await.map_err(|e| database_error(&format!("could not write rows to {table}"), &e))?;
    Ok(())
}

/// Rows as lines of COPY's text format, appended to `out`.
pub fn copy_rows<'a>(rows: impl IntoIterator<Item = &'a Row>, table: &TableName, out: &mut String) -> Result<()> {
    for row in rows {
        for (c, ((name, schema), value)) in row.shape.columns.iter().zip(row.cells.iter().map(|c| &c.1)).enumerate() {
            if c > 0 {
                out.push('\t');
            }
            copy_field(value, schema, out).map_err(|e| ConnectError::Task(format!("{table}.{name}: {e}")))?;
        }
        out.push('\n');
    }
    Ok(())
}

/// A value as one field of COPY's text format (`\N` for NULL): integers and strings written
/// straight into the buffer, other values through their text form.
fn copy_field(value: &Value, schema: &Schema, out: &mut String) -> std::result::Result<(), String> {
    match value {
        Value::Null => out.push_str("\\N"),
        // Logical types on integers (dates, times, timestamps) have their own text.
        Value::Int(i) if schema.name.is_none() => {
            use std::fmt::Write as _;
            let _ = write!(out, "{i}");
        }
        Value::String(s) => copy_escape(s, out),
        other => match value_to_text(other, Some(schema))? {
            None => out.push_str("\\N"),
            Some(text) => copy_escape(&text, out),
        },
    }
    Ok(())
}

/// Text as COPY's text format wants it: backslash, tab, newline and carriage return escaped.
fn copy_escape(text: &str, out: &mut String) {
    let mut rest = text;
    // A byte scan: the four are ASCII, so `at` is always a char boundary.
    while let Some(at) = rest.bytes().position(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            _ => "\\r",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// A temporary table shaped like `table` as it is now (dropped after the run, or with the
/// transaction), for upserts by COPY.
async fn stage(conn: &mut PgConnection, table: &TableName) -> Result<String> {
    let name = format!("fjord_stage_{:08x}", crc32c::crc32c(table.sql().as_bytes()));
    let sql = format!("CREATE TEMPORARY TABLE {name} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP", table.sql());
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(|e| database_error(&format!("could not create a staging table for {table}"), &e))?;
    Ok(name)
}

/// Deletes the rows whose keys the run holds.
async fn delete_rows(conn: &mut PgConnection, table: &TableName, names: &[&str], quoted: &[String], arrays: Vec<Vec<Option<String>>>, info: &TableInfo) -> Result<()> {
    let sql = format!("DELETE FROM {} WHERE ({}) IN ({})", table.sql(), quoted.join(", "), unnest_select(names, info));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for array in arrays {
        query = query.bind(array);
    }
    query.execute(&mut *conn).await.map_err(|e| database_error(&format!("could not delete rows from {table}"), &e))?;
    Ok(())
}

pub async fn create_offsets_table(conn: &mut PgConnection, table: &TableName) -> Result<()> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(table.sql())
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| database_error("could not look for the offsets table", &e))?;
    if exists.is_some() {
        return Ok(());
    }
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (connector text NOT NULL, topic text NOT NULL, kafka_partition integer NOT NULL, next_offset bigint NOT NULL, \
         PRIMARY KEY (connector, topic, kafka_partition))",
        table.sql()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.map_err(|e| database_error(&format!("could not create the offsets table {table}"), &e))?;
    Ok(())
}

pub async fn read_offsets(conn: &mut PgConnection, table: &TableName, connector: &str) -> Result<HashMap<TopicPartition, i64>> {
    let sql = format!("SELECT topic, kafka_partition, next_offset FROM {} WHERE connector = $1", table.sql());
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(connector).fetch_all(&mut *conn).await.map_err(|e| database_error("could not read the stored offsets", &e))?;
    let mut offsets = HashMap::new();
    for row in rows {
        let topic: String = row.try_get(0).map_err(|e| database_error("offsets", &e))?;
        let partition: i32 = row.try_get(1).map_err(|e| database_error("offsets", &e))?;
        let next: i64 = row.try_get(2).map_err(|e| database_error("offsets", &e))?;
        offsets.insert(TopicPartition::new(topic, partition), next);
    }
    Ok(offsets)
}

/// Fails when another task stored an offset past the first record this flush writes for a
/// partition (the partition moved in a rebalance and was written meanwhile); locks the rows.
pub async fn check_offsets(conn: &mut PgConnection, table: &TableName, connector: &str, first: &HashMap<TopicPartition, i64>) -> Result<()> {
    if first.is_empty() {
        return Ok(());
    }
    let sql = format!("SELECT topic, kafka_partition, next_offset FROM {} WHERE connector = $1 FOR UPDATE", table.sql());
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(connector).fetch_all(&mut *conn).await.map_err(|e| database_error("could not read the stored offsets", &e))?;
    for row in rows {
        let topic: String = row.try_get(0).map_err(|e| database_error("offsets", &e))?;
        let partition: i32 = row.try_get(1).map_err(|e| database_error("offsets", &e))?;
        let stored: i64 = row.try_get(2).map_err(|e| database_error("offsets", &e))?;
        let tp = TopicPartition::new(topic, partition);
        if let Some(&from) = first.get(&tp)
            && stored > from {
                return Err(ConnectError::Task(format!(
                    "{tp}: the database already holds records up to offset {stored}, past this task's first record ({from}); another task wrote them (a rebalance) — restarting from the stored offsets"
                )));
            }
    }
    Ok(())
}

pub async fn store_offsets(conn: &mut PgConnection, table: &TableName, connector: &str, offsets: &HashMap<TopicPartition, i64>) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let topics: Vec<String> = offsets.keys().map(|tp| tp.topic.clone()).collect();
    let partitions: Vec<i32> = offsets.keys().map(|tp| tp.partition).collect();
    let nexts: Vec<i64> = offsets.values().copied().collect();
    let sql = format!(
        "INSERT INTO {} (connector, topic, kafka_partition, next_offset) SELECT $1, u.t, u.p, u.o FROM UNNEST($2::text[], $3::int4[], $4::int8[]) AS u(t, p, o) \
         ON CONFLICT (connector, topic, kafka_partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
        table.sql()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(connector)
        .bind(topics)
        .bind(partitions)
        .bind(nexts)
        .execute(&mut *conn)
        .await
        .map_err(|e| database_error("could not store the offsets", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_backslashes_tabs_and_line_breaks_and_keeps_the_rest() {
        let mut out = String::new();
        copy_escape("plain", &mut out);
        copy_escape("a\tb\nc\rd\\e", &mut out);
        copy_escape("ünï\tcødé\\", &mut out);
        assert_eq!(out, "plaina\\tb\\nc\\rd\\\\eünï\\tcødé\\\\");
    }
}
