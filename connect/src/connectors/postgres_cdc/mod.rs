//! `postgres-cdc`: every committed change of the included tables, in commit order, as
//! Debezium-compatible change events (`envelope.rs`) on `PREFIX.SCHEMA.TABLE` topics, keyed by
//! primary key. Logical decoding with the built-in `pgoutput` plugin: the publication and the
//! replication slot are created when missing (`setup.rs`); with `snapshot.mode=initial` the
//! tables are first read whole (`snapshot.rs`), then the stream (`stream.rs`) continues from
//! the slot with no gap and no overlap.
//!
//! Offsets: each record's source offset holds the LSN to restart from — the end of the last
//! transaction whose records were all acknowledged — and, inside a transaction, which of its
//! changes it is, so a restart neither loses nor repeats changes. The slot's confirmed
//! position moves only to LSNs whose records the cluster has acknowledged.

mod envelope;
mod pgoutput;
mod setup;
mod snapshot;
mod stream;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgwire_replication::ReplicationConfig;
use serde_json::{Value as Json, json};
use sqlx::PgPool;

use crate::config::def::{ConfigDef, KeyDef, KeyType};
use crate::connector::{BoxFuture, ConnectorKind, SourceTask, TaskContext};
use crate::connectors::postgres::decimal::DecimalMode;
use crate::connectors::postgres::{self, TableName};
use crate::data::Data;
use crate::error::{ConnectError, Result};
use crate::record::{Record, SourceMap, SourceRecord, source_map};
use crate::registry::{ConnectorPlugin, TaskStarter};

use envelope::{SourceInfo, TableSchema};
use pgoutput::Cell;
use setup::{TypeNames, Visibility};
use snapshot::Snapshot;
use stream::{Change, Committed, Stream};

pub const PLUGIN: ConnectorPlugin = ConnectorPlugin {
    class: "postgres-cdc",
    aliases: &["io.debezium.connector.postgresql.PostgresConnector"],
    kind: ConnectorKind::Source,
    version: env!("CARGO_PKG_VERSION"),
    definition,
    task_configs: crate::registry::single_task,
    start: TaskStarter::Source(start),
    keeps_own_offsets: false,
};

fn definition() -> ConfigDef {
    let mut keys = postgres::connection_keys("The database: postgres://user@host:5432/db (the user needs REPLICATION).").to_vec();
    keys.extend([
        KeyDef::required("topic.prefix", KeyType::String, "Topics are PREFIX.SCHEMA.TABLE.").in_group("Capture"),
        KeyDef::optional("table.include.list", KeyType::List, None, "The tables to capture, as schema.table,...; empty: every table (the publication is then FOR ALL TABLES, which needs a superuser).").in_group("Capture"),
        KeyDef::optional("slot.name", KeyType::String, None, "The replication slot (created when missing; default fjord_ and the connector's name).").in_group("Capture"),
        KeyDef::optional("publication.name", KeyType::String, None, "The publication (created when missing; default fjord_ and the connector's name).").in_group("Capture"),
        KeyDef::optional("snapshot.mode", KeyType::String, Some("initial"), "initial: read the tables whole first, then stream; never: only stream changes from the slot's position.")
            .one_of(&["initial", "never"])
            .in_group("Capture"),
        KeyDef::optional("max.batch.size", KeyType::Int, Some("2048"), "The most changes one poll returns (snapshot rows or streamed changes).").in_group("Capture"),
        KeyDef::optional(
            "decimal.handling.mode",
            KeyType::String,
            Some("precise"),
            "numeric columns as precise: Connect Decimal (bytes, with the column's scale; a numeric without a declared scale as Debezium's VariableScaleDecimal), double: 64-bit floats, string: their text. As Debezium's setting.",
        )
        .one_of(&["precise", "double", "string"])
        .in_group("Capture"),
    ]);
    ConfigDef::new(keys)
}

fn identifier(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// Where a restart resumes, from the stored offset.
#[derive(Debug, Clone, Default)]
struct Resume {
    /// The LSN to stream from.
    lsn: u64,
    /// Inside a transaction: (its end LSN, how many of its changes were already sent).
    partial: Option<(u64, usize)>,
    snapshot_done: bool,
    visibility: Option<Visibility>,
}

impl Resume {
    fn from_offset(offset: &SourceMap) -> Option<Self> {
        let lsn = offset.get("lsn")?.as_u64()?;
        let partial = match (offset.get("txn_end").and_then(Json::as_u64), offset.get("event").and_then(Json::as_u64)) {
            (Some(end), Some(event)) => Some((end, usize::try_from(event).ok()? + 1)),
            _ => None,
        };
        let visibility = match (offset.get("snapshot_xids").and_then(Json::as_str), offset.get("snapshot_wal").and_then(Json::as_u64)) {
            (Some(text), Some(wal)) => Visibility::parse(text, wal).ok(),
            _ => None,
        };
        let snapshot_done = offset.get("snapshot").and_then(Json::as_str) != Some("running");
        Some(Self { lsn, partial, snapshot_done, visibility })
    }
}

enum Phase {
    Snapshot { snapshot: Box<Snapshot>, held: Option<Box<SourceRecord>>, slot_lsn: u64 },
    Streaming(Stream),
}

struct CdcTask {
    pool: PgPool,
    prefix: String,
    decimals: DecimalMode,
    db: String,
    replication: ReplicationConfig,
    phase: Option<Phase>,
    schemas: HashMap<u32, TableSchema>,
    types: TypeNames,
    resume: Resume,
    max_batch: usize,
    metrics: crate::runtime::TaskMetrics,
    /// The newest LSN among the offsets of records handed to the runtime, and the newest the
    /// cluster acknowledged: while they are equal nothing is in flight.
    sent_lsn: u64,
    acknowledged_lsn: u64,
    /// The newest position confirmed to the server.
    confirmed_lsn: u64,
}

fn replication_config(url: &str, user: Option<&str>, password: Option<&str>, slot: &str, publication: &str) -> Result<ReplicationConfig> {
    let parsed = url::Url::parse(url).map_err(|e| ConnectError::Config(format!("connection.url: {e}")))?;
    let decode = |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default();
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
    let user = user.map(str::to_string).unwrap_or_else(|| decode(parsed.username()));
    let password = password.map(str::to_string).or_else(|| parsed.password().map(decode)).unwrap_or_default();
    let database = parsed.path().trim_start_matches('/').to_string();
    let tls = postgres::replication_tls(&parsed, &host)?;
    Ok(ReplicationConfig::new(host, if user.is_empty() { "postgres".to_string() } else { user }, password, database, slot, publication)
        .with_port(parsed.port().unwrap_or(5432))
        .with_tls(tls)
        .with_options("-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3")
        .with_application_name("fjord-connect-cdc"))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}


fn start(ctx: TaskContext) -> BoxFuture<'static, Result<Box<dyn SourceTask>>> {
    Box::pin(async move {
        let def = definition();
        let s = def.settings(&ctx.config)?;
        let prefix = s.require("topic.prefix")?.to_string();
        let default_name = format!("fjord_{}", identifier(&ctx.connector));
        let slot = s.string("slot.name").filter(|v| !v.is_empty()).map_or(default_name.clone(), str::to_string);
        let publication = s.string("publication.name").filter(|v| !v.is_empty()).map_or(default_name, str::to_string);
        let tables: Vec<TableName> = s.list("table.include.list").into_iter().map(TableName::parse).collect();
        let initial = s.string("snapshot.mode") != Some("never");
        let max_batch = usize::try_from(s.long("max.batch.size")?.unwrap_or(2048).max(1)).unwrap_or(2048);
        let decimals = DecimalMode::parse(s.string("decimal.handling.mode"));
        let options = postgres::connect_options(&s)?.options([("DateStyle", "ISO"), ("TimeZone", "UTC"), ("IntervalStyle", "postgres"), ("extra_float_digits", "3")]);
        let db = options.get_database().unwrap_or("postgres").to_string();
        let replication = replication_config(s.require("connection.url")?, s.string("connection.user"), s.string("connection.password"), &slot, &publication)?;
        let pool = postgres::pool(options, 2).await?;
        setup::check_server(&pool).await?;
        setup::ensure_publication(&pool, &publication, &tables).await?;
        let tables = if tables.is_empty() { published_tables(&pool, &publication).await? } else { tables };

        let stored = ctx.offsets.iter().find(|(p, _)| p.get("server").and_then(Json::as_str) == Some(prefix.as_str())).and_then(|(_, o)| Resume::from_offset(o));
        let existing = setup::slot_position(&pool, &slot).await?;
        let slot_lsn = match existing {
            Some(lsn) => lsn,
            None => {
                if stored.as_ref().is_some_and(|r| r.snapshot_done) {
                    tracing::warn!(slot = %slot, "the replication slot is gone; changes since the last run may be missing — creating it again{}", if initial { " and taking a new snapshot" } else { "" });
                }
                setup::create_slot(&pool, &slot).await?
            }
        };
        let fresh = Resume { lsn: slot_lsn, snapshot_done: !initial, ..Resume::default() };
        // A new slot with a snapshot to take: nothing stored before it applies.
        let resume = if existing.is_none() && initial { fresh } else { stored.unwrap_or(fresh) };
        let phase = if initial && !resume.snapshot_done {
            if existing.is_some() {
                tracing::info!("the last snapshot did not finish; taking it again");
            }
            Phase::Snapshot { snapshot: Box::new(Snapshot::begin(&pool, &tables, &prefix, decimals).await?), held: None, slot_lsn }
        } else {
            Phase::Streaming(Stream::start(replication.clone(), resume.lsn.max(slot_lsn)).await?)
        };
        let task: Box<dyn SourceTask> = Box::new(CdcTask { pool, prefix, decimals, db, replication, phase: Some(phase), schemas: HashMap::new(), types: TypeNames::default(), resume, max_batch, metrics: ctx.metrics.clone(), sent_lsn: 0, acknowledged_lsn: 0, confirmed_lsn: 0 });
        Ok(task)
    })
}

async fn published_tables(pool: &PgPool, publication: &str) -> Result<Vec<TableName>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2")
        .bind(publication)
        .fetch_all(pool)
        .await
        .map_err(|e| postgres::database_error("could not read the publication's tables", &e))?;
    Ok(rows.into_iter().map(|(schema, table)| TableName { schema: Some(schema), table }).collect())
}

impl CdcTask {
    fn partition(&self) -> SourceMap {
        source_map(json!({"server": self.prefix}))
    }

    /// The offset fields that say which transactions the snapshot showed, while a restart
    /// could still meet them.
    fn visibility_fields(&self, offset: &mut SourceMap) {
        if let Some(v) = &self.resume.visibility {
            offset.insert("snapshot_xids".into(), json!(v.text()));
            offset.insert("snapshot_wal".into(), json!(v.wal_lsn));
        }
    }

    async fn poll_snapshot(&mut self, mut snapshot: Box<Snapshot>, held: Option<Box<SourceRecord>>, slot_lsn: u64) -> Result<Vec<SourceRecord>> {
        self.resume.visibility = Some(snapshot.visibility.clone());
        let mut out: Vec<SourceRecord> = held.map(|h| *h).into_iter().collect();
        match snapshot.next(self.max_batch).await? {
            Some(rows) => {
                let now = now_ms();
                for (index, cells) in rows {
                    let Some(schema) = snapshot.schema(index) else { continue };
                    let row = schema.row(&cells).map_err(ConnectError::Task)?;
                    let source = SourceInfo { db: self.db.clone(), ts_ms: now, snapshot: "true", tx_id: None, lsn: i64::try_from(slot_lsn).ok() };
                    let mut offset = source_map(json!({"lsn": slot_lsn, "snapshot": "running"}));
                    self.visibility_fields(&mut offset);
                    let key = schema.key(&row);
                    let value = schema.event("r", None, Some(row), &source, now);
                    out.push(SourceRecord { source_partition: self.partition(), source_offset: offset, record: Record { timestamp: Some(now), ..Record::new(schema.topic.clone(), key, value) } });
                }
                // The newest row waits for the next poll: only the snapshot's last record may
                // say it is complete.
                let held = out.pop().map(Box::new);
                self.phase = Some(Phase::Snapshot { snapshot, held, slot_lsn });
                Ok(out)
            }
            None => {
                tracing::info!("snapshot complete; streaming changes");
                if let Some(last) = out.last_mut() {
                    last.source_offset.insert("snapshot".into(), json!("completed"));
                    envelope::mark_last_snapshot_record(&mut last.record.value);
                }
                self.resume.snapshot_done = true;
                self.phase = Some(Phase::Streaming(Stream::start(self.replication.clone(), slot_lsn).await?));
                Ok(out)
            }
        }
    }

    async fn poll_stream(&mut self, mut stream: Stream) -> Result<Vec<SourceRecord>> {
        let arrived = stream.next(Duration::from_millis(200), self.max_batch).await;
        let server_end = stream.server_end;
        self.phase = Some(Phase::Streaming(stream));
        let arrived = arrived?;
        for relation in arrived.relations {
            let types = self.types.of(&self.pool, &relation.columns).await?;
            let schema = TableSchema::new(&self.prefix, &relation, &types, self.decimals);
            self.schemas.insert(relation.oid, schema);
        }
        let mut out = Vec::new();
        let newest = arrived.transactions.last().map(|t| t.commit_ms);
        for txn in arrived.transactions {
            self.records_of(txn, &mut out)?;
        }
        let sent = out.iter().filter_map(|r| r.source_offset.get("lsn").and_then(Json::as_u64)).max();
        self.sent_lsn = self.sent_lsn.max(sent.unwrap_or(0));
        if out.is_empty() {
            self.confirm_idle();
        }
        // Bytes: WAL the slot still holds for us; seconds: how old the newest change passed on
        // in this poll was (0 when nothing arrived).
        let behind = server_end.saturating_sub(self.resume.lsn.max(self.confirmed_lsn));
        let seconds = newest.map_or(0.0, |ms| (now_ms() - ms).max(0) as f64 / 1000.0);
        self.metrics.set_lag(behind, seconds);
        Ok(out)
    }

    /// With nothing in flight and no transaction half received, confirms the position of the
    /// server's last keepalive, so that the slot lets go of WAL written for tables this
    /// connector does not capture (otherwise a quiet captured table would keep the server's
    /// WAL growing for as long as other tables change).
    fn confirm_idle(&mut self) {
        let Some(Phase::Streaming(stream)) = &self.phase else { return };
        if self.resume.visibility.as_ref().is_some_and(|v| stream.idle_end > v.wal_lsn) {
            // Every transaction from now on commits after the snapshot's position.
            self.resume.visibility = None;
        }
        let settled = self.acknowledged_lsn >= self.sent_lsn && self.resume.partial.is_none() && self.resume.visibility.is_none();
        tracing::trace!(settled, idle_end = stream.idle_end, confirmed = self.confirmed_lsn, "idle replication stream");
        if settled && stream.idle_end > self.confirmed_lsn.max(self.resume.lsn) {
            stream.confirm(stream.idle_end);
            self.confirmed_lsn = stream.idle_end;
        }
    }

    /// The records of one committed transaction, skipping what the snapshot showed or a
    /// previous run already sent.
    fn records_of(&mut self, txn: Committed, out: &mut Vec<SourceRecord>) -> Result<()> {
        let already = self.resume.visibility.as_ref().is_some_and(|v| v.shows(txn.xid, txn.commit_lsn));
        if let Some(v) = &self.resume.visibility
            && txn.commit_lsn > v.wal_lsn {
                // Past the snapshot: no later transaction can be in it.
                self.resume.visibility = None;
            }
        let skip = match self.resume.partial.take() {
            Some((end, sent)) if end == txn.end_lsn => sent,
            Some(other) if other.0 > txn.end_lsn => {
                self.resume.partial = Some(other);
                usize::MAX
            }
            _ => 0,
        };
        let start_lsn = self.resume.lsn;
        self.resume.lsn = self.resume.lsn.max(txn.end_lsn);
        if already || skip == usize::MAX {
            return Ok(());
        }
        let now = now_ms();
        let mut events: Vec<(String, Data, Data)> = Vec::new();
        for change in &txn.changes {
            self.events_of(change, &txn, now, &mut events)?;
        }
        let count = events.len();
        for (i, (topic, key, value)) in events.into_iter().enumerate().skip(skip) {
            let mut offset = if i + 1 == count { source_map(json!({"lsn": txn.end_lsn})) } else { source_map(json!({"lsn": start_lsn, "txn_end": txn.end_lsn, "event": i})) };
            self.visibility_fields(&mut offset);
            out.push(SourceRecord { source_partition: self.partition(), source_offset: offset, record: Record { timestamp: Some(txn.commit_ms), ..Record::new(topic, key, value) } });
        }
        Ok(())
    }

    fn events_of(&self, change: &Change, txn: &Committed, now: i64, events: &mut Vec<(String, Data, Data)>) -> Result<()> {
        let schema_of = |oid: &u32| self.schemas.get(oid).ok_or_else(|| ConnectError::Task(format!("a change for relation {oid}, which the stream did not describe")));
        let source = |lsn: u64| SourceInfo { db: self.db.clone(), ts_ms: txn.commit_ms, snapshot: "false", tx_id: Some(i64::from(txn.xid)), lsn: i64::try_from(lsn).ok() };
        let row = |schema: &TableSchema, cells: &[Cell]| schema.row(cells).map_err(ConnectError::Task);
        match change {
            Change::Insert { relation, new, lsn } => {
                let schema = schema_of(relation)?;
                let after = row(schema, new)?;
                events.push((schema.topic.clone(), schema.key(&after), schema.event("c", None, Some(after), &source(*lsn), now)));
            }
            Change::Update { relation, old, new, lsn } => {
                let schema = schema_of(relation)?;
                let after = row(schema, new)?;
                let before = old.as_deref().map(|cells| row(schema, cells)).transpose()?;
                events.push((schema.topic.clone(), schema.key(&after), schema.event("u", before, Some(after), &source(*lsn), now)));
            }
            Change::Delete { relation, old, lsn } => {
                let schema = schema_of(relation)?;
                let before = row(schema, old)?;
                let key = schema.key(&before);
                events.push((schema.topic.clone(), key.clone(), schema.event("d", Some(before), None, &source(*lsn), now)));
                // As Debezium: a tombstone follows, so compaction can drop the key.
                events.push((schema.topic.clone(), key, Data::NULL));
            }
            Change::Truncate { relations, lsn } => {
                for oid in relations {
                    if let Some(schema) = self.schemas.get(oid) {
                        events.push((schema.topic.clone(), Data::NULL, schema.event("t", None, None, &source(*lsn), now)));
                    }
                }
            }
        }
        Ok(())
    }
}

impl SourceTask for CdcTask {
    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<SourceRecord>>> {
        Box::pin(async move {
            match self.phase.take() {
                Some(Phase::Snapshot { snapshot, held, slot_lsn }) => self.poll_snapshot(snapshot, held, slot_lsn).await,
                Some(Phase::Streaming(stream)) => self.poll_stream(stream).await,
                None => {
                    // An earlier poll failed part-way: stream again from where the records stand.
                    let stream = Stream::start(self.replication.clone(), self.resume.lsn).await?;
                    self.poll_stream(stream).await
                }
            }
        })
    }

    fn commit<'a>(&'a mut self, acknowledged: &'a [(SourceMap, SourceMap)]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let lsn = acknowledged.iter().filter_map(|(_, o)| o.get("lsn").and_then(Json::as_u64)).max();
            if let Some(lsn) = lsn {
                self.acknowledged_lsn = self.acknowledged_lsn.max(lsn);
            }
            if let (Some(lsn), Some(Phase::Streaming(stream))) = (lsn, &self.phase)
                && lsn > self.confirmed_lsn {
                    stream.confirm(lsn);
                    self.confirmed_lsn = lsn;
                }
            Ok(())
        })
    }
}
