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

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_plugins::{CapturedStderr, Grants, InputBatch, InputRecord, Plugin, PluginError, PluginInstance};
use kafka_protocol::ResponseError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use tokio::sync::{mpsc, watch};

use super::clients::{Clients, Committer};
use super::output::{check_response, led_here, partition_for, produce_request, LocalProduce, Placed};
use super::metrics::{RunnerLabel, TransformMetrics};
use super::process::{process, Processed, Write};
use super::records::input_records;
use super::{log_line, TRANSFORM_LOGS_TOPIC};
use crate::broker::{Isolation, Partition};
use crate::metadata::{MetadataCache, TransformDeployment, TransformState};

/// Most input records per plugin call.
const BATCH_RECORDS: usize = 1_000;
/// Most bytes read from the log at a time.
const READ_BYTES: usize = 1 << 20;
/// The wait before trying again after a failed write or commit.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How far past the committed offset a runner may read and write: what a crash may make it
/// process again, at most.
pub(crate) const UNCOMMITTED_LIMIT: i64 = 4 * BATCH_RECORDS as i64;

/// A write that failed, and the offset to process again from.
struct WriteFailed {
    from: i64,
    error: String,
}

/// A chunk whose writes are on their way.
struct InFlight {
    /// Its first offset.
    start: i64,
    /// The offset after it: committed once every write is acknowledged.
    end: i64,
    /// Writes to partitions led by other brokers, through the Kafka producer.
    deliveries: Vec<DeliveryFuture>,
    /// Writes to partitions led here: one in-process Produce request.
    local: Option<tokio::task::JoinHandle<Result<(), String>>>,
    outputs: u64,
}

/// A runner's moving parts between chunks.
struct Work {
    /// Taken out while a batch runs on the blocking pool.
    instance: Option<PluginInstance>,
    /// The next offset to read.
    position: i64,
    in_flight: VecDeque<InFlight>,
    /// The end of the acknowledged chunks, for the committer.
    acknowledged: watch::Sender<i64>,
    /// What the committer has committed.
    committed: watch::Receiver<i64>,
    /// Rotates the partition keyless outputs go to, one per batch.
    sticky: i32,
}

/// Commits the newest acknowledged offset whenever it moves (one commit at a time, so a
/// burst of chunks costs one commit), until the runner drops its sender; then commits the
/// last one.
async fn commit_loop(committer: Arc<Committer>, topic: String, partition: i32, mut acknowledged: watch::Receiver<i64>, committed: watch::Sender<i64>) {
    let mut done = *acknowledged.borrow();
    loop {
        let closed = acknowledged.changed().await.is_err();
        let latest = *acknowledged.borrow_and_update();
        let mut attempts = 0;
        while latest != done {
            let (c, t) = (Arc::clone(&committer), topic.clone());
            match blocking(move || c.commit(&t, partition, latest)).await {
                Ok(Ok(())) => {
                    done = latest;
                    committed.send_replace(latest);
                }
                Ok(Err(e)) => {
                    attempts += 1;
                    tracing::warn!(topic = %topic, partition, offset = latest, error = %e, "committing a transform's offset failed; trying again");
                    if closed && attempts >= 5 {
                        return;
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                }
                Err(_) => return,
            }
        }
        if closed {
            return;
        }
    }
}

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
    /// This broker.
    pub(crate) node_id: i32,
    /// The metadata image: output topics' partitions and their leaders.
    pub(crate) cache: Arc<MetadataCache>,
    /// The broker's produce path, for outputs to partitions led here.
    pub(crate) produce: LocalProduce,
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
        if matches!(level, "error" | "warn") {
            tracing::warn!(transform = %name, partition, "{message}");
        } else {
            tracing::info!(transform = %name, partition, "{message}");
        }
        self.publish(level, message);
    }

    /// Writes a line to the transform's log topic only.
    fn publish(&self, level: &str, message: &str) {
        let line = log_line(level, self.partition.index(), message);
        // Fire and forget: a log line is not worth holding up the records.
        let _ = self.clients.producer.send_result(FutureRecord::to(TRANSFORM_LOGS_TOPIC).key(self.deployment.name.as_bytes()).payload(&line));
    }

    /// What the plugin wrote to stderr (kept only when the deployment grants `stderr`), to
    /// the transform's log topic, a line each at level `stderr`.
    fn log_stderr(&self, stderr: &CapturedStderr) {
        for line in stderr.lines() {
            self.publish("stderr", &line);
        }
        if stderr.dropped_bytes > 0 {
            self.log("warn", &format!("the plugin wrote {} more bytes to stderr than one call may log ({} bytes); they were dropped", stderr.dropped_bytes, fjord_plugins::STDERR_BYTES));
        }
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
        let clients = Arc::clone(&self.clients);
        let group = self.deployment.group_id();
        let committer = match blocking(move || clients.committer(&group)).await {
            Ok(Ok(c)) => Arc::new(c),
            Ok(Err(e)) => return Exit::Failed(format!("could not create the offset committer: {e}")),
            Err(e) => return Exit::Failed(e),
        };
        let (c, t) = (Arc::clone(&committer), topic.clone());
        let position = match blocking(move || c.committed(&t, index)).await {
            Ok(Ok(Some(offset))) => offset,
            Ok(Ok(None)) => match self.partition.log_start_offset() {
                Ok(start) => start as i64,
                Err(e) => return Exit::Failed(e.to_string()),
            },
            Ok(Err(e)) => return Exit::Failed(format!("could not read the committed offset: {e}")),
            Err(e) => return Exit::Failed(e),
        };
        let (plugin, config) = (Arc::clone(&self.plugin), self.deployment.config.clone());
        // Checked when deployed; a name this broker does not know grants nothing.
        let grants = Grants::from_names(&self.deployment.allow).unwrap_or_default();
        let instance = match blocking(move || PluginInstance::granted(plugin, config, grants)).await {
            Ok(Ok(instance)) => {
                self.log_stderr(&instance.take_stderr());
                instance
            }
            Ok(Err(e @ PluginError::Config { .. })) => return self.stop_deployment(position, e.to_string()),
            Ok(Err(e)) => return Exit::Failed(e.to_string()),
            Err(e) => return Exit::Failed(e),
        };
        self.log("info", &format!("started on {topic}-{index} at offset {position}"));
        let (acknowledged, to_commit) = watch::channel(position);
        let (committed_tx, committed) = watch::channel(position);
        let commits = tokio::spawn(commit_loop(committer, topic.clone(), index, to_commit, committed_tx));
        let mut work = Work { instance: Some(instance), position, in_flight: VecDeque::new(), acknowledged, committed, sticky: index };
        let exit = self.pipeline(&mut work, stop).await;
        // Whatever was acknowledged is committed before the runner ends (the committer's
        // last pass runs once the sender is gone).
        drop(work);
        if tokio::time::timeout(Duration::from_secs(15), commits).await.is_err() {
            tracing::warn!(transform = %self.deployment.name, partition = index, "the last offset commit did not finish; those records will be processed again");
        }
        exit
    }

    /// The runner's loop: read, process, send; keep up to UNCOMMITTED_LIMIT offsets past the
    /// committed position in flight.
    async fn pipeline(&self, work: &mut Work, stop: &mut watch::Receiver<bool>) -> Exit {
        let topic = self.partition.topic().to_string();
        let index = self.partition.index();
        let label = self.label();
        'read: loop {
            if *stop.borrow() {
                let _ = self.complete_all(work).await;
                return Exit::Asked;
            }
            let mut high_watermark = self.partition.subscribe();
            let partition = Arc::clone(&self.partition);
            let position = work.position;
            let read = blocking(move || partition.read(position as u64, READ_BYTES, Isolation::ReadUncommitted)).await;
            let fetched = match read {
                Ok(Ok(fetched)) => fetched,
                Ok(Err(e)) if e.code == ResponseError::NotLeaderOrFollower => {
                    let _ = self.complete_all(work).await;
                    return Exit::NotLeader;
                }
                Ok(Err(e)) if e.code == ResponseError::OffsetOutOfRange => {
                    if let Err(failed) = self.complete_all(work).await {
                        self.retry_from(work, failed).await;
                        continue;
                    }
                    let (start, end) = match (self.partition.log_start_offset(), self.partition.log_end_offset()) {
                        (Ok(start), Ok(end)) => (start as i64, end as i64),
                        (Err(e), _) | (_, Err(e)) => return Exit::Failed(e.to_string()),
                    };
                    let resumed = if position < start { start } else { end };
                    self.log("error", &format!("offset {position} is not in the log ({start}..{end}); going on from {resumed}"));
                    work.position = resumed;
                    work.acknowledged.send_replace(resumed);
                    continue;
                }
                Ok(Err(e)) => return Exit::Failed(e.to_string()),
                Err(e) => return Exit::Failed(e),
            };
            self.metrics.lag.get_or_create(&label).set((fetched.high_watermark as i64 - *work.committed.borrow()).max(0));
            if fetched.records.is_empty() {
                // Caught up: finish what is in flight, then wait for more.
                if let Err(failed) = self.complete_all(work).await {
                    self.retry_from(work, failed).await;
                    continue;
                }
                tokio::select! {
                    _ = high_watermark.changed() => {}
                    _ = stop.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let (records, next) = match input_records(&fetched.records, position) {
                Ok(decoded) => decoded,
                Err(e) => return Exit::Failed(format!("a batch at offset {position} does not decode: {e}")),
            };
            let mut records = records.into_iter().peekable();
            while records.peek().is_some() {
                let chunk: Vec<InputRecord> = records.by_ref().take(BATCH_RECORDS).collect();
                let start = work.position;
                let end = chunk.last().map_or(next, |r| r.offset + 1);
                // A chunk starts at most UNCOMMITTED_LIMIT offsets past the committed position:
                // that bounds what a crash makes the transform process again.
                while start - *work.committed.borrow() >= UNCOMMITTED_LIMIT {
                    if work.in_flight.is_empty() {
                        let _ = tokio::time::timeout(Duration::from_secs(1), work.committed.changed()).await;
                    } else if let Err(failed) = self.complete_oldest(work).await {
                        self.retry_from(work, failed).await;
                        continue 'read;
                    }
                }
                let count = chunk.len() as u64;
                let deployment = Arc::clone(&self.deployment);
                let batch = InputBatch { topic: topic.clone(), partition: index, records: chunk };
                let Some(mut instance) = work.instance.take() else { return Exit::Failed("the plugin instance was lost".into()) };
                let (back, processed, stderr) = match blocking(move || {
                    let processed = process(&mut instance, &batch, &deployment);
                    let stderr = instance.take_stderr();
                    (instance, processed, stderr)
                })
                .await
                {
                    Ok(answer) => answer,
                    Err(e) => return Exit::Failed(e),
                };
                work.instance = Some(back);
                self.log_stderr(&stderr);
                self.metrics.records_in.get_or_create(&label).inc_by(count);
                let Processed { writes, failed, skipped, stop_at } = processed;
                self.metrics.failed_records.get_or_create(&label).inc_by(failed);
                for (offset, error) in &skipped {
                    self.log("error", &format!("skipped the record at offset {offset}: {error}"));
                }
                let dead_letters = writes.iter().filter(|w| matches!(w, Write::DeadLetter { .. })).count();
                if dead_letters > 0 {
                    self.log("error", &format!("{dead_letters} record(s) of offsets {start}..{end} failed and went to the dead-letter topic"));
                }
                let outputs = (writes.len() - dead_letters) as u64;
                let (deliveries, local) = match self.dispatch(&writes, work, start).await {
                    Ok(sent) => sent,
                    Err(failed) => {
                        self.retry_from(work, failed).await;
                        continue 'read;
                    }
                };
                let end = stop_at.as_ref().map_or(end, |(offset, _)| *offset);
                work.in_flight.push_back(InFlight { start, end, deliveries, local, outputs });
                work.position = end;
                if let Some((offset, reason)) = stop_at {
                    if let Err(failed) = self.complete_all(work).await {
                        self.retry_from(work, failed).await;
                        continue 'read;
                    }
                    return self.stop_deployment(offset, reason);
                }
            }
            work.position = work.position.max(next);
            if work.in_flight.is_empty() {
                // Only control records were left: nothing to wait for.
                work.acknowledged.send_replace(work.position);
            }
        }
    }

    /// Sends a batch's writes: to partitions led here as one in-process Produce request, to
    /// the others through the Kafka producer (when its queue is full, the oldest batch in
    /// flight is waited for first).
    async fn dispatch(&self, writes: &[Write], work: &mut Work, start: i64) -> Result<(Vec<DeliveryFuture>, Option<tokio::task::JoinHandle<Result<(), String>>>), WriteFailed> {
        let oldest = |work: &Work| work.in_flight.front().map_or(start, |c| c.start);
        let image = self.cache.image();
        work.sticky = work.sticky.wrapping_add(1);
        let mut local: BTreeMap<(String, i32), Vec<Placed<'_>>> = BTreeMap::new();
        let mut deliveries = Vec::new();
        for write in writes {
            let (topic, key, _, _) = write.parts();
            let partitions = image.topics.get(topic).map_or(0, |t| t.partitions.len() as i32);
            if partitions == 0 {
                return Err(WriteFailed { from: oldest(work), error: format!("topic {topic:?} does not exist") });
            }
            let partition = partition_for(key, partitions, work.sticky);
            if led_here(&image, self.node_id, topic, partition) {
                local.entry((topic.to_string(), partition)).or_default().push(self.placed(write));
                continue;
            }
            let mut record = self.record(write).partition(partition);
            loop {
                match self.clients.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        if work.in_flight.is_empty() {
                            await_all(&mut deliveries).await.map_err(|e| WriteFailed { from: start, error: e.to_string() })?;
                        } else {
                            self.complete_oldest(work).await?;
                        }
                    }
                    Err((e, _)) => return Err(WriteFailed { from: oldest(work), error: e.to_string() }),
                }
            }
        }
        if local.is_empty() {
            return Ok((deliveries, None));
        }
        let request = produce_request(&local, 30_000).map_err(|error| WriteFailed { from: oldest(work), error })?;
        let produce = Arc::clone(&self.produce);
        Ok((deliveries, Some(tokio::spawn(async move { check_response(produce(request).await) }))))
    }

    /// A write as the in-process produce path takes it.
    fn placed<'a>(&self, write: &'a Write) -> Placed<'a> {
        let (_, key, value, timestamp) = write.parts();
        Placed { key, value, headers: self.headers(write), timestamp }
    }

    /// Waits for the oldest chunk in flight; once all its writes are acknowledged, its end is
    /// the offset to commit. A failed write fails from that chunk on.
    async fn complete_oldest(&self, work: &mut Work) -> Result<(), WriteFailed> {
        let Some(mut chunk) = work.in_flight.pop_front() else { return Ok(()) };
        if let Some(local) = chunk.local.take() {
            let answer = local.await.unwrap_or_else(|e| Err(format!("the produce task failed: {e}")));
            answer.map_err(|error| WriteFailed { from: chunk.start, error })?;
        }
        await_all(&mut chunk.deliveries).await.map_err(|e| WriteFailed { from: chunk.start, error: e.to_string() })?;
        self.metrics.records_out.get_or_create(&self.label()).inc_by(chunk.outputs);
        work.acknowledged.send_replace(chunk.end);
        Ok(())
    }

    /// Waits for every chunk in flight.
    async fn complete_all(&self, work: &mut Work) -> Result<(), WriteFailed> {
        while !work.in_flight.is_empty() {
            self.complete_oldest(work).await?;
        }
        Ok(())
    }

    /// After a failed write: drop what is in flight and read again from the first offset not
    /// acknowledged (at least once: some of it may be written twice).
    async fn retry_from(&self, work: &mut Work, failed: WriteFailed) {
        self.log("error", &format!("writing outputs failed, processing again from offset {}: {}", failed.from, failed.error));
        work.in_flight.clear();
        work.position = failed.from;
        tokio::time::sleep(RETRY_AFTER).await;
    }

    fn stop_deployment(&self, offset: i64, reason: String) -> Exit {
        self.log("error", &format!("stopping transform (on-error stop) at offset {offset}: {reason}"));
        let state = TransformState::Stopped { partition: self.partition.index(), offset, reason };
        let _ = self.stops.send((self.deployment.name.clone(), state));
        Exit::Stopped
    }

    /// A write's headers: the plugin's (or the input record's, for a dead letter, with why and
    /// where it came from).
    fn headers(&self, write: &Write) -> Vec<(String, Option<Bytes>)> {
        let own = |headers: &[fjord_plugins::Header]| -> Vec<(String, Option<Bytes>)> { headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect() };
        match write {
            Write::Output { record, .. } => own(&record.headers),
            Write::DeadLetter { record, error, .. } => {
                let mut headers = own(&record.headers);
                headers.extend([
                    ("fjord.transform".to_string(), Some(Bytes::copy_from_slice(self.deployment.name.as_bytes()))),
                    ("fjord.error".to_string(), Some(Bytes::copy_from_slice(error.as_bytes()))),
                    ("fjord.source.topic".to_string(), Some(Bytes::copy_from_slice(self.partition.topic().as_bytes()))),
                    ("fjord.source.partition".to_string(), Some(Bytes::from(self.partition.index().to_string()))),
                    ("fjord.source.offset".to_string(), Some(Bytes::from(record.offset.to_string()))),
                ]);
                headers
            }
        }
    }

    /// A write as the Kafka producer takes it.
    fn record<'a>(&self, write: &'a Write) -> FutureRecord<'a, [u8], [u8]> {
        let (topic, key, value, timestamp) = write.parts();
        let headers = self.headers(write).iter().fold(OwnedHeaders::new(), |all, (key, value)| all.insert(Header { key, value: value.as_deref() }));
        let mut out = FutureRecord::to(topic).timestamp(timestamp).headers(headers);
        if let Some(key) = key {
            out = out.key(key);
        }
        if let Some(value) = value {
            out = out.payload(value);
        }
        out
    }
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
