//! `fjord bench postgres-sink | postgres-cdc | file-source`: the connectors measured beside a
//! baseline taken in the same run, against any Kafka-compatible cluster and the PostgreSQL at
//! `--postgres`. The connectors run in this process (a standalone worker with a throw-away
//! offsets file), exactly as `fjord connect standalone` runs them.
//!
//! - postgres-sink: rows/s of the sink (inserts, exactly-once offsets) beside a plain `COPY` of
//!   the same rows into the same database, before and after the sink (the ratio is against
//!   the two runs' combined rate);
//! - postgres-cdc: changes/s and latency from commit to topic (p50/p99) at a steady rate of
//!   single-row transactions;
//! - file-source: lines/s of the file source beside producing the same lines with one producer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fjord_connect::config::ConnectorConfig;
use fjord_connect::converter::Converter;
use fjord_connect::offsets::file::FileOffsetStore;
use fjord_connect::runtime::{Cluster, Worker, WorkerSettings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use super::latency::{Latencies, Percentiles};
use crate::client::{ClientArgs, parse_duration};

/// What every connector benchmark takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    /// Give up after this long
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    #[arg(long, short = 'o', value_enum, default_value_t = crate::output::Output::Table)]
    pub output: crate::output::Output,
}

/// The PostgreSQL a benchmark uses.
#[derive(Debug, Clone, clap::Args)]
pub struct PostgresArgs {
    /// The database (tables named fjord_bench_* are created and dropped in it)
    #[arg(long, value_name = "URL", env = "FJORD_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres: String,
}

/// `fjord bench postgres-sink`.
#[derive(Debug, clap::Args)]
pub struct SinkBenchArgs {
    /// Rows to write
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// The sink's max.buffered.records: rows per transaction
    #[arg(long, default_value_t = 20_000)]
    pub batch_rows: u64,
    /// Partitions of the topic, and the sink's tasks.max (one task per partition, as a Kafka
    /// Connect user sets it); the baseline COPY stays one stream
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    #[command(flatten)]
    pub postgres: PostgresArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `fjord bench postgres-cdc`.
#[derive(Debug, clap::Args)]
pub struct CdcBenchArgs {
    /// Changes per second (single-row INSERT transactions)
    #[arg(long, default_value_t = 5000)]
    pub rate: u64,
    /// How long to write
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    #[command(flatten)]
    pub postgres: PostgresArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `fjord bench file-source`.
#[derive(Debug, clap::Args)]
pub struct FileBenchArgs {
    /// Lines in the file
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// Bytes per line
    #[arg(long, default_value_t = 100)]
    pub line_size: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct Pair {
    benchmark: &'static str,
    items: u64,
    connector_per_sec: f64,
    baseline_per_sec: f64,
    ratio: f64,
    baseline: &'static str,
    /// Each run of the baseline, when it ran more than once (rows/s).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    baseline_runs_per_sec: Vec<f64>,
}

#[derive(Debug, Serialize)]
struct CdcResult {
    benchmark: &'static str,
    target_rate: u64,
    changes: u64,
    written_per_sec: f64,
    delivered_per_sec: f64,
    latency_ms: Percentiles,
}

fn print<T: Serialize>(common: &CommonArgs, value: &T, human: impl FnOnce()) -> anyhow::Result<()> {
    if common.output == crate::output::Output::Json {
        crate::output::print_json(value)
    } else {
        human();
        Ok(())
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("could not start the async runtime")
}

/// A worker in this process with a throw-away offsets file.
fn worker(client: &ClientArgs, dir: &std::path::Path) -> anyhow::Result<Worker> {
    let offsets = FileOffsetStore::open(&dir.join("offsets.json"))?;
    let cluster = Cluster { bootstrap_servers: client.bootstrap_server.clone(), properties: client.properties.clone() };
    let settings = WorkerSettings { offset_flush_interval: Duration::from_millis(500), value_converter: Converter::Json { schemas: true }, ..WorkerSettings::default() };
    Ok(Worker::new(cluster, settings, Arc::new(offsets)))
}

fn config(pairs: &[(&str, &str)]) -> anyhow::Result<ConnectorConfig> {
    Ok(ConnectorConfig::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())?)
}

/// A name no other benchmark run uses: the process id and a counter.
fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Waits for `done` (polled every 50 ms) until `timeout`.
async fn until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done().await? {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Fails unless `topic` holds `rows` records: a producer's flush also ends when its records
/// expired unsent (no broker there), which must not pass for a load written.
fn check_acknowledged(client: &ClientArgs, topic: &str, rows: u64, timeout: Duration) -> anyhow::Result<()> {
    let consumer: BaseConsumer = client.config().create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut stored: i64 = 0;
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        stored += high - low;
    }
    if u64::try_from(stored).unwrap_or(0) != rows {
        bail!("the cluster at {} holds {stored} of the {rows} records produced to {topic}; is the broker running there?", client.bootstrap_server);
    }
    Ok(())
}

pub fn postgres_sink(args: SinkBenchArgs) -> anyhow::Result<()> {
    let topic = unique("fjord-bench-sink");
    let (copy_table, sink_table) = (unique("fjord_bench_copy"), unique("fjord_bench_sink"));
    let row = |i: u64| (i, format!("customer {}", i % 1000), format!("{}.{:02}", i % 10_000, i % 100));
    if args.partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    super::ensure_topic(&args.common.client, &super::TopicArgs { topic: topic.clone(), partitions: args.partitions }, args.common.timeout)?;
    // The records, produced first (not timed).
    let producer: BaseProducer = args.common.client.config().set("linger.ms", "20").set("queue.buffering.max.messages", "1000000").create()?;
    let schema = r#"{"type":"struct","optional":false,"fields":[{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true},{"field":"amount","type":"string","optional":true}]}"#;
    for i in 0..args.rows {
        let (id, name, amount) = row(i);
        let value = format!(r#"{{"schema":{schema},"payload":{{"id":{id},"name":"{name}","amount":"{amount}"}}}}"#);
        loop {
            match producer.send(BaseRecord::<(), _>::to(&topic).payload(&value)) {
                Ok(()) => break,
                Err((_, _)) => producer.poll(Duration::from_millis(10)),
            }
        }
    }
    producer.flush(args.common.timeout)?;
    check_acknowledged(&args.common.client, &topic, args.rows, args.common.timeout)?;
    eprintln!("Produced {} rows to {topic}.", args.rows);
    let dir = tempfile_dir()?;
    runtime()?.block_on(async {
        let mut conn = PgConnection::connect(&args.postgres.postgres).await.with_context(|| format!("could not connect to {}", args.postgres.postgres))?;
        for table in [&copy_table, &sink_table] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE TABLE {table} (id bigint, name text, amount numeric(12,2))"))).execute(&mut conn).await?;
        }
        // Baseline: COPY of the same rows in one transaction.
        let mut text = String::with_capacity(usize::try_from(args.rows).unwrap_or(0) * 32);
        for i in 0..args.rows {
            let (id, name, amount) = row(i);
            text.push_str(&format!("{id}\t{name}\t{amount}\n"));
        }
        let copy_before = copy_into(&mut conn, &copy_table, &text).await?;
        eprintln!("COPY: {} rows in {copy_before:.2} s.", args.rows);

        let worker = worker(&args.common.client, &dir)?;
        let started = Instant::now();
        worker
            .create(config(&[
                ("name", &sink_table),
                ("connector.class", "postgres-sink"),
                ("connection.url", &args.postgres.postgres),
                ("topics", &topic),
                ("table.name.format", &sink_table),
                ("key.converter", "string"),
                ("max.buffered.records", &args.batch_rows.to_string()),
                ("tasks.max", &args.partitions.to_string()),
            ])?)
            .await?;
        let rows = i64::try_from(args.rows).unwrap_or(i64::MAX);
        // Timed from the first committed batch: joining the consumer group (the broker's
        // group.initial.rebalance.delay.ms) is start-up, not throughput.
        let mut first: Option<(Instant, i64)> = None;
        until("the sink to write every row", args.common.timeout, async || {
            let stored: Option<i64> = sqlx::query_scalar("SELECT sum(next_offset)::int8 FROM __fjord_connect_offsets WHERE connector = $1").bind(&sink_table).fetch_one(&mut conn).await.unwrap_or(None);
            let stored = stored.unwrap_or(0);
            if stored > 0 && first.is_none() {
                first = Some((Instant::now(), stored));
            }
            Ok(stored >= rows)
        })
        .await?;
        let startup_secs = first.map_or(0.0, |(at, _)| at.duration_since(started).as_secs_f64());
        let (first_at, first_rows) = first.unwrap_or((started, 0));
        let sink_secs = first_at.elapsed().as_secs_f64();
        let timed_rows = (rows - first_rows) as f64;
        eprintln!("postgres-sink: first batch committed {startup_secs:.2} s after the start; then {} rows in {sink_secs:.2} s.", rows - first_rows);
        worker.shutdown().await;
        // The baseline again, into an empty table: one COPY on this machine swings by more
        // than a third from run to run, so the ratio is taken against both runs together.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("TRUNCATE {copy_table}"))).execute(&mut conn).await?;
        let copy_after = copy_into(&mut conn, &copy_table, &text).await?;
        eprintln!("COPY again: {} rows in {copy_after:.2} s.", args.rows);
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {sink_table}"))).fetch_one(&mut conn).await?;
        for table in [&copy_table, &sink_table] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&mut conn).await?;
        }
        sqlx::query("DELETE FROM __fjord_connect_offsets WHERE connector = $1").bind(&sink_table).execute(&mut conn).await?;
        if count != rows {
            bail!("the sink wrote {count} rows, not {rows}");
        }
        let copy_rate = args.rows as f64 / ((copy_before + copy_after) / 2.0);
        let sink_rate = timed_rows / sink_secs;
        let result = Pair { benchmark: "postgres-sink", items: args.rows, connector_per_sec: sink_rate, baseline_per_sec: copy_rate, ratio: sink_rate / copy_rate, baseline: "COPY", baseline_runs_per_sec: vec![args.rows as f64 / copy_before, args.rows as f64 / copy_after] };
        print(&args.common, &result, || {
            println!("{:<28} {:>12}", "", "rows/s");
            println!("{:<28} {:>12.0}", "postgres-sink (insert)", result.connector_per_sec);
            println!("{:<28} {:>12.0}", "COPY (baseline, both runs)", result.baseline_per_sec);
            println!("{:<28} {:>12.0}", "  COPY before the sink", result.baseline_runs_per_sec[0]);
            println!("{:<28} {:>12.0}", "  COPY after the sink", result.baseline_runs_per_sec[1]);
            println!("ratio (sink ÷ COPY): {:.2}", result.ratio);
        })
    })
}

/// Seconds a `COPY` of `text` into `table` takes, in one transaction.
async fn copy_into(conn: &mut PgConnection, table: &str, text: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
    copy.send(text.as_bytes()).await?;
    copy.finish().await?;
    Ok(started.elapsed().as_secs_f64())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(unique("fjord-bench-connect"));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    Ok(dir)
}

pub fn postgres_cdc(args: CdcBenchArgs) -> anyhow::Result<()> {
    let table = unique("fjord_bench_cdc");
    let prefix = unique("fjordbench");
    let topic = format!("{prefix}.public.{table}");
    let dir = tempfile_dir()?;
    let total = args.rate * args.duration.as_secs().max(1);
    runtime()?.block_on(async {
        let mut conn = PgConnection::connect(&args.postgres.postgres).await.with_context(|| format!("could not connect to {}", args.postgres.postgres))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE TABLE {table} (id bigserial PRIMARY KEY, payload text, created timestamptz NOT NULL DEFAULT clock_timestamp())"))).execute(&mut conn).await?;
        let worker = worker(&args.common.client, &dir)?;
        let name = table.clone();
        worker
            .create(config(&[
                ("name", &name),
                ("connector.class", "postgres-cdc"),
                ("connection.url", &args.postgres.postgres),
                ("topic.prefix", &prefix),
                ("table.include.list", &format!("public.{table}")),
                ("snapshot.mode", "never"),
                ("value.converter.schemas.enable", "false"),
                ("producer.override.linger.ms", "1"),
            ])?)
            .await?;
        // The topic exists and the reader reads it by assignment (no group to join), so the
        // first changes are not held up by start-up; the stream starts before writing.
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> = args.common.client.config().create()?;
        let topics = [rdkafka::admin::NewTopic::new(&topic, 1, rdkafka::admin::TopicReplication::Fixed(1))];
        admin.create_topics(&topics, &rdkafka::admin::AdminOptions::new()).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let consumer: BaseConsumer = args.common.client.config().set("group.id", unique("fjord-bench-cdc")).create()?;
        let mut assignment = rdkafka::TopicPartitionList::new();
        assignment.add_partition_offset(&topic, 0, rdkafka::Offset::Beginning)?;
        consumer.assign(&assignment)?;
        let reader = std::thread::spawn(move || -> (Latencies, u64, Instant) {
            let mut latencies = Latencies::new();
            let mut seen = 0;
            let mut last = Instant::now();
            let deadline = Instant::now() + Duration::from_secs(600);
            while seen < total && Instant::now() < deadline {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let Some(payload) = m.payload() else { continue };
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else { continue };
                    let created = v["after"]["created"].as_str().and_then(|c| humantime::parse_rfc3339(c).ok());
                    if let Some(created) = created {
                        let lag = std::time::SystemTime::now().duration_since(created).unwrap_or_default();
                        latencies.record_nanos(u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX));
                    }
                    seen += 1;
                    last = Instant::now();
                }
            }
            (latencies, seen, last)
        });
        // The writer: single-row transactions at the rate, from 8 connections (commits wait for
        // their WAL flush, as by default: the stream sends only flushed WAL).
        let started = Instant::now();
        let mut writers = Vec::new();
        let connections = 8u64;
        for w in 0..connections {
            let url = args.postgres.postgres.clone();
            let table = table.clone();
            let per = total / connections + u64::from(w < total % connections);
            let interval = Duration::from_secs_f64(connections as f64 / args.rate as f64);
            writers.push(tokio::spawn(async move {
                let mut conn = PgConnection::connect(&url).await?;
                let sql = format!("INSERT INTO {table} (payload) VALUES ($1)");
                let begin = Instant::now();
                for i in 0..per {
                    let due = begin + interval.mul_f64(i as f64);
                    tokio::time::sleep_until(due.into()).await;
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(format!("change {w}-{i}")).execute(&mut conn).await?;
                }
                Ok::<_, sqlx::Error>(())
            }));
        }
        for w in writers {
            w.await??;
        }
        let written_secs = started.elapsed().as_secs_f64();
        let (latencies, seen, last) = tokio::task::spawn_blocking(move || reader.join()).await?.map_err(|_| anyhow::anyhow!("the reader failed"))?;
        let delivered_secs = last.duration_since(started).as_secs_f64();
        worker.delete(&name).await?;
        worker.shutdown().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {table}"))).execute(&mut conn).await?;
        let _ = sqlx::query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1").bind(format!("fjord_{name}")).execute(&mut conn).await;
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP PUBLICATION IF EXISTS fjord_{name}"))).execute(&mut conn).await;
        if seen < total {
            bail!("only {seen} of {total} changes reached {topic}");
        }
        let result = CdcResult { benchmark: "postgres-cdc", target_rate: args.rate, changes: total, written_per_sec: total as f64 / written_secs, delivered_per_sec: total as f64 / delivered_secs, latency_ms: latencies.percentiles() };
        print(&args.common, &result, || {
            println!("changes: {total} at a target of {}/s: written {:.0}/s, delivered {:.0}/s", args.rate, result.written_per_sec, result.delivered_per_sec);
            let p = result.latency_ms;
            println!("commit → topic latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", p.p50, p.p99, p.max);
        })
    })
}

pub fn file_source(args: FileBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let path = dir.join("lines.txt");
    let mut text = String::with_capacity(usize::try_from(args.lines).unwrap_or(0) * (args.line_size + 1));
    for i in 0..args.lines {
        let line = format!("line {i} ");
        text.push_str(&line);
        text.push_str(&"x".repeat(args.line_size.saturating_sub(line.len())));
        text.push('\n');
    }
    std::fs::write(&path, &text).with_context(|| format!("could not write {}", path.display()))?;
    drop(text);
    let (plain, sourced) = (unique("fjord-bench-produce"), unique("fjord-bench-file"));
    // Baseline: one producer sending the file's lines (what `fjord produce` does).
    let started = Instant::now();
    let producer: BaseProducer = args.common.client.config().set("linger.ms", "5").set("enable.idempotence", "true").set("compression.type", "lz4").set("queue.buffering.max.messages", "1000000").create()?;
    let file = std::fs::read(&path)?;
    for line in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        loop {
            match producer.send(BaseRecord::<(), _>::to(&plain).payload(line)) {
                Ok(()) => break,
                Err(_) => producer.poll(Duration::from_millis(5)),
            }
        }
    }
    producer.flush(args.common.timeout)?;
    let produce_secs = started.elapsed().as_secs_f64();
    check_acknowledged(&args.common.client, &plain, args.lines, args.common.timeout)?;
    eprintln!("producer: {} lines in {produce_secs:.2} s.", args.lines);
    let lines = args.lines;
    let connector_secs = runtime()?.block_on(async {
        let worker = worker(&args.common.client, &dir)?;
        let started = Instant::now();
        let name = sourced.clone();
        worker
            .create(config(&[("name", &name), ("connector.class", "file-source"), ("file", &path.display().to_string()), ("topic", &sourced), ("value.converter", "string"), ("batch.size", "20000")])?)
            .await?;
        let probe: BaseConsumer = args.common.client.config().create()?;
        let topic = sourced.clone();
        until("the file source to send every line", args.common.timeout, async || {
            let Ok(metadata) = probe.fetch_metadata(Some(&topic), Duration::from_secs(5)) else { return Ok(false) };
            let mut end = 0;
            for t in metadata.topics() {
                for p in t.partitions() {
                    if let Ok((_, high)) = probe.fetch_watermarks(&topic, p.id(), Duration::from_secs(5)) {
                        end += high;
                    }
                }
            }
            Ok(u64::try_from(end).unwrap_or(0) >= lines)
        })
        .await?;
        let secs = started.elapsed().as_secs_f64();
        worker.shutdown().await;
        Ok::<_, anyhow::Error>(secs)
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let n = args.lines as f64;
    let result = Pair { benchmark: "file-source", items: args.lines, connector_per_sec: n / connector_secs, baseline_per_sec: n / produce_secs, ratio: produce_secs / connector_secs, baseline: "producer", baseline_runs_per_sec: Vec::new() };
    print(&args.common, &result, || {
        println!("{:<28} {:>12}", "", "lines/s");
        println!("{:<28} {:>12.0}", "file-source", result.connector_per_sec);
        println!("{:<28} {:>12.0}", "one producer (baseline)", result.baseline_per_sec);
        println!("ratio (file-source ÷ producer): {:.2}", result.ratio);
    })
}
