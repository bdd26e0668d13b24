//! [`Runner`]: one deployment on one input partition, on the broker leading that partition.
//!
//! ```text
//!  committed offset (the transform's consumer group) ─► position
//!  loop: read whole batches at position from the local log, up to the high watermark
//!        ─► input records ─► plugin (batches of BATCH_RECORDS, on the blocking pool)
//!        ─► writes: outputs and dead letters through the Kafka producer (acks=all, idempotent)
//!        ─► every write acknowledged ─► commit the next offset ─► position
//! ```
//!
//! At least once: a crash between writing and committing processes the uncommitted tail
//! again, nothing more. A runner ends when asked, when its broker stops leading the
//! partition, when the deployment stops on a failed record, or on an error the manager
//! answers by starting it again.

use std::sync::Arc;
use std::time::Duration;

use fjord_plugins::{InputRecord, Plugin, PluginError, PluginInstance};
use kafka_protocol::ResponseError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use tokio::sync::{mpsc, watch};

use super::clients::{Clients, Committer};
use super::metrics::{RunnerLabel, TransformMetrics};
use super::process::{process, Processed, Write};
use super::records::input_records;
use super::{log_line, TRANSFORM_LOGS_TOPIC};
use crate::broker::{Isolation, Partition};
use crate::metadata::{TransformDeployment, TransformState};

/// Most input records per plugin call.
const BATCH_RECORDS: usize = 1_000;
/// Most bytes read from the log at a time.
const READ_BYTES: usize = 1 << 20;
/// The wait before trying again after a failed write or commit.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A deployment stopping itself: its name and the state to record.
pub(crate) type StopRequest = (String, TransformState);

/// Why a runner ended.
#[derive(Debug)]
pub(crate) enum Exit {
    /// It was asked to.
    Asked,
    /// This broker no longer leads the partition.
    NotLeader,
    /// The deployment stopped on a failed record (recorded in the metadata).
    Stopped,
    /// Something failed; the manager starts it again.
    Failed(String),
}

/// One deployment on one input partition.
pub(crate) struct Runner {
    pub(crate) deployment: Arc<TransformDeployment>,
    pub(crate) plugin: Arc<Plugin>,
    pub(crate) partition: Arc<Partition>,
    pub(crate) clients: Arc<Clients>,
    pub(crate) metrics: TransformMetrics,
    pub(crate) stops: mpsc::UnboundedSender<StopRequest>,
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.map_err(|e| format!("a blocking task failed: {e}"))
}

impl Runner {
    fn label(&self) -> RunnerLabel {
        RunnerLabel { transform: self.deployment.name.clone(), partition: self.partition.index() }
    }

    /// Writes a line to the transform's log topic (and the broker's log).
    fn log(&self, level: &str, message: &str) {
        let name = &self.deployment.name;
        let partition = self.partition.index();
        if level == "error" {
            tracing::warn!(transform = %name, partition, "{message}");
        } else {
            tracing::info!(transform = %name, partition, "{message}");
        }
        let line = log_line(level, partition, message);
        // Fire and forget: a log line is not worth holding up the records.
        let _ = self.clients.producer.send_result(FutureRecord::to(TRANSFORM_LOGS_TOPIC).key(name.as_bytes()).payload(&line));
    }

    /// Runs until told to stop (`stop` becomes true) or until the runner cannot go on.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) -> Exit {
        let exit = self.run_inner(&mut stop).await;
        self.metrics.forget(&self.label());
        if let Exit::Failed(reason) = &exit {
            self.log("error", &format!("runner failed, starting again: {reason}"));
        }
        exit
    }

    async fn run_inner(&self, stop: &mut watch::Receiver<bool>) -> Exit {
        let topic = self.partition.topic().to_string();
        let index = self.partition.index();
        let label = self.label();
        let clients = Arc::clone(&self.clients);
        let group = self.deployment.group_id();
        let committer = match blocking(move || clients.committer(&group)).await {
            Ok(Ok(c)) => Arc::new(c),
            Ok(Err(e)) => return Exit::Failed(format!("could not create the offset committer: {e}")),
            Err(e) => return Exit::Failed(e),
        };
        let (c, t) = (Arc::clone(&committer), topic.clone());
        let mut position = match blocking(move || c.committed(&t, index)).await {
            Ok(Ok(Some(offset))) => offset,
            Ok(Ok(None)) => match self.partition.log_start_offset() {
                Ok(start) => start as i64,
                Err(e) => return Exit::Failed(e.to_string()),
            },
            Ok(Err(e)) => return Exit::Failed(format!("could not read the committed offset: {e}")),
            Err(e) => return Exit::Failed(e),
        };
        let (plugin, config) = (Arc::clone(&self.plugin), self.deployment.config.clone());
        let mut instance = match blocking(move || PluginInstance::new(plugin, config)).await {
            Ok(Ok(instance)) => instance,
            Ok(Err(e @ PluginError::Config { .. })) => return self.stop_deployment(position, e.to_string()),
            Ok(Err(e)) => return Exit::Failed(e.to_string()),
            Err(e) => return Exit::Failed(e),
        };
        self.log("info", &format!("started on {topic}-{index} at offset {position}"));
        loop {
            if *stop.borrow() {
                return Exit::Asked;
            }
            let mut high_watermark = self.partition.subscribe();
            let partition = Arc::clone(&self.partition);
            let read = blocking(move || partition.read(position as u64, READ_BYTES, Isolation::ReadUncommitted)).await;
            let fetched = match read {
                Ok(Ok(fetched)) => fetched,
                Ok(Err(e)) if e.code == ResponseError::NotLeaderOrFollower => return Exit::NotLeader,
                Ok(Err(e)) if e.code == ResponseError::OffsetOutOfRange => {
                    let (start, end) = match (self.partition.log_start_offset(), self.partition.log_end_offset()) {
                        (Ok(start), Ok(end)) => (start as i64, end as i64),
                        (Err(e), _) | (_, Err(e)) => return Exit::Failed(e.to_string()),
                    };
                    let resumed = if position < start { start } else { end };
                    self.log("error", &format!("offset {position} is not in the log ({start}..{end}); going on from {resumed}"));
                    position = resumed;
                    continue;
                }
                Ok(Err(e)) => return Exit::Failed(e.to_string()),
                Err(e) => return Exit::Failed(e),
            };
            self.metrics.lag.get_or_create(&label).set((fetched.high_watermark as i64 - position).max(0));
            if fetched.records.is_empty() {
                tokio::select! {
                    _ = high_watermark.changed() => {}
                    _ = stop.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let (records, next) = match input_records(&topic, index, &fetched.records, position) {
                Ok(decoded) => decoded,
                Err(e) => return Exit::Failed(format!("a batch at offset {position} does not decode: {e}")),
            };
            let mut chunks = Vec::new();
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                chunks.push(records.by_ref().take(BATCH_RECORDS).collect::<Vec<InputRecord>>());
            }
            let mut done = true;
            for chunk in chunks {
                let chunk_end = chunk.last().map_or(next, |r| r.offset + 1);
                let count = chunk.len() as u64;
                let deployment = Arc::clone(&self.deployment);
                let (back, processed) = match blocking(move || {
                    let processed = process(&mut instance, &chunk, &deployment);
                    (instance, processed)
                })
                .await
                {
                    Ok(answer) => answer,
                    Err(e) => return Exit::Failed(e),
                };
                instance = back;
                self.metrics.records_in.get_or_create(&label).inc_by(count);
                let Processed { writes, failed, skipped, stop_at } = processed;
                self.metrics.failed_records.get_or_create(&label).inc_by(failed);
                for (offset, error) in &skipped {
                    self.log("error", &format!("skipped the record at offset {offset}: {error}"));
                }
                let dead_letters = writes.iter().filter(|w| matches!(w, Write::DeadLetter { .. })).count();
                let outputs = writes.len() - dead_letters;
                if let Err(e) = self.write(writes).await {
                    self.log("error", &format!("writing the outputs of offsets {position}..{chunk_end} failed, trying again: {e}"));
                    tokio::time::sleep(RETRY_AFTER).await;
                    done = false;
                    break;
                }
                self.metrics.records_out.get_or_create(&label).inc_by(outputs as u64);
                if dead_letters > 0 {
                    self.log("error", &format!("{dead_letters} record(s) of offsets {position}..{chunk_end} failed and went to the dead-letter topic"));
                }
                if let Some((offset, reason)) = stop_at {
                    if let Err(e) = self.commit(&committer, &topic, index, offset).await {
                        return Exit::Failed(e);
                    }
                    return self.stop_deployment(offset, reason);
                }
                if let Err(e) = self.commit(&committer, &topic, index, chunk_end).await {
                    self.log("error", &format!("committing offset {chunk_end} failed, trying again: {e}"));
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                position = chunk_end;
            }
            if done && position < next {
                // Only control records were left.
                position = next;
            }
        }
    }

    async fn commit(&self, committer: &Arc<Committer>, topic: &str, partition: i32, offset: i64) -> Result<(), String> {
        let (c, t) = (Arc::clone(committer), topic.to_string());
        blocking(move || c.commit(&t, partition, offset)).await?.map_err(|e| e.to_string())
    }

    fn stop_deployment(&self, offset: i64, reason: String) -> Exit {
        self.log("error", &format!("stopping transform (on-error stop) at offset {offset}: {reason}"));
        let state = TransformState::Stopped { partition: self.partition.index(), offset, reason };
        let _ = self.stops.send((self.deployment.name.clone(), state));
        Exit::Stopped
    }

    /// Writes every record and waits until each is acknowledged.
    async fn write(&self, writes: Vec<Write>) -> Result<(), KafkaError> {
        let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(writes.len());
        for write in &writes {
            let mut record = self.record(write);
            loop {
                match self.clients.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        await_all(&mut pending).await?;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        }
        await_all(&mut pending).await
    }

    fn record<'a>(&self, write: &'a Write) -> FutureRecord<'a, [u8], [u8]> {
        match write {
            Write::Output { topic, record, timestamp } => {
                let headers = record.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref()));
                future_record(topic, record.key.as_deref(), record.value.as_deref(), headers, record.timestamp.unwrap_or(*timestamp))
            }
            Write::DeadLetter { topic, record, error } => {
                let (partition, offset) = (record.partition.to_string(), record.offset.to_string());
                let headers = record.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())).chain([
                    ("fjord.transform", Some(self.deployment.name.as_bytes())),
                    ("fjord.error", Some(error.as_bytes())),
                    ("fjord.source.topic", Some(record.topic.as_bytes())),
                    ("fjord.source.partition", Some(partition.as_bytes())),
                    ("fjord.source.offset", Some(offset.as_bytes())),
                ]);
                future_record(topic, record.key.as_deref(), record.value.as_deref(), headers, record.timestamp)
            }
        }
    }
}

/// A record for the producer (the headers are copied into it).
fn future_record<'a, 'h>(
    topic: &'a str,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: impl Iterator<Item = (&'h str, Option<&'h [u8]>)>,
    timestamp: i64,
) -> FutureRecord<'a, [u8], [u8]> {
    let headers = headers.fold(OwnedHeaders::new(), |all, (key, value)| all.insert(Header { key, value }));
    let mut out = FutureRecord::to(topic).timestamp(timestamp).headers(headers);
    if let Some(key) = key {
        out = out.key(key);
    }
    if let Some(value) = value {
        out = out.payload(value);
    }
    out
}

/// Waits for every delivery; the first failure is the answer.
async fn await_all(pending: &mut Vec<DeliveryFuture>) -> Result<(), KafkaError> {
    for delivery in pending.drain(..) {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e),
            Err(_) => return Err(KafkaError::Canceled),
        }
    }
    Ok(())
}
