//! Running a sink task: read the connector's topics in its consumer group, convert and
//! transform records, hand them to the task, and every `offset.flush.interval.ms` (and when
//! the run ends) have the task make them durable before committing the offsets to the group.
//!
//! A task that keeps its own offsets (with the data, for exactly-once) gets no record below
//! them, whatever the group's committed offsets say. Records that cannot be converted or
//! transformed fail the task, or with `errors.tolerance=all` are skipped or written as they
//! were to the dead letter topic (acknowledged before their offsets are committed).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};

use crate::connector::{SinkTask, Spent};
use crate::converter::Converter;
use crate::error::{ConnectError, Result};
use crate::record::{Header, Record, SinkRecord, TopicPartition};
use crate::runtime::errors::{dead_letter_headers, ErrorPolicy, Stage};
use crate::runtime::fetch_queue::{FetchQueue, Incoming, SinkContext};
use crate::runtime::{Control, Exit, TaskMetrics};
use crate::transforms::{Chain, Position};

/// The most records handed to the task in one `put`.
const MAX_BATCH: usize = 2000;

pub(crate) struct SinkRun {
    pub connector: String,
    pub task: usize,
    pub consumer: Arc<BaseConsumer<SinkContext>>,
    /// For dead letters, when a dead letter topic is set.
    pub producer: Option<FutureProducer>,
    pub topics: Topics,
    pub key: Converter,
    pub value: Converter,
    pub transforms: Chain,
    pub errors: ErrorPolicy,
    pub metrics: TaskMetrics,
    pub flush_interval: Duration,
    pub control: watch::Receiver<Control>,
}

/// What a sink reads.
#[derive(Debug, Clone)]
pub(crate) enum Topics {
    Names(Vec<String>),
    Regex(String),
}

/// Where reading stands: next offsets, and dead letters not yet acknowledged. The reader
/// thread fills one per batch it decodes; the task's loop adds each to its own as it puts
/// the batch's records.
#[derive(Default)]
struct Progress {
    next: HashMap<TopicPartition, i64>,
    dead_letters: Vec<DeliveryFuture>,
}

/// A batch the reader thread decoded: the records for `put`, and the progress they make.
#[derive(Default)]
struct Decoded {
    records: Vec<SinkRecord>,
    progress: Progress,
    /// The partition of the last message taken and its next offset, kept out of
    /// `progress.next` until the partition changes or the batch ends (one lookup per run of a
    /// partition's messages rather than one per message).
    current: Option<(TopicPartition, i64)>,
}

impl Decoded {
    /// Records that `message`'s partition has been read up to `next`; the partition's name.
    fn advance(&mut self, topic: &str, partition: i32, next: i64) -> &TopicPartition {
        if self.current.as_ref().is_some_and(|(tp, _)| tp.partition != partition || tp.topic != topic)
            && let Some((tp, next)) = self.current.take()
        {
            self.progress.next.insert(tp, next);
        }
        let current = self.current.get_or_insert_with(|| (TopicPartition::new(topic, partition), next));
        current.1 = next;
        &current.0
    }

    /// Whether the batch holds nothing for the task: no record, no progress, no dead letter.
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.progress.next.is_empty() && self.current.is_none() && self.progress.dead_letters.is_empty()
    }

    /// The batch, its progress complete.
    fn finish(mut self) -> Self {
        if let Some((tp, next)) = self.current.take() {
            self.progress.next.insert(tp, next);
        }
        self
    }
}

/// What turns consumed messages into sink records, shared with the reader thread so that the
/// next batches are converted and transformed while the task writes the previous ones.
struct Decoder {
    connector: String,
    task: usize,
    producer: Option<FutureProducer>,
    key: Converter,
    value: Converter,
    transforms: Chain,
    errors: ErrorPolicy,
    metrics: TaskMetrics,
    /// A task's own stored offsets: records below them are skipped.
    stored: HashMap<TopicPartition, i64>,
}

pub(crate) async fn run(mut task: Box<dyn SinkTask>, mut run: SinkRun) -> Result<Exit> {
    let started = *run.control.borrow();
    // Attached before subscribing, so that every assigned partition is forwarded to it.
    let fetched = FetchQueue::attach(run.consumer.clone()).ok_or_else(|| ConnectError::Task("could not create the sink's fetch queue".into()))?;
    match &run.topics {
        Topics::Names(names) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            run.consumer.subscribe(&names)?;
        }
        Topics::Regex(regex) => {
            let pattern = if regex.starts_with('^') { regex.clone() } else { format!("^{regex}") };
            run.consumer.subscribe(&[pattern.as_str()])?;
        }
    }
    let decoder = Decoder {
        connector: run.connector.clone(),
        task: run.task,
        producer: run.producer.clone(),
        key: run.key,
        value: run.value,
        transforms: std::mem::take(&mut run.transforms),
        errors: run.errors.clone(),
        metrics: run.metrics.clone(),
        stored: task.stored_offsets().await?,
    };
    let mut progress = Progress::default();
    let mut last_flush = Instant::now();
    let reader = Reader::start(run.consumer.clone(), fetched, decoder);
    let mut messages = reader.batches;
    let spent = reader.spent;
    let result = async {
        loop {
            if *run.control.borrow() != started {
                flush(&mut task, &run, &mut progress).await?;
                return Ok(Exit::Control);
            }
            if let Some(done) = task.spent() {
                // Should the reader have stopped, `send` gives it back and it is dropped here.
                let _ = spent.send(done);
            }
            let wait = run.flush_interval.saturating_sub(last_flush.elapsed()).clamp(Duration::from_millis(1), Duration::from_millis(500));
            let mut batch = Vec::new();
            match tokio::time::timeout(wait, messages.recv()).await {
                Err(_) => {}
                Ok(None) => return Err(ConnectError::Task("the consumer stopped".into())),
                Ok(Some(decoded)) => {
                    let decoded = decoded?;
                    progress.next.extend(decoded.progress.next);
                    progress.dead_letters.extend(decoded.progress.dead_letters);
                    batch = decoded.records;
                }
            }
            if !batch.is_empty() {
                run.metrics.metrics.sink_records_put.get_or_create(&run.metrics.label).inc_by(batch.len() as u64);
                run.metrics.metrics.batch_size.get_or_create(&run.metrics.label).observe(batch.len() as f64);
                put(&mut task, &run, batch).await?;
            }
            if last_flush.elapsed() >= run.flush_interval || task.wants_flush() {
                flush(&mut task, &run, &mut progress).await?;
                last_flush = Instant::now();
            }
        }
    }
    .await;
    reader.stop.store(true, Ordering::Relaxed);
    drop(messages);
    let _ = tokio::task::spawn_blocking(move || reader.thread.map(std::thread::JoinHandle::join)).await;
    result
}

/// A thread taking the consumer's messages in batches (`FetchQueue`: far cheaper per message
/// than one poll, or one async wake-up, each) and decoding them, so that conversion and
/// transforms of the next batches overlap the task's writes of the previous ones. Between
/// batches it serves the consumer's own queue: assignments, commits, errors.
struct Reader {
    batches: mpsc::Receiver<Result<Decoded>>,
    /// What the task is done with, dropped by the reader (`SinkTask::spent`).
    spent: std::sync::mpsc::Sender<Spent>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Decoded batches the reader may hold ahead of the task.
const BATCHES_AHEAD: usize = 16;

/// Why the batch being read ends early, if it does.
#[derive(Default)]
struct BatchEnd {
    /// The task fails with it.
    failure: Option<ConnectError>,
    /// A passing error: librdkafka recovers by itself, the next batch goes on.
    passed: bool,
}

impl BatchEnd {
    fn ended(&self) -> bool {
        self.failure.is_some() || self.passed
    }

    /// Decodes one message into `decoded`, or notes the error librdkafka gave in its place.
    fn take(&mut self, decoder: &Decoder, message: std::result::Result<Incoming<'_>, KafkaError>, decoded: &mut Decoded) {
        match message {
            Ok(message) => self.failure = take(decoder, &message, decoded).err(),
            Err(e) if passing(&e) => {
                tracing::warn!(error = %e, "the sink's consumer reported a passing error; librdkafka retries by itself");
                self.passed = true;
            }
            Err(e) => self.failure = Some(e.into()),
        }
    }
}

impl Reader {
    fn start(consumer: Arc<BaseConsumer<SinkContext>>, mut fetched: FetchQueue, decoder: Decoder) -> Self {
        let (tx, batches) = mpsc::channel(BATCHES_AHEAD);
        let (spent, done_with) = std::sync::mpsc::channel::<Spent>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("connect-sink-reader".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    // Freed here, where it was allocated.
                    while let Ok(spent) = done_with.try_recv() {
                        drop(spent);
                    }
                    // Each message is decoded as it is taken, straight from librdkafka's buffer.
                    let mut decoded = Decoded { records: Vec::with_capacity(MAX_BATCH), ..Decoded::default() };
                    let mut end = BatchEnd::default();
                    let mut taken = 0;
                    // The consumer's own queue: group events, and any message of a partition
                    // not forwarded to the fetch queue.
                    while taken < MAX_BATCH && !end.ended() {
                        match consumer.poll(Duration::ZERO) {
                            Some(Ok(message)) => {
                                taken += 1;
                                end.take(&decoder, Ok(Incoming::from_message(&message)), &mut decoded);
                            }
                            Some(Err(e)) => end.take(&decoder, Err(e), &mut decoded),
                            None => break,
                        }
                    }
                    // Then the fetch queue, waiting a little for messages when there were none.
                    let mut wait = if taken == 0 { Duration::from_millis(100) } else { Duration::ZERO };
                    while taken < MAX_BATCH && !end.ended() {
                        let drained = fetched.drain(wait, MAX_BATCH - taken, |message| {
                            if !end.ended() {
                                end.take(&decoder, message, &mut decoded);
                            }
                        });
                        if drained == 0 {
                            break;
                        }
                        taken += drained;
                        wait = Duration::ZERO;
                    }
                    if let Some(e) = end.failure {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                    if decoded.is_empty() {
                        continue;
                    }
                    if tx.blocking_send(Ok(decoded.finish())).is_err() {
                        return;
                    }
                }
            })
            .ok();
        Self { batches, spent, stop, thread }
    }
}

/// Errors a consumer reports while librdkafka recovers by itself (a broker restarting or
/// moving a partition's leadership, a topic not created yet): the task keeps reading, as a
/// Java consumer would, instead of failing.
fn passing(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    match error {
        KafkaError::PartitionEOF(_) => true,
        KafkaError::MessageConsumption(code) => matches!(
            code,
            Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::Resolve
                | Code::OperationTimedOut
                | Code::RequestTimedOut
                | Code::NetworkException
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
                | Code::UnknownTopicOrPartition
                | Code::CoordinatorNotAvailable
                | Code::NotCoordinator
        ),
        _ => false,
    }
}

async fn put(task: &mut Box<dyn SinkTask>, run: &SinkRun, batch: Vec<SinkRecord>) -> Result<()> {
    if run.errors.retry_timeout == Some(Duration::ZERO) {
        return task.put(batch).await;
    }
    let mut retry = run.errors.retry("put");
    loop {
        match task.put(batch.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => retry.after(e).await?,
        }
    }
}

fn take(run: &Decoder, message: &Incoming<'_>, decoded: &mut Decoded) -> Result<()> {
    if !run.stored.is_empty() && run.stored.get(&TopicPartition::new(message.topic, message.partition)).is_some_and(|&from| message.offset < from) {
        return Ok(());
    }
    let tp = decoded.advance(message.topic, message.partition, message.offset + 1);
    let (topic, partition) = (tp.topic.clone(), tp.partition);
    let (progress, batch) = (&mut decoded.progress, &mut decoded.records);
    let headers = &message.headers;
    let key = match run.key.decode(message.key) {
        Ok(k) => k,
        Err(e) => return failed(run, message, headers, Stage::KeyConverter, e, progress),
    };
    let value = match run.value.decode(message.payload) {
        Ok(v) => v,
        Err(e) => return failed(run, message, headers, Stage::ValueConverter, e, progress),
    };
    let record = Record { topic, partition: Some(partition), key, value, timestamp: message.timestamp, headers: headers.clone() };
    if run.transforms.is_empty() {
        batch.push(SinkRecord { record, partition, offset: message.offset });
        return Ok(());
    }
    match run.transforms.apply(record, Position { offset: Some(message.offset) }) {
        Ok(Some(record)) => batch.push(SinkRecord { record, partition, offset: message.offset }),
        Ok(None) => {}
        Err(e) => return failed(run, message, headers, Stage::Transformation, e, progress),
    }
    Ok(())
}

/// A record that failed at `stage`: the task fails, or it is skipped or sent, as it was, to
/// the dead letter topic.
fn failed(run: &Decoder, message: &Incoming<'_>, headers: &[Header], stage: Stage, error: ConnectError, progress: &mut Progress) -> Result<()> {
    let at = format!("{}-{} offset {}", message.topic, message.partition, message.offset);
    if !run.errors.tolerate_all {
        return Err(ConnectError::Task(format!("{error} (record at {at}; errors.tolerance=all would skip it)")));
    }
    if run.errors.log {
        tracing::warn!(connector = %run.connector, error = %error, record = %at, "skipping a record (errors.tolerance=all)");
    }
    let (Some(topic), Some(producer)) = (&run.errors.dead_letter_topic, &run.producer) else {
        run.metrics.metrics.records_skipped.get_or_create(&run.metrics.label).inc();
        return Ok(());
    };
    run.metrics.metrics.dead_letters.get_or_create(&run.metrics.label).inc();
    let origin = [("topic", message.topic.to_string()), ("partition", message.partition.to_string()), ("offset", message.offset.to_string())];
    let mut all: Vec<Header> = headers.to_vec();
    all.extend(dead_letter_headers(&run.connector, run.task, stage, &error, &origin));
    let mut kafka_headers = OwnedHeaders::new_with_capacity(all.len());
    for (name, value) in &all {
        kafka_headers = kafka_headers.insert(KafkaHeader { key: name, value: value.as_deref() });
    }
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(kafka_headers);
    if let Some(key) = message.key {
        record = record.key(key);
    }
    if let Some(payload) = message.payload {
        record = record.payload(payload);
    }
    let delivery = producer.send_result(record).map_err(|(e, _)| ConnectError::Task(format!("could not send a dead letter to {topic}: {e}")))?;
    progress.dead_letters.push(delivery);
    Ok(())
}

async fn flush(task: &mut Box<dyn SinkTask>, run: &SinkRun, progress: &mut Progress) -> Result<()> {
    for delivery in progress.dead_letters.drain(..) {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(ConnectError::Task(format!("the cluster did not accept a dead letter: {e}"))),
            Err(_) => return Err(ConnectError::Task("the dead letter producer shut down".into())),
        }
    }
    if progress.next.is_empty() {
        return Ok(());
    }
    let mut retry = run.errors.retry("flush");
    let started = Instant::now();
    loop {
        match task.flush(&progress.next).await {
            Ok(()) => break,
            Err(e) => retry.after(e).await?,
        }
    }
    tracing::debug!(connector = %run.connector, took = ?started.elapsed(), "sink flushed");
    let mut list = TopicPartitionList::new();
    for (tp, offset) in &progress.next {
        list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*offset))?;
    }
    // The task's flush made the records durable; the group's offsets follow asynchronously
    // (a sink with its own offsets does not depend on them).
    if let Err(e) = run.consumer.commit(&list, CommitMode::Async) {
        tracing::warn!(error = %e, "could not commit the sink's offsets to its consumer group; they will be committed with the next flush");
    }
    Ok(())
}
