//! Records as connectors see them: a source record carries where it came from (source
//! partition and offset, JSON maps as in Kafka Connect); a sink record where it sits in the
//! topic. Both carry Connect data for key and value, headers and a timestamp.

use crate::data::Data;

/// A source partition or offset: a JSON object, as Kafka Connect stores them.
pub type SourceMap = serde_json::Map<String, serde_json::Value>;

/// `value` as a source partition or offset (an empty map when it is not a JSON object).
pub fn source_map(value: serde_json::Value) -> SourceMap {
    match value {
        serde_json::Value::Object(map) => map,
        _ => SourceMap::new(),
    }
}

/// A header: name and raw bytes (`None` for a null header value).
pub type Header = (String, Option<Vec<u8>>);

/// The parts of a record every stage sees, single message transforms included.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    /// The Kafka partition, when chosen (sources usually leave it to the partitioner).
    pub partition: Option<i32>,
    pub key: Data,
    pub value: Data,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub headers: Vec<Header>,
}

impl Record {
    /// A record for `topic` with a value and nothing else.
    pub fn new(topic: impl Into<String>, key: Data, value: Data) -> Self {
        Self { topic: topic.into(), partition: None, key, value, timestamp: None, headers: Vec::new() }
    }
}

/// A record a source task produced, with its position in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub source_partition: SourceMap,
    pub source_offset: SourceMap,
    pub record: Record,
}

/// A record read from a topic for a sink task.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkRecord {
    pub record: Record,
    pub partition: i32,
    pub offset: i64,
}

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
