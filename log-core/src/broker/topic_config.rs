//! Topic configs: which keys a topic accepts, how they are validated, how they combine with
//! the broker's defaults into a [`LogConfig`], and how DescribeConfigs lists them.

use std::collections::BTreeMap;

use super::config::BrokerConfig;
use crate::storage::{LogConfig, TimestampType};

/// Keys a topic may set (Kafka's names), in DescribeConfigs order.
pub const TOPIC_CONFIG_KEYS: &[&str] = &[
    "cleanup.policy",
    "delete.retention.ms",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "max.message.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "preallocate",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

/// A rejected topic config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TopicConfigError(pub String);

/// The effective settings of one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSettings {
    /// Its log's config.
    pub log: LogConfig,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
}

/// Applies `overrides` on top of the broker's defaults, rejecting unknown keys and bad values.
pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Result<TopicSettings, TopicConfigError> {
    let mut settings = TopicSettings { log: broker.log.clone(), min_insync_replicas: broker.min_insync_replicas };
    for (key, value) in overrides {
        if key == "min.insync.replicas" {
            settings.min_insync_replicas = value
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| TopicConfigError(format!("invalid value {value:?} for min.insync.replicas: expected an integer >= 1")))?;
            continue;
        }
        settings.log.set(key, value).map_err(|e| TopicConfigError(e.to_string()))?;
    }
    Ok(settings)
}

/// The value a key has when the topic does not set it (from the broker's config).
pub fn default_value(broker: &BrokerConfig, key: &str) -> Option<String> {
    let log = &broker.log;
    let unbounded = |v: Option<i64>| v.unwrap_or(-1).to_string();
    Some(match key {
        "cleanup.policy" => match (log.cleanup_policy.delete, log.cleanup_policy.compact) {
            (true, true) => "compact,delete".into(),
            (false, true) => "compact".into(),
            _ => "delete".into(),
        },
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "flush.messages" => log.flush.messages.map_or(i64::MAX.to_string(), |v| v.to_string()),
        "flush.ms" => log.flush.ms.map_or(i64::MAX.to_string(), |v| v.to_string()),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
        "max.message.bytes" => log.max_message_bytes.to_string(),
        "message.timestamp.type" => match log.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime".into(),
            TimestampType::LogAppendTime => "LogAppendTime".into(),
        },
        "min.insync.replicas" => broker.min_insync_replicas.to_string(),
        "preallocate" => log.preallocate.to_string(),
        "retention.bytes" => unbounded(log.retention_bytes.map(|v| v as i64)),
        "retention.ms" => unbounded(log.retention_ms),
        "segment.bytes" => log.segment_bytes.to_string(),
        "segment.ms" => log.segment_ms.to_string(),
        _ => return None,
    })
}

/// DescribeConfigs' type of a key: 1 boolean, 2 string, 3 int, 4 short, 5 long, 6 double, 7 list.
pub fn config_type(key: &str) -> i8 {
    match key {
        "preallocate" => 1,
        "message.timestamp.type" => 2,
        "cleanup.policy" => 7,
        "index.interval.bytes" | "max.message.bytes" | "min.insync.replicas" | "segment.bytes" => 3,
        _ => 5,
    }
}

/// One-line documentation of a key, for DescribeConfigs v3+.
pub fn documentation(key: &str) -> &'static str {
    match key {
        "cleanup.policy" => "delete, compact or both: what happens to old segments",
        "delete.retention.ms" => "how long tombstones are kept in a compacted topic",
        "flush.messages" => "fsync after this many messages",
        "flush.ms" => "fsync when the oldest unflushed message is this old",
        "index.interval.bytes" => "bytes between offset index entries",
        "max.message.bytes" => "largest record batch accepted (MESSAGE_TOO_LARGE beyond)",
        "message.timestamp.type" => "CreateTime (producer's) or LogAppendTime (broker's)",
        "min.insync.replicas" => "replicas that must hold an acks=all write",
        "preallocate" => "reserve segment space ahead of writes",
        "retention.bytes" => "delete old segments beyond this partition size (-1: no limit)",
        "retention.ms" => "delete segments whose newest record is older (-1: keep forever)",
        "segment.bytes" => "roll a new segment at this size",
        "segment.ms" => "roll a new segment at this age",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_bad_ones_are_named() {
        let broker = BrokerConfig::new("/tmp/x");
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("min.insync.replicas".to_string(), "2".to_string());
        let s = resolve(&broker, &o).unwrap();
        assert_eq!(s.log.retention_ms, Some(1000));
        assert_eq!(s.min_insync_replicas, 2);
        o.insert("no.such.key".to_string(), "1".to_string());
        assert!(resolve(&broker, &o).unwrap_err().0.contains("no.such.key"));
        for key in TOPIC_CONFIG_KEYS {
            assert!(default_value(&broker, key).is_some(), "{key}");
        }
    }
}
