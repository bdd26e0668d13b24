//! `postgres-sink`: records into PostgreSQL tables — insert, or upsert by primary key (from the
//! record key or value fields), delete on a tombstone; tables created and widened from record
//! schemas (`auto.create`, `auto.evolve`). Writes are batched: each run of rows for one table
//! and operation is one statement over `UNNEST`ed arrays (`INSERT … SELECT … ON CONFLICT …`).
//!
//! Plain inserts into a table already described are streamed: the transaction and a `COPY`
//! open once enough rows are held, and each `put` feeds it (`stream`).
//!
//! Exactly once: records are held until flush, then written in one transaction together with
//! the next offset of each partition, kept in the target database (`offsets.table.name`); on
//! start the task resumes from those offsets. A flush that finds another task moved a
//! partition's offset past what it holds (after a rebalance) rolls back and restarts.

mod rows;
mod stream;
mod table;
mod write;

use std::collections::HashMap;

use sqlx::PgPool;

use crate::config::def::{ConfigDef, KeyDef, KeyType};
use crate::connector::{BoxFuture, ConnectorKind, SinkTask, Spent, TaskContext};
use crate::connectors::postgres::{self, database_error, TableName};
use crate::error::{ConnectError, Result};
use crate::record::{SinkRecord, TopicPartition};
use crate::registry::{ConnectorPlugin, TaskStarter};

use rows::{PkMode, Row, RowBuilder};
use stream::CopyStream;
use table::TableInfo;

pub const PLUGIN: ConnectorPlugin = ConnectorPlugin {
    class: "postgres-sink",
    aliases: &["io.confluent.connect.jdbc.JdbcSinkConnector", "io.debezium.connector.jdbc.JdbcSinkConnector"],
    kind: ConnectorKind::Sink,
    version: env!("CARGO_PKG_VERSION"),
    definition,
    task_configs: crate::registry::copies,
    start: TaskStarter::Sink(start),
    keeps_own_offsets: true,
};

fn definition() -> ConfigDef {
    let mut keys = postgres::connection_keys("The database: postgres://user@host:5432/db.").to_vec();
    keys.extend([
        KeyDef::optional("table.name.format", KeyType::String, Some("${topic}"), "The table for a record: ${topic} is its topic; schema.table qualifies it; other dots become underscores.").in_group("Writes"),
        KeyDef::optional("insert.mode", KeyType::String, Some("insert"), "insert: plain INSERTs; upsert: INSERT … ON CONFLICT (primary key) DO UPDATE.").one_of(&["insert", "upsert"]).in_group("Writes"),
        KeyDef::optional("pk.mode", KeyType::String, Some("none"), "Where the primary key comes from: none, record_key (the key's fields, or pk.fields for a plain key), record_value (pk.fields of the value).")
            .one_of(&["none", "record_key", "record_value"])
            .in_group("Writes"),
        KeyDef::optional("pk.fields", KeyType::List, None, "The primary key's columns (with record_value; with record_key, the name of a plain key, or which key fields).").in_group("Writes"),
        KeyDef::optional("delete.enabled", KeyType::Boolean, Some("false"), "Delete the row on a tombstone (needs pk.mode=record_key); otherwise tombstones are skipped.").in_group("Writes"),
        KeyDef::optional("auto.create", KeyType::Boolean, Some("false"), "Create missing tables from the record schema.").in_group("DDL"),
        KeyDef::optional("auto.evolve", KeyType::Boolean, Some("false"), "Add columns the table lacks (as nullable columns).").in_group("DDL"),
        KeyDef::optional("offsets.table.name", KeyType::String, Some("__fjord_connect_offsets"), "The table in the target database holding each partition's next offset, written with the data.").in_group("Writes"),
        KeyDef::optional("max.buffered.records", KeyType::Int, Some("20000"), "Flush once this many records are held (they are written in one transaction at flush).").in_group("Writes"),
    ]);
    ConfigDef::new(keys)
}

struct PostgresSink {
    connector: String,
    pool: PgPool,
    builder: RowBuilder,
    offsets_table: TableName,
    auto_create: bool,
    auto_evolve: bool,
    max_buffered: usize,
    buffered: Vec<Row>,
    /// Rows a flush committed, until the runtime takes them back (`spent`).
    written: Vec<Vec<Row>>,
    /// The open transaction already holding the first buffered rows, when they are streamed.
    stream: Option<CopyStream>,
    /// The first offset put since the last flush, per partition.
    first_offsets: HashMap<TopicPartition, i64>,
    /// Offsets stored by the last flush.
    committed: HashMap<TopicPartition, i64>,
    tables: HashMap<TableName, TableInfo>,
}

fn start(ctx: TaskContext) -> BoxFuture<'static, Result<Box<dyn SinkTask>>> {
    Box::pin(async move {
        let def = definition();
        let s = def.settings(&ctx.config)?;
        let pk_mode = match s.string("pk.mode") {
            Some("record_key") => PkMode::RecordKey,
            Some("record_value") => PkMode::RecordValue,
            _ => PkMode::None,
        };
        let upsert = s.string("insert.mode") == Some("upsert");
        let delete_enabled = s.bool("delete.enabled")?;
        if upsert && pk_mode == PkMode::None {
            return Err(ConnectError::Config("insert.mode=upsert needs a primary key: set pk.mode to record_key or record_value".into()));
        }
        if delete_enabled && pk_mode != PkMode::RecordKey {
            return Err(ConnectError::Config("delete.enabled=true needs pk.mode=record_key (a tombstone has only its key)".into()));
        }
        let builder = RowBuilder::new(
            s.string("table.name.format").unwrap_or("${topic}").to_string(),
            upsert,
            pk_mode,
            s.list("pk.fields").into_iter().map(str::to_string).collect(),
            delete_enabled,
        );
        let options = postgres::connect_options(&s)?;
        let pool = postgres::pool(options, 2).await?;
        let task: Box<dyn SinkTask> = Box::new(PostgresSink {
            connector: ctx.connector.clone(),
            pool,
            builder,
            offsets_table: TableName::parse(s.string("offsets.table.name").unwrap_or("__fjord_connect_offsets")),
            auto_create: s.bool("auto.create")?,
            auto_evolve: s.bool("auto.evolve")?,
            max_buffered: usize::try_from(s.long("max.buffered.records")?.unwrap_or(20_000).max(1)).unwrap_or(20_000),
            buffered: Vec::new(),
            written: Vec::new(),
            stream: None,
            first_offsets: HashMap::new(),
            committed: HashMap::new(),
            tables: HashMap::new(),
        });
        Ok(task)
    })
}

impl SinkTask for PostgresSink {
    fn stored_offsets(&mut self) -> BoxFuture<'_, Result<HashMap<TopicPartition, i64>>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await.map_err(|e| database_error("could not connect to PostgreSQL", &e))?;
            write::create_offsets_table(&mut conn, &self.offsets_table).await?;
            let stored = write::read_offsets(&mut conn, &self.offsets_table, &self.connector).await?;
            self.committed = stored.clone();
            Ok(stored)
        })
    }

    fn put(&mut self, records: Vec<SinkRecord>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.buffered.reserve(records.len());
            for record in records {
                if !self.first_offsets.keys().any(|tp| tp.partition == record.partition && tp.topic == record.record.topic) {
                    self.first_offsets.insert(TopicPartition::new(record.record.topic.clone(), record.partition), record.offset);
                }
                if let Some(row) = self.builder.row(record).map_err(ConnectError::Task)? {
                    self.buffered.push(row);
                }
            }
            self.feed_stream().await;
            Ok(())
        })
    }

    fn wants_flush(&self) -> bool {
        self.buffered.len() >= self.max_buffered
    }

    fn flush<'a>(&'a mut self, offsets: &'a HashMap<TopicPartition, i64>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let moved: HashMap<TopicPartition, i64> = offsets.iter().filter(|(tp, o)| self.committed.get(*tp) != Some(*o)).map(|(tp, o)| (tp.clone(), *o)).collect();
            if self.buffered.is_empty() && moved.is_empty() {
                return Ok(());
            }
            match self.write_all(&moved).await {
                Ok(()) => {
                    let capacity = self.buffered.capacity();
                    self.written.push(std::mem::replace(&mut self.buffered, Vec::with_capacity(capacity)));
                    self.first_offsets.clear();
                    self.committed.extend(moved);
                    Ok(())
                }
                Err(e) => {
                    // The transaction rolled back, DDL included: what we knew of tables may be wrong.
                    self.tables.clear();
                    Err(e)
                }
            }
        })
    }

    fn spent(&mut self) -> Option<Spent> {
        (!self.written.is_empty()).then(|| Box::new(std::mem::take(&mut self.written)) as Spent)
    }
}

/// Plain inserts start streaming once this many rows (or `max.buffered.records`) are held.
const STREAM_FROM_ROWS: usize = 1000;

impl PostgresSink {
    /// Streams what `put` buffered, opening the stream once enough plain inserts into a known
    /// table are held.
    async fn feed_stream(&mut self) {
        if self.stream.is_none() {
            let Some(first) = self.buffered.first() else { return };
            let known = self.tables.get(&*first.table).is_some_and(|info| first.shape.columns.iter().all(|(n, _)| info.sql_type(n).is_some()));
            if self.builder.upsert || first.delete || !known || self.buffered.len() < STREAM_FROM_ROWS.min(self.max_buffered) {
                return;
            }
            self.stream = Some(CopyStream::start(&self.pool, first));
        }
        if let Some(stream) = &mut self.stream {
            stream.feed(&self.buffered).await;
        }
    }

    async fn write_all(&mut self, offsets: &HashMap<TopicPartition, i64>) -> Result<()> {
        // The streamed transaction, with the rows it already holds; a stream that failed is
        // rolled back and every row written again here.
        let started = std::time::Instant::now();
        let mut streamed_tx = None;
        if let Some(stream) = self.stream.take() {
            let rows = stream.rows;
            match stream.finish().await {
                Ok(tx) => streamed_tx = Some((tx, rows)),
                Err(e) => tracing::debug!(error = %e, "the streamed COPY failed; writing the rows again"),
            }
        }
        let (mut tx, streamed) = match streamed_tx {
            Some(found) => found,
            None => (self.pool.begin().await.map_err(|e| database_error("could not start a transaction", &e))?, 0),
        };
        let stream_finished = started.elapsed();
        write::check_offsets(&mut tx, &self.offsets_table, &self.connector, &self.first_offsets).await?;
        // Held aside while the runs are written, and put back whatever happens (a failed
        // flush is retried with the same rows).
        let buffered = std::mem::take(&mut self.buffered);
        let written = self.write_runs(&mut tx, buffered.get(streamed..).unwrap_or_default()).await;
        self.buffered = buffered;
        written?;
        write::store_offsets(&mut tx, &self.offsets_table, &self.connector, offsets).await?;
        let offsets_stored = started.elapsed();
        tx.commit().await.map_err(|e| database_error("could not commit", &e))?;
        tracing::debug!(rows = self.buffered.len(), streamed, ?stream_finished, ?offsets_stored, took = ?started.elapsed(), "rows committed");
        Ok(())
    }

    async fn write_runs(&mut self, conn: &mut sqlx::PgConnection, rows: &[Row]) -> Result<()> {
        let mut start = 0;
        while start < rows.len() {
            let first = &rows[start];
            let end = start + rows[start..].iter().take_while(|r| r.same_statement(first)).count();
            let run = &rows[start..end];
            let info = self.table_for(conn, run).await?;
            write::write_run(conn, run, &info, self.builder.upsert).await?;
            start = end;
        }
        Ok(())
    }

    /// The run's table, created or widened as the settings allow, with every column the run
    /// writes.
    async fn table_for(&mut self, conn: &mut sqlx::PgConnection, run: &[Row]) -> Result<TableInfo> {
        let first = &run[0];
        let table: &TableName = &first.table;
        if !self.tables.contains_key(table) {
            let info = match table::describe(conn, table).await? {
                Some(info) => info,
                None if self.auto_create && !first.delete => {
                    table::create(conn, table, &first.shape.columns, &first.shape.pk).await?;
                    table::describe(conn, table).await?.ok_or_else(|| ConnectError::Task(format!("table {table} was created but cannot be found")))?
                }
                None => return Err(ConnectError::Task(format!("table {table} does not exist; create it or set auto.create=true"))),
            };
            self.tables.insert(table.clone(), info);
        }
        let info = self.tables.get(table).cloned().unwrap_or_default();
        let missing: Vec<_> = first.shape.columns.iter().filter(|(n, _)| info.sql_type(n).is_none()).cloned().collect();
        if missing.is_empty() {
            return Ok(info);
        }
        if !self.auto_evolve {
            return Err(table::missing_columns(table, &missing));
        }
        table::evolve(conn, table, &missing).await?;
        let info = table::describe(conn, table).await?.unwrap_or_default();
        self.tables.insert(table.clone(), info.clone());
        Ok(info)
    }
}
