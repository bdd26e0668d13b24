//! Running a sink task: read the connector's topics in its consumer group, convert records,
//! hand them to the task, and every `offset.flush.interval.ms` (and when the run ends) have
//! the task make them durable before committing the offsets to the group.
//!
//! A task that keeps its own offsets (with the data, for exactly-once) gets no record below
//! them, whatever the group's committed offsets say.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::connector::SinkTask;
use crate::converter::Converter;
use crate::error::{ConnectError, Result};
use crate::record::{Record, SinkRecord, TopicPartition};
use crate::runtime::{Control, Exit};

/// The most records handed to the task in one `put`.
const MAX_BATCH: usize = 2000;

pub(crate) struct SinkRun {
    pub consumer: StreamConsumer,
    pub topics: Topics,
    pub key: Converter,
    pub value: Converter,
    pub flush_interval: Duration,
    pub control: watch::Receiver<Control>,
}

/// What a sink reads.
#[derive(Debug, Clone)]
pub(crate) enum Topics {
    Names(Vec<String>),
    Regex(String),
}

pub(crate) async fn run(mut task: Box<dyn SinkTask>, run: SinkRun) -> Result<Exit> {
    let started = *run.control.borrow();
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
    let stored = task.stored_offsets().await?;
    let mut next: HashMap<TopicPartition, i64> = HashMap::new();
    let mut last_flush = Instant::now();
    loop {
        if *run.control.borrow() != started {
            flush(&mut task, &run, &next).await?;
            return Ok(Exit::Control);
        }
        let wait = run.flush_interval.saturating_sub(last_flush.elapsed()).clamp(Duration::from_millis(1), Duration::from_millis(500));
        let mut batch = Vec::new();
        if let Ok(first) = tokio::time::timeout(wait, run.consumer.recv()).await {
            take(&run, first?, &stored, &mut next, &mut batch)?;
            // What else is already here, without waiting.
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout(Duration::ZERO, run.consumer.recv()).await {
                    Ok(message) => take(&run, message?, &stored, &mut next, &mut batch)?,
                    Err(_) => break,
                }
            }
        }
        if !batch.is_empty() {
            task.put(batch).await?;
        }
        if last_flush.elapsed() >= run.flush_interval {
            flush(&mut task, &run, &next).await?;
            last_flush = Instant::now();
        }
    }
}

fn take(run: &SinkRun, message: BorrowedMessage<'_>, stored: &HashMap<TopicPartition, i64>, next: &mut HashMap<TopicPartition, i64>, batch: &mut Vec<SinkRecord>) -> Result<()> {
    let tp = TopicPartition::new(message.topic(), message.partition());
    if stored.get(&tp).is_some_and(|&from| message.offset() < from) {
        return Ok(());
    }
    let at = format!("{tp} offset {}", message.offset());
    let key = run.key.decode(message.key()).map_err(|e| ConnectError::Task(format!("key of {at}: {e}")))?;
    let value = run.value.decode(message.payload()).map_err(|e| ConnectError::Task(format!("value of {at}: {e}")))?;
    let headers = message
        .headers()
        .map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    let record = Record { topic: tp.topic.clone(), partition: Some(tp.partition), key, value, timestamp: message.timestamp().to_millis(), headers };
    batch.push(SinkRecord { record, partition: tp.partition, offset: message.offset() });
    next.insert(tp, message.offset() + 1);
    Ok(())
}

async fn flush(task: &mut Box<dyn SinkTask>, run: &SinkRun, next: &HashMap<TopicPartition, i64>) -> Result<()> {
    if next.is_empty() {
        return Ok(());
    }
    task.flush(next).await?;
    let mut list = TopicPartitionList::new();
    for (tp, offset) in next {
        list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*offset))?;
    }
    // The task's flush made the records durable; the group's offsets follow asynchronously
    // (a sink with its own offsets does not depend on them).
    if let Err(e) = run.consumer.commit(&list, CommitMode::Async) {
        tracing::warn!(error = %e, "could not commit the sink's offsets to its consumer group; they will be committed with the next flush");
    }
    Ok(())
}
