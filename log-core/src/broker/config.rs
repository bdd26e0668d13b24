//! [`BrokerConfig`]: everything a broker is started with. The CLI fills it from flags, the
//! environment and a TOML file; tests build it directly.

use std::path::PathBuf;

use crate::storage::{FlushPolicy, LogConfig};

/// A broker's settings. Names in the docs are the Kafka properties they correspond to.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// What the listener binds, as Kafka writes it (`listeners`, e.g. `PLAINTEXT://127.0.0.1:9092`).
    pub listeners: String,
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
    /// `queued.max.request.bytes`: bytes of requests read but not yet answered, across all
    /// connections. At the bound the broker stops reading sockets until responses go out.
    /// At least `socket_request_max_bytes`.
    pub queued_max_request_bytes: usize,
    /// `fetch.max.bytes`: the most record bytes one Fetch returns (or reads), whatever the
    /// request asks for — except that the first batch is always returned whole, as in Kafka.
    pub fetch_max_bytes: usize,
    /// `connections.max.idle.ms`: a connection with no request for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `max.connections`: open client connections in all; at the limit the listener stops
    /// accepting until one closes.
    pub max_connections: usize,
    /// `max.connections.per.ip`: open connections from one address; more are refused.
    pub max_connections_per_ip: usize,
    /// `socket.request.read.timeout.ms` (Fjord's own): once a request's first byte arrived,
    /// the rest must arrive within this time (not counting waits for request memory), or
    /// the connection is closed. A client that sends half a frame and stalls holds nothing.
    pub request_read_timeout_ms: u64,
    /// Defaults for every topic's log (`log.segment.bytes`, `log.retention.ms`,
    /// `message.max.bytes`, …); topic configs override them.
    pub log: LogConfig,
    /// `min.insync.replicas` default.
    pub min_insync_replicas: i32,
    /// `replica.lag.time.max.ms`: a follower that has not caught up with its leader for this
    /// long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `auto.leader.rebalance.enable`: the active controller moves leadership back to
    /// preferred replicas by itself.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`: how often it does (Fjord: 30 s; Kafka:
    /// 300 s).
    pub leader_imbalance_check_interval_ms: u64,
    /// fsync a partition with a single replica before acknowledging an acks=all produce
    /// (default true: it has no other replica to rely on). `false` acknowledges once the data
    /// is in the page cache, as Kafka does by default; the `flush.*` settings still apply.
    /// Partitions with more replicas never fsync for acks=all: the in-sync replicas are their
    /// durability, as in Kafka.
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
    /// `unclean.leader.election.enable` default for topics (stored and described; a single
    /// node has no out-of-sync replica to elect).
    pub unclean_leader_election: bool,
    /// Membership of a multi-node cluster; `None` runs this node alone, its metadata in a
    /// local file (as before clusters existed).
    pub cluster: Option<ClusterSettings>,
    /// The settings given explicitly at start (flags, environment, config file) under their
    /// Kafka names, as given: DescribeConfigs reports these as STATIC_BROKER_CONFIG and
    /// everything else as the default.
    pub static_configs: std::collections::BTreeMap<String, String>,
}

/// How a node takes part in a cluster (Kafka's KRaft settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `controller.quorum.voters`: the controller quorum, node id → inter-broker endpoint
    /// (`host:port`). A node whose id is listed runs the controller role.
    pub voters: std::collections::BTreeMap<i32, String>,
    /// The address the inter-broker (gRPC) listener binds.
    pub rpc_listen: String,
    /// The inter-broker endpoint other nodes use to reach this one (`host:port`).
    pub rpc_advertised: String,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced (Kafka: 9 s).
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms` (Kafka: 2 s).
    pub broker_heartbeat_interval_ms: u64,
    /// Whether `process.roles` includes `broker`: false on a controller-only node, which
    /// votes in the quorum and runs the controller but never registers as a broker, so it
    /// hosts no partitions and serves no Kafka clients.
    pub broker_role: bool,
}

impl ClusterSettings {
    /// A cluster of `voters`, this node listening for inter-broker traffic on `rpc_listen`
    /// and reached at `rpc_advertised`, with Kafka's default timeouts.
    pub fn new(voters: std::collections::BTreeMap<i32, String>, rpc_listen: String, rpc_advertised: String) -> Self {
        Self { voters, rpc_listen, rpc_advertised, broker_session_timeout_ms: 9_000, broker_heartbeat_interval_ms: 2_000, broker_role: true }
    }

    /// The address this node's inter-broker connections leave from: the listener's address
    /// when it names one (not a wildcard or a host name), so the other nodes — and any
    /// firewall rule between them — see this node's traffic come from where it listens.
    pub fn outgoing_address(&self) -> Option<std::net::IpAddr> {
        let addr: std::net::SocketAddr = self.rpc_listen.parse().ok()?;
        (!addr.ip().is_unspecified()).then_some(addr.ip())
    }
}

impl BrokerConfig {
    /// Kafka's defaults, with data under `data_dir` and the advertised address 127.0.0.1:9092.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id: 1,
            listeners: "PLAINTEXT://127.0.0.1:9092".into(),
            advertised_host: "127.0.0.1".into(),
            advertised_port: 9092,
            rack: None,
            data_dir: data_dir.into(),
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            queued_max_request_bytes: 512 * 1024 * 1024,
            fetch_max_bytes: 55 * 1024 * 1024,
            connections_max_idle_ms: 600_000,
            max_connections: i32::MAX as usize,
            max_connections_per_ip: i32::MAX as usize,
            request_read_timeout_ms: 30_000,
            log: LogConfig::default(),
            min_insync_replicas: 1,
            replica_lag_time_max_ms: 30_000,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_ms: 30_000,
            flush_on_acks_all: true,
            retention_check_interval_ms: 300_000,
            offsets_topic_partitions: 50,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            unclean_leader_election: false,
            cluster: None,
            static_configs: std::collections::BTreeMap::new(),
        }
    }

    /// The value of the broker setting `name` (a [`catalog`](super::catalog) name) as this
    /// broker runs with it; `None` for one it does not know or leaves unset.
    pub fn value_of(&self, name: &str) -> Option<String> {
        let log = &self.log;
        let topic_default = |key: &str| super::topic_config::default_value(self, key);
        Some(match name {
            "node.id" | "broker.id" => self.node_id.to_string(),
            "advertised.listeners" => format!("PLAINTEXT://{}:{}", self.advertised_host, self.advertised_port),
            "listeners" => self.listeners.clone(),
            "broker.rack" => return self.rack.clone(),
            "log.dirs" | "log.dir" => self.data_dir.join("logs").display().to_string(),
            "num.partitions" => self.num_partitions.to_string(),
            "default.replication.factor" => self.default_replication_factor.to_string(),
            "auto.create.topics.enable" => self.auto_create_topics.to_string(),
            "message.max.bytes" => log.max_message_bytes.to_string(),
            "socket.request.max.bytes" => self.socket_request_max_bytes.to_string(),
            "queued.max.request.bytes" => self.queued_max_request_bytes.to_string(),
            "fetch.max.bytes" => self.fetch_max_bytes.to_string(),
            "replica.lag.time.max.ms" => self.replica_lag_time_max_ms.to_string(),
            "auto.leader.rebalance.enable" => self.auto_leader_rebalance.to_string(),
            "leader.imbalance.check.interval.seconds" => (self.leader_imbalance_check_interval_ms / 1000).to_string(),
            "connections.max.idle.ms" => self.connections_max_idle_ms.to_string(),
            "max.connections" => self.max_connections.min(i32::MAX as usize).to_string(),
            "max.connections.per.ip" => self.max_connections_per_ip.min(i32::MAX as usize).to_string(),
            "socket.request.read.timeout.ms" => self.request_read_timeout_ms.to_string(),
            "flush.on.acks.all" => self.flush_on_acks_all.to_string(),
            "log.retention.ms" => topic_default("retention.ms")?,
            "log.retention.minutes" | "log.roll.jitter.hours" | "log.flush.scheduler.interval.ms" => {
                return self.static_configs.get(name).cloned();
            }
            "log.retention.hours" => self.static_configs.get(name).cloned().unwrap_or_else(|| "168".into()),
            "log.roll.hours" => self.static_configs.get(name).cloned().unwrap_or_else(|| "168".into()),
            "log.retention.bytes" => topic_default("retention.bytes")?,
            "log.segment.bytes" => log.segment_bytes.to_string(),
            "log.roll.ms" => log.segment_ms.to_string(),
            "log.roll.jitter.ms" => log.segment_jitter_ms.to_string(),
            "log.retention.check.interval.ms" => self.retention_check_interval_ms.to_string(),
            "log.flush.interval.messages" => topic_default("flush.messages")?,
            "log.flush.interval.ms" => topic_default("flush.ms")?,
            "log.index.interval.bytes" => log.index_interval_bytes.to_string(),
            "log.index.size.max.bytes" => log.segment_index_bytes.to_string(),
            "log.preallocate" => log.preallocate.to_string(),
            "log.segment.delete.delay.ms" => topic_default("file.delete.delay.ms")?,
            "log.message.timestamp.type" => topic_default("message.timestamp.type")?,
            "log.message.timestamp.before.max.ms" => log.message_timestamp_before_max_ms.to_string(),
            "log.message.timestamp.after.max.ms" => log.message_timestamp_after_max_ms.to_string(),
            "log.cleanup.policy" => topic_default("cleanup.policy")?,
            "log.cleaner.delete.retention.ms" => log.delete_retention_ms.to_string(),
            "log.cleaner.min.cleanable.ratio" => topic_default("min.cleanable.dirty.ratio")?,
            "log.cleaner.min.compaction.lag.ms" => log.min_compaction_lag_ms.to_string(),
            "log.cleaner.max.compaction.lag.ms" => log.max_compaction_lag_ms.to_string(),
            "log.local.retention.ms" | "log.local.retention.bytes" => "-2".into(),
            "compression.type" => topic_default("compression.type")?,
            "compression.gzip.level" => log.compression_gzip_level.to_string(),
            "compression.lz4.level" => log.compression_lz4_level.to_string(),
            "compression.zstd.level" => log.compression_zstd_level.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election.to_string(),
            "offsets.topic.num.partitions" => self.offsets_topic_partitions.to_string(),
            "offsets.topic.replication.factor" => "1".into(),
            "offsets.retention.minutes" => (self.offsets_retention_ms / 60_000).to_string(),
            "group.min.session.timeout.ms" => self.group_min_session_timeout_ms.to_string(),
            "group.max.session.timeout.ms" => self.group_max_session_timeout_ms.to_string(),
            "group.initial.rebalance.delay.ms" => self.group_initial_rebalance_delay_ms.to_string(),
            _ => return None,
        })
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
