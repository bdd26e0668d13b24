//! Running a source task: poll records, convert them, hand them to the producer, and store
//! their source offsets once the cluster has acknowledged every record before them.
//!
//! Offsets are flushed every `offset.flush.interval.ms` and when the run ends (pause, stop,
//! restart, shutdown), so a clean stop re-sends nothing; after a crash, at most the records
//! since the last flush are sent again (at-least-once, as Kafka Connect without transactions).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::watch;

use crate::connector::SourceTask;
use crate::converter::Converter;
use crate::error::{ConnectError, Result};
use crate::offsets::{partition_key, OffsetEntry, OffsetStore};
use crate::record::SourceRecord;
use crate::runtime::{Control, Exit};

/// Everything a source run needs besides the task.
pub(crate) struct SourceRun {
    pub connector: String,
    pub producer: FutureProducer,
    pub key: Converter,
    pub value: Converter,
    pub offsets: Arc<dyn OffsetStore>,
    pub flush_interval: Duration,
    pub control: watch::Receiver<Control>,
}

struct InFlight {
    entry: OffsetEntry,
    topic: String,
    delivery: DeliveryFuture,
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
        let records = task.poll().await?;
        for record in records {
            send(&run, record, &mut in_flight).await?;
        }
        if in_flight.len() >= 100_000 || last_flush.elapsed() >= run.flush_interval {
            commit(&mut task, &run, &mut in_flight).await?;
            last_flush = Instant::now();
        }
    }
}

async fn send(run: &SourceRun, record: SourceRecord, in_flight: &mut VecDeque<InFlight>) -> Result<()> {
    let SourceRecord { source_partition, source_offset, record } = record;
    let key = run.key.encode(&record.key)?;
    let value = run.value.encode(&record.value)?;
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (name, value) in &record.headers {
        headers = headers.insert(Header { key: name, value: value.as_deref() });
    }
    let mut out: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&record.topic).headers(headers);
    if let Some(key) = key.as_deref() {
        out = out.key(key);
    }
    if let Some(value) = value.as_deref() {
        out = out.payload(value);
    }
    if let Some(partition) = record.partition {
        out = out.partition(partition);
    }
    if let Some(ts) = record.timestamp {
        out = out.timestamp(ts);
    }
    loop {
        match run.producer.send_result(out) {
            Ok(delivery) => {
                in_flight.push_back(InFlight { entry: (source_partition, source_offset), topic: record.topic.clone(), delivery });
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                // The producer's queue is full: wait for the oldest record, then try again.
                out = back;
                match in_flight.pop_front() {
                    Some(oldest) => {
                        let entry = acknowledged(oldest).await?;
                        run.offsets.put(&run.connector, &[entry]);
                    }
                    None => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            Err((e, _)) => return Err(ConnectError::Task(format!("could not send a record to topic {}: {e}", record.topic))),
        }
    }
}

async fn acknowledged(sent: InFlight) -> Result<OffsetEntry> {
    match sent.delivery.await {
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
    while let Some(sent) = in_flight.pop_front() {
        let entry = acknowledged(sent).await?;
        newest.insert(partition_key(&entry.0), entry);
    }
    if newest.is_empty() {
        return Ok(());
    }
    let entries: Vec<OffsetEntry> = newest.into_values().collect();
    run.offsets.put(&run.connector, &entries);
    let store = run.offsets.clone();
    tokio::task::spawn_blocking(move || store.flush()).await.map_err(|e| ConnectError::Task(format!("offset flush stopped: {e}")))??;
    task.commit(&entries).await
}
