//! Source offsets in a compacted topic, for workers in a group (Kafka Connect's
//! `offset.storage.topic`, in its record layout): key `["CONNECTOR", {partition}]`, value the
//! offset as JSON, null when forgotten. Every worker reads the whole topic at start and again
//! before it starts a source task, so a task that moves to another worker resumes from the
//! offsets its previous worker stored.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::Value;

use crate::error::{ConnectError, Result};
use crate::offsets::{OffsetEntry, OffsetStore, partition_key};
use crate::record::SourceMap;
use crate::runtime::Cluster;
use crate::runtime::cluster::ReadToEnd;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Collects the failures of the records a flush sent.
#[derive(Default)]
struct Deliveries {
    failures: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failures.lock().unwrap_or_else(|p| p.into_inner()).push(e.to_string());
        }
    }
}

type Offsets = BTreeMap<String, BTreeMap<String, (SourceMap, SourceMap)>>;

/// Offsets kept in a topic.
pub struct TopicOffsetStore {
    topic: String,
    producer: BaseProducer<Deliveries>,
    reader: Mutex<Reader>,
    offsets: Mutex<Offsets>,
    /// Staged and not yet written: connector, partition, offset (`None`: forget it).
    pending: Mutex<Vec<(String, SourceMap, Option<SourceMap>)>>,
    /// One flush at a time, so each learns of its own records' failures.
    flushing: Mutex<()>,
}

struct Reader {
    consumer: BaseConsumer<ReadToEnd>,
    partitions: i32,
}

impl std::fmt::Debug for TopicOffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicOffsetStore").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl TopicOffsetStore {
    /// Opens the store on `topic` (which exists, with `partitions` partitions) and reads it.
    pub fn open(cluster: &Cluster, topic: &str, partitions: i32) -> Result<Self> {
        let mut producer_config = cluster.internal_producer();
        producer_config.set("partitioner", "murmur2_random");
        let producer = producer_config.create_with_context(Deliveries::default())?;
        let consumer = cluster.topic_reader(topic, partitions)?;
        let store = Self {
            topic: topic.to_string(),
            producer,
            reader: Mutex::new(Reader { consumer, partitions }),
            offsets: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(Vec::new()),
            flushing: Mutex::new(()),
        };
        store.refresh()?;
        Ok(store)
    }

    fn apply(&self, key: &[u8], payload: Option<&[u8]>) {
        let Ok(Value::Array(key)) = serde_json::from_slice::<Value>(key) else { return };
        let (Some(Value::String(connector)), Some(Value::Object(partition))) = (key.first(), key.get(1)) else { return };
        let pk = partition_key(partition);
        let staged = self.pending.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|(c, p, _)| c == connector && partition_key(p) == pk);
        if staged {
            return;
        }
        let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        match payload.map(serde_json::from_slice::<Value>) {
            Some(Ok(Value::Object(offset))) => {
                offsets.entry(connector.clone()).or_default().insert(pk, (partition.clone(), offset));
            }
            None | Some(Ok(Value::Null)) => {
                if let Some(mine) = offsets.get_mut(connector.as_str()) {
                    mine.remove(&pk);
                }
            }
            Some(_) => tracing::warn!(topic = %self.topic, connector = %connector, "an offset record is not a JSON object; skipped"),
        }
    }
}

impl OffsetStore for TopicOffsetStore {
    fn get(&self, connector: &str) -> Vec<OffsetEntry> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        offsets.get(connector).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    fn put(&self, connector: &str, entries: &[OffsetEntry]) {
        let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mine = offsets.entry(connector.to_string()).or_default();
        for (partition, offset) in entries {
            mine.insert(partition_key(partition), (partition.clone(), offset.clone()));
            pending.push((connector.to_string(), partition.clone(), Some(offset.clone())));
        }
    }

    fn flush(&self) -> Result<()> {
        let _one = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        self.producer.context().failures.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let restage = |error: String| {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let newer = std::mem::take(&mut *pending);
            *pending = batch.clone();
            pending.extend(newer);
            ConnectError::Task(format!("could not store source offsets in {}: {error}", self.topic))
        };
        for (connector, partition, offset) in &batch {
            let key = Value::Array(vec![Value::String(connector.clone()), Value::Object(partition.clone())]).to_string();
            let payload = offset.as_ref().map(|o| Value::Object(o.clone()).to_string());
            let mut record = BaseRecord::<String, String>::to(&self.topic).key(&key);
            if let Some(payload) = &payload {
                record = record.payload(payload);
            }
            if let Err((e, _)) = self.producer.send(record) {
                return Err(restage(e.to_string()));
            }
        }
        if let Err(e) = self.producer.flush(TIMEOUT) {
            return Err(restage(e.to_string()));
        }
        let failures = std::mem::take(&mut *self.producer.context().failures.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(first) = failures.first() {
            return Err(restage(first.clone()));
        }
        Ok(())
    }

    fn remove(&self, connector: &str) -> Result<()> {
        let forgotten = self.offsets.lock().unwrap_or_else(|p| p.into_inner()).remove(connector).unwrap_or_default();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.retain(|(c, _, _)| c != connector);
            pending.extend(forgotten.into_values().map(|(partition, _)| (connector.to_string(), partition, None)));
        }
        self.flush()
    }

    /// Reads what other workers wrote since the last read, up to the topic's end now.
    fn refresh(&self) -> Result<()> {
        let reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        // Every partition's end in one request (a timestamp of -1 asks for the latest offset).
        let mut latest = TopicPartitionList::new();
        for partition in 0..reader.partitions {
            latest.add_partition_offset(&self.topic, partition, Offset::End)?;
        }
        let latest = reader.consumer.offsets_for_times(latest, TIMEOUT)?;
        let ends: Vec<i64> = (0..reader.partitions)
            .map(|p| match latest.find_partition(&self.topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(end)) => end,
                _ => 0,
            })
            .collect();
        let mut positions: Vec<i64> = match reader.consumer.position() {
            Ok(list) => (0..reader.partitions).map(|p| match list.find_partition(&self.topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            }).collect(),
            Err(_) => vec![0; ends.len()],
        };
        let deadline = Instant::now() + TIMEOUT;
        while positions.iter().zip(&ends).any(|(at, end)| at < end) {
            if Instant::now() > deadline {
                return Err(ConnectError::Task(format!("could not read the offsets topic {} to its end within {TIMEOUT:?}", self.topic)));
            }
            match reader.consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(message)) => {
                    self.apply(message.key().unwrap_or_default(), message.payload());
                    if let Some(at) = usize::try_from(message.partition()).ok().and_then(|p| positions.get_mut(p)) {
                        *at = message.offset() + 1;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    if let Some(p) = usize::try_from(partition).ok() && let (Some(at), Some(end)) = (positions.get_mut(p), ends.get(p)) {
                        *at = (*at).max(*end);
                    }
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
