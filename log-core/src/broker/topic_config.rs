//! Topic configs: which keys a topic accepts (every one Kafka 4.0 does, from the
//! [`catalog`](super::catalog)), how they are validated, how they combine with the broker's
//! defaults into a [`LogConfig`], and the values DescribeConfigs shows.
//!
//! Keys fall in three groups:
//! - keys with behaviour here: the log's settings (applied through [`LogConfig::set`]) and
//!   `min.insync.replicas`;
//! - keys stored and described but without effect on one node without tiered storage
//!   (replication throttles, `unclean.leader.election.enable`, `local.retention.*`,
//!   `file.delete.delay.ms`); `remote.storage.enable=true` is refused;
//! - legacy keys Kafka 3.x took (`message.format.version`, …): accepted with a warning and
//!   not stored; `message.timestamp.difference.max.ms` still sets both timestamp bounds
//!   unless they are given, as Kafka 3.6–3.9 did.

use std::collections::BTreeMap;

use super::catalog::{self, ConfigKind, LEGACY_TOPIC_CONFIGS, TOPIC_CONFIGS};
use super::config::BrokerConfig;
use crate::storage::{LogConfig, TimestampType};

/// A rejected topic config; the broker answers INVALID_CONFIG with this message.
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
    /// The broker's `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: u64,
}

/// Keys stored and described that change nothing on this broker.
const STORED_ONLY: &[&str] = &[
    "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "unclean.leader.election.enable",
];

/// The legacy key that Kafka 3.6–3.9 mapped onto both timestamp bounds.
const TIMESTAMP_DIFFERENCE: &str = "message.timestamp.difference.max.ms";

/// Checks `overrides` and returns them as they are stored: every value in Kafka's canonical
/// form (`TRUE` → `true`, `compact, delete` → `compact,delete`), legacy keys dropped (with a
/// warning) and `message.timestamp.difference.max.ms` turned into the two bounds it stands
/// for.
pub fn canonicalize(overrides: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicConfigError> {
    let mut out = BTreeMap::new();
    for (key, value) in overrides {
        if LEGACY_TOPIC_CONFIGS.contains(&key.as_str()) {
            let replacement = catalog::legacy_topic_config(key).map_or("nothing", |l| l.replacement);
            tracing::warn!(config = %key, value = %value, "accepting a topic config that Kafka 4.0 removed; it has no effect here (replaced by: {replacement})");
            if key == TIMESTAMP_DIFFERENCE {
                let ms = catalog::topic_config("message.timestamp.before.max.ms")
                    .map(|spec| spec.validate(value))
                    .transpose()
                    .map_err(|e| TopicConfigError(e.to_string().replace("message.timestamp.before.max.ms", TIMESTAMP_DIFFERENCE)))?
                    .map(|v| v.to_kafka_string());
                for bound in ["message.timestamp.before.max.ms", "message.timestamp.after.max.ms"] {
                    if let Some(ms) = &ms
                        && !overrides.contains_key(bound)
                    {
                        out.insert(bound.to_string(), ms.clone());
                    }
                }
            }
            continue;
        }
        let spec = catalog::topic_config(key).ok_or_else(|| TopicConfigError(format!("Unknown topic config name: {key}")))?;
        let value = spec.validate(value).map_err(|e| TopicConfigError(e.to_string()))?;
        out.insert(key.clone(), value.to_kafka_string());
    }
    Ok(out)
}

/// Applies `overrides` on top of the broker's defaults, rejecting unknown keys and bad values.
pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Result<TopicSettings, TopicConfigError> {
    let canonical = canonicalize(overrides)?;
    let mut settings = TopicSettings { log: broker.log.clone(), min_insync_replicas: broker.min_insync_replicas, replica_lag_time_max_ms: broker.replica_lag_time_max_ms };
    for (key, value) in &canonical {
        match key.as_str() {
            "min.insync.replicas" => {
                settings.min_insync_replicas =
                    value.parse().map_err(|_| TopicConfigError(format!("Invalid value {value} for configuration {key}")))?;
            }
            "remote.storage.enable" if value == "true" => {
                return Err(TopicConfigError(
                    "Tiered storage is not supported by this broker: remote.storage.enable must be false".into(),
                ));
            }
            k if STORED_ONLY.contains(&k) => {}
            _ => settings.log.set(key, value).map_err(|e| TopicConfigError(e.to_string()))?,
        }
    }
    settings.log.check().map_err(|e| TopicConfigError(e.to_string()))?;
    Ok(settings)
}

/// The value a key has when the topic does not set it: the broker's default for it.
pub fn default_value(broker: &BrokerConfig, key: &str) -> Option<String> {
    let log = &broker.log;
    let unbounded = |v: Option<i64>| v.unwrap_or(-1).to_string();
    Some(match key {
        "cleanup.policy" => match (log.cleanup_policy.delete, log.cleanup_policy.compact) {
            (true, true) => "compact,delete".into(),
            (false, true) => "compact".into(),
            (false, false) => String::new(),
            _ => "delete".into(),
        },
        "compression.type" => log.compression_type.map_or("producer", |c| c.name()).into(),
        "compression.gzip.level" => log.compression_gzip_level.to_string(),
        "compression.lz4.level" => log.compression_lz4_level.to_string(),
        "compression.zstd.level" => log.compression_zstd_level.to_string(),
        "delete.retention.ms" => log.delete_retention_ms.to_string(),
        "flush.messages" => log.flush.messages.map_or(i64::MAX.to_string(), |v| v.to_string()),
        "flush.ms" => log.flush.ms.map_or(i64::MAX.to_string(), |v| v.to_string()),
        "index.interval.bytes" => log.index_interval_bytes.to_string(),
        "max.compaction.lag.ms" => log.max_compaction_lag_ms.to_string(),
        "max.message.bytes" => log.max_message_bytes.to_string(),
        "message.timestamp.after.max.ms" => log.message_timestamp_after_max_ms.to_string(),
        "message.timestamp.before.max.ms" => log.message_timestamp_before_max_ms.to_string(),
        "message.timestamp.type" => match log.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime".into(),
            TimestampType::LogAppendTime => "LogAppendTime".into(),
        },
        "min.cleanable.dirty.ratio" => catalog::java_double_to_string(log.min_cleanable_dirty_ratio),
        "min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
        "min.insync.replicas" => broker.min_insync_replicas.to_string(),
        "preallocate" => log.preallocate.to_string(),
        "retention.bytes" => unbounded(log.retention_bytes.map(|v| v as i64)),
        "retention.ms" => unbounded(log.retention_ms),
        "segment.bytes" => log.segment_bytes.to_string(),
        "segment.index.bytes" => log.segment_index_bytes.to_string(),
        "segment.jitter.ms" => log.segment_jitter_ms.to_string(),
        "segment.ms" => log.segment_ms.to_string(),
        "unclean.leader.election.enable" => broker.unclean_leader_election.to_string(),
        other => return catalog::topic_config(other).and_then(|spec| spec.default).map(str::to_string),
    })
}

/// Where a described value comes from (DescribeConfigs' `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// The topic sets it (1).
    Topic,
    /// Set at runtime for this broker (2).
    DynamicBroker,
    /// Set at runtime as the cluster-wide default (3).
    DynamicDefaultBroker,
    /// A broker setting given at start (flag, environment or file) supplies it (4).
    StaticBroker,
    /// The built-in default (5).
    Default,
}

impl ConfigSource {
    /// The protocol's number for it.
    pub fn code(self) -> i8 {
        match self {
            Self::Topic => 1,
            Self::DynamicBroker => 2,
            Self::DynamicDefaultBroker => 3,
            Self::StaticBroker => 4,
            Self::Default => 5,
        }
    }
}

/// A topic's value for `key`, where it comes from, and the chain of values behind it
/// (Kafka's synonyms: the topic override, then the broker settings or default it hides, most
/// specific first). `broker` is the effective broker config, `dynamic` the dynamic broker
/// configs by resource.
pub fn describe(
    broker: &BrokerConfig,
    dynamic: &super::dynamic_config::DynamicConfigs,
    overrides: &BTreeMap<String, String>,
    key: &str,
) -> (Option<String>, ConfigSource, Vec<(String, String, ConfigSource)>) {
    let mut chain = Vec::new();
    if let Some(v) = overrides.get(key) {
        chain.push((key.to_string(), v.clone(), ConfigSource::Topic));
    }
    for (layer, source) in super::dynamic_config::layers(broker, dynamic) {
        for syn in synonyms(key) {
            if let Some(v) = layer.and_then(|l| l.get(*syn)) {
                chain.push((syn.to_string(), v.clone(), source));
            }
        }
    }
    let default = default_value(broker, key);
    let configured = chain.iter().find(|(_, _, source)| *source != ConfigSource::Topic).map(|(_, _, s)| *s);
    if configured.is_none()
        && let Some(d) = &default
    {
        let name = synonyms(key).first().copied().unwrap_or(key);
        chain.push((name.to_string(), d.clone(), ConfigSource::Default));
    }
    match overrides.get(key) {
        Some(v) => (Some(v.clone()), ConfigSource::Topic, chain),
        None => (default, configured.unwrap_or(ConfigSource::Default), chain),
    }
}

/// Every topic config key, in DescribeConfigs order.
pub fn keys() -> impl Iterator<Item = &'static str> {
    TOPIC_CONFIGS.iter().map(|spec| spec.name)
}

/// DescribeConfigs' type of a key (1 boolean … 7 list).
pub fn config_type(key: &str) -> i8 {
    catalog::topic_config(key).map_or(ConfigKind::String, |spec| spec.kind).describe_type()
}

/// One-line documentation of a key, for DescribeConfigs v3+.
pub fn documentation(key: &str) -> &'static str {
    catalog::topic_config(key).map_or("", |spec| spec.doc)
}

/// The broker settings that supply a key's default, in precedence order.
pub fn synonyms(key: &str) -> &'static [&'static str] {
    catalog::topic_config(key).map_or(&[], |spec| spec.synonyms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn overrides_apply_and_bad_ones_are_named() {
        let broker = BrokerConfig::new("/tmp/x");
        let s = resolve(&broker, &map(&[("retention.ms", "1000"), ("min.insync.replicas", "2")])).unwrap();
        assert_eq!(s.log.retention_ms, Some(1000));
        assert_eq!(s.min_insync_replicas, 2);
        let err = resolve(&broker, &map(&[("no.such.key", "1")])).unwrap_err();
        assert!(err.0.contains("no.such.key"), "{err}");
        for key in keys() {
            assert!(default_value(&broker, key).is_some(), "{key}");
        }
    }

    #[test]
    fn every_kafka_4_topic_config_is_accepted_with_its_default() {
        let broker = BrokerConfig::new("/tmp/x");
        for spec in TOPIC_CONFIGS {
            let default = spec.default.unwrap_or_default();
            resolve(&broker, &map(&[(spec.name, default)])).unwrap_or_else(|e| panic!("{}={default:?}: {e}", spec.name));
        }
    }

    #[test]
    fn behaviour_keys_reach_the_log_config() {
        let broker = BrokerConfig::new("/tmp/x");
        let s = resolve(
            &broker,
            &map(&[
                ("compression.type", "zstd"),
                ("compression.zstd.level", "7"),
                ("message.timestamp.after.max.ms", "10"),
                ("min.cleanable.dirty.ratio", "0.25"),
                ("segment.jitter.ms", "500"),
                ("preallocate", "FALSE"),
                ("cleanup.policy", "compact, delete"),
            ]),
        )
        .unwrap();
        assert_eq!(s.log.compression_type, Some(crate::storage::Compression::Zstd));
        assert_eq!(s.log.compression_zstd_level, 7);
        assert_eq!(s.log.message_timestamp_after_max_ms, 10);
        assert_eq!(s.log.min_cleanable_dirty_ratio, 0.25);
        assert_eq!(s.log.segment_jitter_ms, 500);
        assert!(!s.log.preallocate);
        assert!(s.log.cleanup_policy.compact && s.log.cleanup_policy.delete);
        let conflict = resolve(&broker, &map(&[("min.compaction.lag.ms", "10"), ("max.compaction.lag.ms", "5")])).unwrap_err();
        assert!(conflict.0.contains("max.compaction.lag.ms"), "{conflict}");
    }

    #[test]
    fn legacy_keys_are_accepted_and_dropped_and_the_difference_sets_both_bounds() {
        let canonical = canonicalize(&map(&[
            ("message.format.version", "2.8"),
            ("message.downconversion.enable", "true"),
            ("message.timestamp.difference.max.ms", "60000"),
        ]))
        .unwrap();
        assert_eq!(canonical, map(&[("message.timestamp.after.max.ms", "60000"), ("message.timestamp.before.max.ms", "60000")]));
        let given = canonicalize(&map(&[("message.timestamp.difference.max.ms", "60000"), ("message.timestamp.after.max.ms", "5")])).unwrap();
        assert_eq!(given.get("message.timestamp.after.max.ms").map(String::as_str), Some("5"));
    }

    #[test]
    fn tiered_storage_is_refused_and_stored_only_keys_are_kept() {
        let broker = BrokerConfig::new("/tmp/x");
        assert!(resolve(&broker, &map(&[("remote.storage.enable", "true")])).unwrap_err().0.contains("Tiered storage"));
        assert!(resolve(&broker, &map(&[("unclean.leader.election.enable", "true"), ("leader.replication.throttled.replicas", "*")])).is_ok());
    }
}
