//! The statements the sink runs inside its flush transaction: a run of rows as one
//! `INSERT … SELECT … FROM UNNEST(…)` (upserts with `ON CONFLICT`, later rows of a key
//! winning) or one `DELETE … WHERE (key) IN (…)`, and the offsets table.

use std::collections::HashMap;

use sqlx::{PgConnection, Row as _};

use crate::connectors::postgres::text::value_to_text;
use crate::connectors::postgres::{database_error, quote, TableName};
use crate::connectors::postgres_sink::rows::Row;
use crate::connectors::postgres_sink::table::TableInfo;
use crate::error::{ConnectError, Result};
use crate::record::TopicPartition;

/// Writes `run` (rows of one table, operation and column list) to the table described by `info`.
pub async fn write_run(conn: &mut PgConnection, run: &[Row], info: &TableInfo, upsert: bool) -> Result<()> {
    let first = &run[0];
    let table = &first.table;
    // With upserts, only the last row of each key counts (one statement may not touch a row twice).
    let rows: Vec<&Row> = if upsert || first.delete {
        let mut last: HashMap<Vec<Option<String>>, usize> = HashMap::new();
        for (i, row) in run.iter().enumerate() {
            last.insert(row.key_text(), i);
        }
        run.iter().enumerate().filter(|(i, row)| last.get(&row.key_text()) == Some(i)).map(|(_, r)| r).collect()
    } else {
        run.iter().collect()
    };
    let names: Vec<&str> = first.columns.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut arrays: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); names.len()];
    for row in &rows {
        for (i, (name, schema, value)) in row.columns.iter().enumerate() {
            let text = value_to_text(value, Some(schema)).map_err(|e| ConnectError::Task(format!("{table}.{name}: {e}")))?;
            arrays[i].push(text);
        }
    }
    let aliases: Vec<String> = (1..=names.len()).map(|i| format!("c{i}")).collect();
    let casts: Vec<String> = names
        .iter()
        .zip(&aliases)
        .map(|(name, alias)| {
            let sql_type = info.sql_type(name).unwrap_or("text");
            format!("u.{alias}::{sql_type}")
        })
        .collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}::text[]")).collect();
    let source = format!("SELECT {} FROM UNNEST({}) AS u({})", casts.join(", "), params.join(", "), aliases.join(", "));
    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let sql = if first.delete {
        format!("DELETE FROM {} WHERE ({}) IN ({source})", table.sql(), quoted.join(", "))
    } else {
        let mut sql = format!("INSERT INTO {} ({}) {source}", table.sql(), quoted.join(", "));
        if upsert {
            let pk: Vec<String> = first.pk.iter().map(|k| quote(k)).collect();
            let updates: Vec<String> = names.iter().filter(|n| !first.pk.iter().any(|k| k == *n)).map(|n| format!("{0} = EXCLUDED.{0}", quote(n))).collect();
            if updates.is_empty() {
                sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", pk.join(", ")));
            } else {
                sql.push_str(&format!(" ON CONFLICT ({}) DO UPDATE SET {}", pk.join(", "), updates.join(", ")));
            }
        }
        sql
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for array in arrays {
        query = query.bind(array);
    }
    let doing = if first.delete { "delete rows from" } else { "write rows to" };
    query.execute(&mut *conn).await.map_err(|e| database_error(&format!("could not {doing} {table}"), &e))?;
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
