//! Broker settings changed at runtime, as Kafka's dynamic broker configs: set with
//! (Incremental)AlterConfigs on a broker resource — `""` for the cluster-wide default, a node
//! id for one broker — kept in the metadata image, and layered over the settings given at
//! start: static, then the cluster default, then the broker's own (which wins).
//!
//! What can change at runtime here is what Kafka allows to and what the broker applies live:
//! the defaults every topic inherits (`log.*`, `message.max.bytes`, `compression.*`,
//! `min.insync.replicas`, …). A change re-resolves every topic's settings at once. Other
//! settings are read-only and refused with the list of them, as Kafka answers.

use std::collections::BTreeMap;

use super::catalog::{self, UpdateMode};
use super::config::BrokerConfig;
use super::topic_config::ConfigSource;

/// Broker settings that are topic defaults, with the topic key each one supplies.
const TOPIC_DEFAULTS: &[(&str, &str)] = &[
    ("message.max.bytes", "max.message.bytes"),
    ("log.retention.ms", "retention.ms"),
    ("log.retention.bytes", "retention.bytes"),
    ("log.segment.bytes", "segment.bytes"),
    ("log.roll.ms", "segment.ms"),
    ("log.roll.jitter.ms", "segment.jitter.ms"),
    ("log.flush.interval.messages", "flush.messages"),
    ("log.flush.interval.ms", "flush.ms"),
    ("log.index.interval.bytes", "index.interval.bytes"),
    ("log.index.size.max.bytes", "segment.index.bytes"),
    ("log.preallocate", "preallocate"),
    ("log.message.timestamp.type", "message.timestamp.type"),
    ("log.message.timestamp.before.max.ms", "message.timestamp.before.max.ms"),
    ("log.message.timestamp.after.max.ms", "message.timestamp.after.max.ms"),
    ("log.cleanup.policy", "cleanup.policy"),
    ("log.cleaner.delete.retention.ms", "delete.retention.ms"),
    ("log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio"),
    ("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"),
    ("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"),
    ("compression.type", "compression.type"),
    ("compression.gzip.level", "compression.gzip.level"),
    ("compression.lz4.level", "compression.lz4.level"),
    ("compression.zstd.level", "compression.zstd.level"),
];

/// Settings that change at runtime besides the topic defaults.
const OTHER_DYNAMIC: &[&str] = &["min.insync.replicas", "unclean.leader.election.enable"];

/// True when `key` may be changed at runtime on this broker.
pub fn is_dynamic(key: &str) -> bool {
    let kafka_allows = catalog::broker_config(key).is_some_and(|spec| matches!(spec.update, UpdateMode::ClusterWide | UpdateMode::PerBroker));
    kafka_allows && (TOPIC_DEFAULTS.iter().any(|(k, _)| *k == key) || OTHER_DYNAMIC.contains(&key))
}

/// Applies one dynamic setting to `config`, checking its value as Kafka would. On an error
/// `config` is left as it was.
pub fn apply(config: &mut BrokerConfig, key: &str, value: &str) -> Result<(), String> {
    let spec = catalog::broker_config(key).ok_or_else(|| format!("unknown broker config {key}"))?;
    let value = spec.validate(value).map_err(|e| e.to_string())?.to_kafka_string();
    let mut next = config.clone();
    match key {
        "min.insync.replicas" => next.min_insync_replicas = value.parse().map_err(|_| format!("invalid value {value} for {key}"))?,
        "unclean.leader.election.enable" => next.unclean_leader_election = value == "true",
        _ => {
            let topic_key = TOPIC_DEFAULTS.iter().find(|(k, _)| *k == key).map(|(_, t)| *t).ok_or_else(|| format!("{key} cannot change at runtime"))?;
            next.log.set(topic_key, &value).map_err(|e| e.to_string())?;
        }
    }
    next.log.check().map_err(|e| e.to_string())?;
    *config = next;
    Ok(())
}

/// Dynamic broker configs by resource name (`""`: the cluster default; a node id).
pub type DynamicConfigs = BTreeMap<String, BTreeMap<String, String>>;

/// Where broker settings are set, most specific first: this broker's dynamic settings, the
/// cluster default's, the ones given at start.
pub fn layers<'a>(start: &'a BrokerConfig, dynamic: &'a DynamicConfigs) -> [(Option<&'a BTreeMap<String, String>>, ConfigSource); 3] {
    [
        (dynamic.get(&start.node_id.to_string()), ConfigSource::DynamicBroker),
        (dynamic.get(""), ConfigSource::DynamicDefaultBroker),
        (Some(&start.static_configs), ConfigSource::StaticBroker),
    ]
}

/// The dynamic settings in the order they apply: the cluster default's, then this broker's
/// (which win).
fn in_order<'a>(start: &'a BrokerConfig, dynamic: &'a DynamicConfigs) -> impl Iterator<Item = (&'a String, &'a String)> {
    let [own, default, _] = layers(start, dynamic);
    default.0.into_iter().chain(own.0).flatten()
}

/// The config the broker runs with: `start` (the settings given at start) under the cluster
/// default's and then this broker's dynamic settings. A stored setting that no longer
/// applies is skipped with a warning rather than refusing to start.
pub fn effective(start: &BrokerConfig, dynamic: &DynamicConfigs) -> BrokerConfig {
    let mut config = start.clone();
    for (key, value) in in_order(start, dynamic) {
        if let Err(e) = apply(&mut config, key, value) {
            tracing::warn!(config = %key, value = %value, error = %e, "ignoring a stored dynamic broker config");
        }
    }
    config
}

/// [`effective`], refusing the first setting that does not apply (a change being checked).
pub fn checked(start: &BrokerConfig, dynamic: &DynamicConfigs) -> Result<BrokerConfig, String> {
    let mut config = start.clone();
    for (key, value) in in_order(start, dynamic) {
        apply(&mut config, key, value)?;
    }
    Ok(config)
}

/// Where the effective value of broker setting `key` comes from.
pub fn source(start: &BrokerConfig, dynamic: &DynamicConfigs, key: &str) -> ConfigSource {
    layers(start, dynamic).into_iter().find(|(layer, _)| layer.is_some_and(|l| l.contains_key(key))).map_or(ConfigSource::Default, |(_, source)| source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_settings_layer_over_the_static_ones_and_this_broker_wins() {
        let start = BrokerConfig::new("/tmp/x");
        let mut dynamic = BTreeMap::new();
        dynamic.insert(String::new(), BTreeMap::from([("log.retention.ms".to_string(), "1000".to_string()), ("compression.type".to_string(), "zstd".to_string())]));
        dynamic.insert("1".to_string(), BTreeMap::from([("log.retention.ms".to_string(), "2000".to_string())]));
        let c = effective(&start, &dynamic);
        assert_eq!(c.log.retention_ms, Some(2000));
        assert_eq!(c.log.compression_type, Some(crate::storage::Compression::Zstd));
        assert_eq!(source(&start, &dynamic, "log.retention.ms"), ConfigSource::DynamicBroker);
        assert_eq!(source(&start, &dynamic, "compression.type"), ConfigSource::DynamicDefaultBroker);
        assert_eq!(source(&start, &dynamic, "log.segment.bytes"), ConfigSource::Default);
    }

    #[test]
    fn only_what_kafka_allows_and_the_broker_applies_is_dynamic() {
        assert!(is_dynamic("log.retention.ms") && is_dynamic("message.max.bytes") && is_dynamic("min.insync.replicas"));
        assert!(!is_dynamic("log.retention.hours"), "read-only in Kafka");
        assert!(!is_dynamic("node.id") && !is_dynamic("listeners") && !is_dynamic("no.such.config"));
        let mut c = BrokerConfig::new("/tmp/x");
        assert!(apply(&mut c, "log.segment.bytes", "lots").is_err());
        apply(&mut c, "message.max.bytes", "2000000").unwrap();
        assert_eq!(c.log.max_message_bytes, 2_000_000);
    }
}
