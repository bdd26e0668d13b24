//! `postgres-source`: rows of tables (or of one custom query) as records, polled by an
//! incrementing column, a timestamp column, or both (Confluent's JDBC source modes):
//!
//! - `incrementing`: rows whose `incrementing.column.name` is above the last one seen (new rows);
//! - `timestamp`: rows whose `timestamp.column.name` is past the last one seen and older than
//!   `timestamp.delay.interval.ms` (new and updated rows; rows sharing the last timestamp of a
//!   full batch wait for the next poll so none is skipped);
//! - `timestamp+incrementing`: ordered by (timestamp, id), exact across ties.
//!
//! One source partition per table (`{"table": "schema.table"}`) or `{"query": …}`; the offset is
//! the last row's `incrementing` value and `timestamp` (as PostgreSQL's text). Topic:
//! `topic.prefix` followed by the table name (or `topic.prefix` alone for a query). Values are
//! structs with each column's schema (the Debezium representation of `postgres/text.rs`); keys
//! are null.

use std::time::Duration;

use serde_json::{Value as Json, json};
use sqlx::{Column as _, Executor as _, PgPool, Row, SqlSafeStr as _, Statement as _, TypeInfo as _};

use crate::config::def::{ConfigDef, KeyDef, KeyType};
use crate::connector::{BoxFuture, ConnectorKind, SourceTask, TaskContext};
use crate::connectors::postgres::decimal::DecimalMode;
use crate::connectors::postgres::text::{schema_for, value_from_text};
use crate::connectors::postgres::{self, database_error, quote, TableName};
use crate::data::{Data, Field, Schema, Value};
use crate::error::{ConnectError, Result};
use crate::record::{Record, SourceMap, SourceRecord, source_map};
use crate::registry::{ConnectorPlugin, TaskStarter};

pub const PLUGIN: ConnectorPlugin = ConnectorPlugin {
    class: "postgres-source",
    aliases: &["io.confluent.connect.jdbc.JdbcSourceConnector"],
    kind: ConnectorKind::Source,
    version: env!("CARGO_PKG_VERSION"),
    definition,
    task_configs: crate::registry::single_task,
    start: TaskStarter::Source(start),
    keeps_own_offsets: false,
};

fn definition() -> ConfigDef {
    let mut keys = postgres::connection_keys("The database: postgres://user@host:5432/db.").to_vec();
    keys.extend([
        KeyDef::required("mode", KeyType::String, "How new rows are found: incrementing, timestamp or timestamp+incrementing.")
            .one_of(&["incrementing", "timestamp", "timestamp+incrementing"])
            .in_group("Mode"),
        KeyDef::optional("table.whitelist", KeyType::List, None, "The tables to read (schema.table,...); or set query.").in_group("Tables"),
        KeyDef::optional("table.include.list", KeyType::List, None, "Another name for table.whitelist.").in_group("Tables"),
        KeyDef::optional("query", KeyType::String, None, "A query whose rows are read instead of tables (no WHERE on its own columns is needed; the connector adds its filter around it).").in_group("Tables"),
        KeyDef::optional("incrementing.column.name", KeyType::String, None, "A strictly increasing column (an id), for the incrementing modes.").in_group("Mode"),
        KeyDef::optional("timestamp.column.name", KeyType::String, None, "A last-modified timestamp column, for the timestamp modes.").in_group("Mode"),
        KeyDef::optional("timestamp.delay.interval.ms", KeyType::Long, Some("0"), "Rows are read only once their timestamp is this old (for transactions that commit late).").in_group("Mode"),
        KeyDef::required("topic.prefix", KeyType::String, "Topics are this prefix followed by the table name (or this prefix alone for a query).").in_group("Tables"),
        KeyDef::optional("poll.interval.ms", KeyType::Long, Some("1000"), "How long to wait between polls when nothing is new.").in_group("Tables"),
        KeyDef::optional("batch.max.rows", KeyType::Int, Some("1000"), "The most rows read from a table in one poll.").in_group("Tables"),
    ]);
    ConfigDef::new(keys)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Incrementing,
    Timestamp,
    Both,
}

/// One table or the query, with what is known of its columns and where reading stands.
#[derive(Debug)]
struct Source {
    partition: SourceMap,
    topic: String,
    /// `(SELECT …) AS q` or `table AS q`, for FROM.
    from: String,
    columns: Vec<(String, String, Schema)>,
    schema: std::sync::Arc<Schema>,
    incrementing: Option<i64>,
    timestamp: Option<String>,
}

struct QuerySource {
    pool: PgPool,
    mode: Mode,
    inc_column: Option<String>,
    ts_column: Option<String>,
    delay_ms: i64,
    batch: usize,
    poll_interval: Duration,
    sources: Vec<Source>,
}

fn start(ctx: TaskContext) -> BoxFuture<'static, Result<Box<dyn SourceTask>>> {
    Box::pin(async move {
        let def = definition();
        let s = def.settings(&ctx.config)?;
        let mode = match s.string("mode") {
            Some("incrementing") => Mode::Incrementing,
            Some("timestamp") => Mode::Timestamp,
            _ => Mode::Both,
        };
        let inc_column = s.string("incrementing.column.name").filter(|c| !c.is_empty()).map(str::to_string);
        let ts_column = s.string("timestamp.column.name").filter(|c| !c.is_empty()).map(str::to_string);
        if mode != Mode::Timestamp && inc_column.is_none() {
            return Err(ConnectError::Config("mode incrementing needs incrementing.column.name".into()));
        }
        if mode != Mode::Incrementing && ts_column.is_none() {
            return Err(ConnectError::Config("the timestamp modes need timestamp.column.name".into()));
        }
        let mut tables = s.list("table.whitelist");
        tables.extend(s.list("table.include.list"));
        let query = s.string("query").filter(|q| !q.is_empty());
        if tables.is_empty() == query.is_none() {
            return Err(ConnectError::Config("set table.whitelist (tables) or query, one of the two".into()));
        }
        let prefix = s.require("topic.prefix")?.to_string();
        let pool = postgres::pool(postgres::connect_options(&s)?, 2).await?;
        let mut sources = Vec::new();
        for table in tables {
            let name = TableName::parse(table);
            let partition = source_map(json!({"table": name.to_string()}));
            sources.push(describe(&pool, partition, format!("{prefix}{}", name.table), format!("{} AS q", name.sql())).await?);
        }
        if let Some(query) = query {
            sources.push(describe(&pool, source_map(json!({"query": query})), prefix.clone(), format!("({query}) AS q")).await?);
        }
        for source in &mut sources {
            for name in [&inc_column, &ts_column].into_iter().flatten() {
                if !source.columns.iter().any(|(c, _, _)| c == name) {
                    return Err(ConnectError::Config(format!("{} has no column {name}", source.topic)));
                }
            }
            if let Some((_, offset)) = ctx.offsets.iter().find(|(p, _)| *p == source.partition) {
                source.incrementing = offset.get("incrementing").and_then(Json::as_i64);
                source.timestamp = offset.get("timestamp").and_then(Json::as_str).map(str::to_string);
            }
        }
        let task: Box<dyn SourceTask> = Box::new(QuerySource {
            pool,
            mode,
            inc_column,
            ts_column,
            delay_ms: s.long("timestamp.delay.interval.ms")?.unwrap_or(0).max(0),
            batch: usize::try_from(s.long("batch.max.rows")?.unwrap_or(1000).max(1)).unwrap_or(1000),
            poll_interval: Duration::from_millis(s.long("poll.interval.ms")?.unwrap_or(1000).clamp(1, 3_600_000).unsigned_abs()),
            sources,
        });
        Ok(task)
    })
}


/// The columns of a table or query: names, SQL types, schemas.
async fn describe(pool: &PgPool, partition: SourceMap, topic: String, from: String) -> Result<Source> {
    let probe = format!("SELECT * FROM {from} LIMIT 0");
    let mut conn = pool.acquire().await.map_err(|e| database_error("could not connect", &e))?;
    let statement = (&mut *conn).prepare(sqlx::AssertSqlSafe(probe).into_sql_str()).await.map_err(|e| database_error(&format!("could not read the columns of {from}"), &e))?;
    let mut columns = Vec::new();
    for column in statement.columns() {
        let sql_type = column.type_info().name().to_ascii_lowercase();
        // Numerics as their text, as this connector has always written them.
        let schema = schema_for(&sql_type, true, DecimalMode::String);
        columns.push((column.name().to_string(), sql_type, schema));
    }
    let fields = columns.iter().map(|(n, _, s)| Field { name: n.clone(), schema: s.clone() }).collect();
    let schema = std::sync::Arc::new(Schema::structure(Some(&topic), fields));
    Ok(Source { partition, topic, from, columns, schema, incrementing: None, timestamp: None })
}

impl QuerySource {
    /// The next rows of one source.
    async fn read(&self, source: &Source) -> Result<Vec<Vec<Option<String>>>> {
        // Output columns get positional names: ORDER BY and WHERE must see the source's own
        // columns, not their text copies.
        let select: Vec<String> = source.columns.iter().enumerate().map(|(i, (n, _, _))| format!("q.{}::text AS c{i}", quote(n))).collect();
        let inc = self.inc_column.as_deref().map(|c| format!("q.{}", quote(c)));
        let ts = self.ts_column.as_deref().map(|c| format!("q.{}", quote(c)));
        let ts_type = self.ts_column.as_ref().and_then(|t| source.columns.iter().find(|(n, _, _)| n == t)).map(|(_, ty, _)| ty.clone()).unwrap_or_default();
        let upper = format!("now() - interval '{} milliseconds'", self.delay_ms);
        let (filter, order) = match (self.mode, &inc, &ts) {
            (Mode::Incrementing, Some(inc), _) => (format!("{inc} > $1"), inc.clone()),
            (Mode::Timestamp, _, Some(ts)) => (format!("({ts} > CAST($1 AS {ts_type}) OR $1::text IS NULL) AND {ts} < {upper}"), ts.clone()),
            (Mode::Both, Some(inc), Some(ts)) => (
                format!("(($2::text IS NULL) OR {ts} > CAST($2 AS {ts_type}) OR ({ts} = CAST($2 AS {ts_type}) AND {inc} > $1)) AND {ts} < {upper}"),
                format!("{ts}, {inc}"),
            ),
            _ => return Err(ConnectError::Config("the mode's columns are not set".into())),
        };
        let sql = format!("SELECT {} FROM {} WHERE {filter} ORDER BY {order} LIMIT {}", select.join(", "), source.from, self.batch);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if self.mode != Mode::Timestamp {
            query = query.bind(source.incrementing.unwrap_or(i64::MIN));
        }
        if self.mode != Mode::Incrementing {
            query = query.bind(source.timestamp.clone());
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| database_error(&format!("could not read {}", source.topic), &e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for i in 0..row.len() {
                cells.push(row.try_get::<Option<String>, _>(i).map_err(|e| database_error("row", &e))?);
            }
            out.push(cells);
        }
        // Timestamp mode: rows sharing the last timestamp of a full batch wait for the next
        // poll, unless the whole batch shares it (then the tie cannot be split).
        if self.mode == Mode::Timestamp && out.len() == self.batch
            && let Some(i) = self.ts_column.as_ref().and_then(|t| source.columns.iter().position(|(n, _, _)| n == t)) {
                let last = out.last().and_then(|r| r[i].clone());
                let keep = out.iter().rposition(|r| r[i] != last).map_or(out.len(), |p| p + 1);
                out.truncate(keep);
            }
        Ok(out)
    }

    fn record(&self, source: &mut Source, cells: Vec<Option<String>>) -> Result<SourceRecord> {
        let mut fields = Vec::with_capacity(cells.len());
        for ((name, _, schema), cell) in source.columns.iter().zip(&cells) {
            let value = value_from_text(cell.as_deref(), schema).map_err(|e| ConnectError::Task(format!("{}.{name}: {e}", source.topic)))?;
            fields.push((name.clone(), value));
        }
        let position = |name: &Option<String>| name.as_ref().and_then(|n| source.columns.iter().position(|(c, _, _)| c == n)).and_then(|i| cells[i].clone());
        if let Some(inc) = position(&self.inc_column) {
            source.incrementing = Some(inc.parse().map_err(|_| ConnectError::Task(format!("{} is not an integer: {inc}", self.inc_column.as_deref().unwrap_or_default())))?);
        }
        if let Some(ts) = position(&self.ts_column) {
            source.timestamp = Some(ts);
        }
        let mut offset = SourceMap::new();
        if let Some(i) = source.incrementing {
            offset.insert("incrementing".into(), json!(i));
        }
        if let Some(t) = &source.timestamp {
            offset.insert("timestamp".into(), json!(t));
        }
        let value = Data::shared(Some(source.schema.clone()), Value::Struct(fields));
        Ok(SourceRecord { source_partition: source.partition.clone(), source_offset: offset, record: Record::new(source.topic.clone(), Data::NULL, value) })
    }
}

impl SourceTask for QuerySource {
    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<SourceRecord>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut sources = std::mem::take(&mut self.sources);
            let mut result = Ok(());
            for source in &mut sources {
                match self.read(source).await {
                    Ok(rows) => {
                        for cells in rows {
                            match self.record(source, cells) {
                                Ok(r) => out.push(r),
                                Err(e) => {
                                    result = Err(e);
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => result = Err(e),
                }
                if result.is_err() {
                    break;
                }
            }
            self.sources = sources;
            result?;
            if out.is_empty() {
                tokio::time::sleep(self.poll_interval).await;
            }
            Ok(out)
        })
    }
}
