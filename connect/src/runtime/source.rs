//! Running a source task: poll records, transform and convert them, hand them to the
//! producer, and store their source offsets once the cluster has acknowledged every record
//! before them (records dropped by a transform or skipped as errors count as done).
//!
//! Offsets are flushed every `offset.flush.interval.ms` and when the run ends (pause, stop,
//! restart, shutdown), so a clean stop re-sends nothing; after a crash, at most the records
//! since the last flush are sent again (at-least-once, as Kafka Connect without transactions).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::watch;

use crate::connector::SourceTask;
use crate::converter::Converter;
use crate::data;
use crate::error::{ConnectError, Result};
use crate::offsets::{partition_key, OffsetEntry, OffsetStore};
use crate::record::{Header, Record, SourceRecord};
use crate::runtime::errors::{dead_letter_headers, ErrorPolicy, Stage};
use crate::runtime::{Control, Exit, TaskMetrics};
use crate::transforms::{Chain, Position};

/// Everything a source run needs besides the task.
pub(crate) struct SourceRun {
    pub connector: String,
    pub task: usize,
    pub producer: FutureProducer,
    pub key: Converter,
    pub value: Converter,
    pub transforms: Chain,
    pub errors: ErrorPolicy,
    pub metrics: TaskMetrics,
    pub offsets: Arc<dyn OffsetStore>,
    pub flush_interval: Duration,
    pub control: watch::Receiver<Control>,
}

struct InFlight {
    entry: OffsetEntry,
    topic: String,
    /// A record of the connector's own (not a dead letter), counted when acknowledged.
    written: bool,
    /// `None`: nothing was sent (dropped by a transform, or a skipped error).
    delivery: Option<DeliveryFuture>,
}

/// A record ready for the producer.
struct Outgoing<'a> {
    topic: &'a str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: &'a [Header],
    partition: Option<i32>,
    timestamp: Option<i64>,
}

/// Runs `task` until its control changes (`Ok`) or it fails (`Err`).
pub(crate) async fn run(mut task: Box<dyn SourceTask>, run: SourceRun) -> Result<Exit> {
    let started = *run.control.borrow();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut last_flush = Instant::now();
    loop {
        if *run.control.borrow() != started {
            commit(&mut task, &run, &mut in_flight).await?;
            return Ok(Exit::Control);
        }
        let mut retry = run.errors.retry("poll");
        let records = loop {
            match task.poll().await {
                Ok(records) => break records,
                Err(e) => retry.after(e).await?,
            }
        };
        if !records.is_empty() {
            run.metrics.metrics.source_records_polled.get_or_create(&run.metrics.label).inc_by(records.len() as u64);
            run.metrics.metrics.batch_size.get_or_create(&run.metrics.label).observe(records.len() as f64);
        }
        for record in records {
            handle(&run, record, &mut in_flight).await?;
        }
        if in_flight.len() >= 100_000 || last_flush.elapsed() >= run.flush_interval {
            commit(&mut task, &run, &mut in_flight).await?;
            last_flush = Instant::now();
        }
    }
}

async fn handle(run: &SourceRun, record: SourceRecord, in_flight: &mut VecDeque<InFlight>) -> Result<()> {
    let SourceRecord { source_partition, source_offset, record } = record;
    let entry = (source_partition, source_offset);
    let original = run.errors.tolerate_all.then(|| record.clone());
    let topic = record.topic.clone();
    let record = match run.transforms.apply(record, Position::default()) {
        Ok(Some(record)) => record,
        Ok(None) => {
            in_flight.push_back(InFlight { entry, topic, written: false, delivery: None });
            return Ok(());
        }
        Err(e) => return failed(run, entry, original, Stage::Transformation, e, in_flight).await,
    };
    let key = match run.key.encode(&record.key) {
        Ok(k) => k,
        Err(e) => return failed(run, entry, original, Stage::KeyConverter, e, in_flight).await,
    };
    let value = match run.value.encode(&record.value) {
        Ok(v) => v,
        Err(e) => return failed(run, entry, original, Stage::ValueConverter, e, in_flight).await,
    };
    let out = Outgoing { topic: &record.topic, key, value, headers: &record.headers, partition: record.partition, timestamp: record.timestamp };
    let delivery = send(run, out, in_flight).await?;
    in_flight.push_back(InFlight { entry, topic: record.topic, written: true, delivery: Some(delivery) });
    Ok(())
}

/// A record that failed at `stage`: the task fails, or (errors.tolerance=all) the record is
/// skipped or written to the dead letter topic.
async fn failed(run: &SourceRun, entry: OffsetEntry, original: Option<Record>, stage: Stage, error: ConnectError, in_flight: &mut VecDeque<InFlight>) -> Result<()> {
    let Some(original) = original.filter(|_| run.errors.tolerate_all) else {
        return Err(ConnectError::Task(format!("{error} (record from source partition {}; errors.tolerance=all would skip it)", serde_json::Value::Object(entry.0))));
    };
    if run.errors.log {
        tracing::warn!(connector = %run.connector, error = %error, "skipping a record (errors.tolerance=all)");
    }
    let Some(dlq) = &run.errors.dead_letter_topic else {
        run.metrics.metrics.records_skipped.get_or_create(&run.metrics.label).inc();
        in_flight.push_back(InFlight { entry, topic: original.topic, written: false, delivery: None });
        return Ok(());
    };
    let origin = [
        ("topic", original.topic.clone()),
        ("source.partition", serde_json::Value::Object(entry.0.clone()).to_string()),
        ("source.offset", serde_json::Value::Object(entry.1.clone()).to_string()),
    ];
    let mut headers = original.headers.clone();
    headers.extend(dead_letter_headers(&run.connector, run.task, stage, &error, &origin));
    let as_bytes = |d: &data::Data| (!d.is_null()).then(|| match &d.value {
        data::Value::String(s) => s.clone().into_bytes(),
        data::Value::Bytes(b) => b.clone(),
        other => data::to_json_bytes(other),
    });
    let out = Outgoing { topic: dlq, key: as_bytes(&original.key), value: as_bytes(&original.value), headers: &headers, partition: None, timestamp: original.timestamp };
    let delivery = send(run, out, in_flight).await?;
    run.metrics.metrics.dead_letters.get_or_create(&run.metrics.label).inc();
    in_flight.push_back(InFlight { entry, topic: dlq.clone(), written: false, delivery: Some(delivery) });
    Ok(())
}

async fn send(run: &SourceRun, out: Outgoing<'_>, in_flight: &mut VecDeque<InFlight>) -> Result<DeliveryFuture> {
    let mut headers = OwnedHeaders::new_with_capacity(out.headers.len());
    for (name, value) in out.headers {
        headers = headers.insert(KafkaHeader { key: name, value: value.as_deref() });
    }
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(out.topic).headers(headers);
    if let Some(key) = out.key.as_deref() {
        record = record.key(key);
    }
    if let Some(value) = out.value.as_deref() {
        record = record.payload(value);
    }
    if let Some(partition) = out.partition {
        record = record.partition(partition);
    }
    if let Some(ts) = out.timestamp {
        record = record.timestamp(ts);
    }
    loop {
        match run.producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                // The producer's queue is full: wait for the oldest record, then try again.
                record = back;
                match in_flight.pop_front() {
                    Some(oldest) => {
                        if oldest.written {
                            run.metrics.metrics.source_records_written.get_or_create(&run.metrics.label).inc();
                        }
                        let entry = acknowledged(oldest).await?;
                        run.offsets.put(&run.connector, &[entry]);
                    }
                    None => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            Err((e, _)) => return Err(ConnectError::Task(format!("could not send a record to topic {}: {e}", out.topic))),
        }
    }
}

async fn acknowledged(sent: InFlight) -> Result<OffsetEntry> {
    let Some(delivery) = sent.delivery else { return Ok(sent.entry) };
    match delivery.await {
        Ok(Ok(_)) => Ok(sent.entry),
        Ok(Err((e, _))) => Err(ConnectError::Task(format!(
            "the cluster did not accept a record for topic {}: {e} (does the topic exist, or may the cluster create it?)",
            sent.topic
        ))),
        Err(_) => Err(ConnectError::Task("the producer shut down before the record was acknowledged".into())),
    }
}

/// Waits for every record in flight, stores the newest acknowledged offset of each source
/// partition, and tells the task.
async fn commit(task: &mut Box<dyn SourceTask>, run: &SourceRun, in_flight: &mut VecDeque<InFlight>) -> Result<()> {
    let mut newest: BTreeMap<String, OffsetEntry> = BTreeMap::new();
    let mut written = 0;
    while let Some(sent) = in_flight.pop_front() {
        written += u64::from(sent.written);
        let entry = acknowledged(sent).await?;
        newest.insert(partition_key(&entry.0), entry);
    }
    run.metrics.metrics.source_records_written.get_or_create(&run.metrics.label).inc_by(written);
    if newest.is_empty() {
        return Ok(());
    }
    let entries: Vec<OffsetEntry> = newest.into_values().collect();
    run.offsets.put(&run.connector, &entries);
    let store = run.offsets.clone();
    crate::durable::blocking("offset flush", move || store.flush()).await?;
    task.commit(&entries).await
}
