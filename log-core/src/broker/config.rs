//! [`BrokerConfig`]: everything a broker is started with. The CLI fills it from flags, the
//! environment and a TOML file; tests build it directly.

use std::path::PathBuf;

use crate::storage::{FlushPolicy, LogConfig};

/// A broker's settings. Names in the docs are the Kafka properties they correspond to.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// Host clients are told to connect to (`advertised.listeners`).
    pub advertised_host: String,
    /// Port clients are told to connect to.
    pub advertised_port: i32,
    /// `rack` of this broker, if any (`broker.rack`).
    pub rack: Option<String>,
    /// Root of all data: `logs/` holds partition logs, `meta/` the metadata image.
    pub data_dir: PathBuf,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`: largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// Defaults for every topic's log (`log.segment.bytes`, `log.retention.ms`,
    /// `message.max.bytes`, …); topic configs override them.
    pub log: LogConfig,
    /// `min.insync.replicas` default.
    pub min_insync_replicas: i32,
    /// fsync a partition before acknowledging an acks=all produce (default true: a single
    /// node has no replicas to rely on). `false` acknowledges once the data is in the page
    /// cache, as Kafka does by default; the `flush.*` settings still apply.
    pub flush_on_acks_all: bool,
    /// `log.retention.check.interval.ms`: how often retention and compaction run.
    pub retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_partitions: i32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: u64,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
}

impl BrokerConfig {
    /// Kafka's defaults, with data under `data_dir` and the advertised address 127.0.0.1:9092.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id: 1,
            advertised_host: "127.0.0.1".into(),
            advertised_port: 9092,
            rack: None,
            data_dir: data_dir.into(),
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            log: LogConfig::default(),
            min_insync_replicas: 1,
            flush_on_acks_all: true,
            retention_check_interval_ms: 300_000,
            offsets_topic_partitions: 50,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            offsets_retention_ms: 7 * 24 * 3_600_000,
        }
    }

    /// Log config of the internal `__consumer_offsets` topic: compacted, 100 MiB segments,
    /// every write fsynced (commits are small and must survive a crash).
    pub fn offsets_topic_log(&self) -> LogConfig {
        let mut log = self.log.clone();
        log.cleanup_policy = crate::storage::CleanupPolicy { delete: false, compact: true };
        log.segment_bytes = 100 * 1024 * 1024;
        log.retention_ms = None;
        log.retention_bytes = None;
        log.flush = FlushPolicy::every_append();
        log
    }
}
