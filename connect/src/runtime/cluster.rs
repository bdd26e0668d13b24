//! How the runtime reaches the Kafka cluster: bootstrap servers and client properties, and
//! the producers and consumers built from them (with a connector's `producer.override.*` and
//! `consumer.override.*` settings applied last).

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;

use crate::config::ConnectorConfig;
use crate::error::Result;
use crate::runtime::fetch_queue::SinkContext;

/// A Kafka-compatible cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub bootstrap_servers: String,
    /// librdkafka properties for every client (security settings and such).
    pub properties: Vec<(String, String)>,
}

impl Cluster {
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self { bootstrap_servers: bootstrap_servers.into(), properties: Vec::new() }
    }

    /// A client config for this cluster (bootstrap servers and the worker's properties).
    pub(crate) fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        config.set("socket.nagle.disable", "true");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// A producer for a source connector: idempotent, acks from the whole ISR, ordered.
    pub(crate) fn producer(&self, connector: &ConnectorConfig) -> Result<FutureProducer> {
        let mut config = self.client();
        config.set("client.id", format!("connect-{}", connector.name()));
        config.set("enable.idempotence", "true");
        config.set("acks", "all");
        config.set("linger.ms", "5");
        config.set("compression.type", "lz4");
        Ok(with_overrides(config, connector, "producer.override.").create()?)
    }

    /// A consumer in the connector's group `connect-NAME`, committing only when told.
    pub(crate) fn consumer(&self, connector: &ConnectorConfig) -> Result<BaseConsumer<SinkContext>> {
        let mut config = self.group_client(connector.name());
        config.set("client.id", format!("connect-{}", connector.name()));
        config.set("enable.auto.offset.store", "false");
        config.set("auto.offset.reset", "earliest");
        // A task's replacement after a crash gets its partitions within seconds, not the
        // 45 s librdkafka waits for by default.
        config.set("session.timeout.ms", "10000");
        config.set("heartbeat.interval.ms", "1000");
        // librdkafka stops fetching a partition whose local queue is full and, by default, waits
        // a whole second before fetching again — a sink slower than the broker would stall
        // that long after every ~100,000 records.
        config.set("fetch.queue.backoff.ms", "10");
        Ok(with_overrides(config, connector, "consumer.override.").create_with_context(SinkContext::default())?)
    }

    /// A producer's config for the runtime's own topics (a group's configs, offsets and
    /// states): idempotent, acks from the whole ISR, sent at once.
    pub(crate) fn internal_producer(&self) -> ClientConfig {
        let mut config = self.client();
        config.set("enable.idempotence", "true");
        config.set("acks", "all");
        config.set("linger.ms", "0");
        config
    }

    /// A consumer reading every partition of `topic` (it has `partitions`) from the beginning,
    /// reporting each partition's end. It joins no group and commits nothing (librdkafka wants
    /// a group id for assigning partitions all the same).
    pub(crate) fn topic_reader(&self, topic: &str, partitions: i32) -> Result<BaseConsumer<ReadToEnd>> {
        let mut config = self.client();
        config.set("enable.partition.eof", "true");
        config.set("enable.auto.commit", "false");
        config.set("group.id", format!("{topic}-reader"));
        config.set("client.id", format!("connect-reader-{topic}"));
        let consumer: BaseConsumer<ReadToEnd> = config.create_with_context(ReadToEnd)?;
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&list)?;
        Ok(consumer)
    }

    /// A client in the sink connector `name`'s consumer group `connect-NAME`, committing only
    /// when told.
    pub(crate) fn group_client(&self, name: &str) -> ClientConfig {
        let mut config = self.client();
        config.set("group.id", format!("connect-{name}"));
        config.set("enable.auto.commit", "false");
        config
    }
}

/// The connector's `PREFIX*` settings applied last (what the user says wins).
fn with_overrides(mut config: ClientConfig, connector: &ConnectorConfig, prefix: &str) -> ClientConfig {
    for (k, v) in connector.with_prefix(prefix) {
        config.set(k, v);
    }
    config
}

/// The context of consumers that read a topic to its end: reaching a partition's end is what
/// they ask librdkafka to report (`enable.partition.eof`), not an error to log.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ReadToEnd;

impl rdkafka::ClientContext for ReadToEnd {
    fn error(&self, error: KafkaError, reason: &str) {
        // librdkafka reports a partition's end as a global error to the client's error callback.
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)) {
            tracing::warn!(error = %error, reason, "librdkafka reported an error");
        }
    }
}

impl ConsumerContext for ReadToEnd {}
