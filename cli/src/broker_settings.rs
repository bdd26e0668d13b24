//! Settings of a broker process: flags, `FJORD_*` environment variables and a TOML file,
//! merged in that order of precedence over built-in defaults, then turned into the
//! [`BrokerConfig`] the broker runs with.
//!
//! Every flag `--some-name` is also `some_name` in the TOML file and `FJORD_SOME_NAME` in the
//! environment, so one table (`fjord broker --help`) documents all three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fjord_log_core::broker::{BrokerConfig, ClusterSettings};
use serde::Deserialize;

/// Broker settings as given on the command line (or the environment). Every field is
/// optional: what is missing comes from the config file, then from the defaults.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSettings {
    /// Directory for partition logs and metadata [default: ./fjord-data]
    #[arg(long, value_name = "DIR", env = "FJORD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Address the Kafka listener binds [default: 127.0.0.1:9092]
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_LISTEN")]
    pub listen: Option<String>,

    /// Address clients are told to connect to [default: the listen address]
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,

    /// This broker's node id [default: 1]
    #[arg(long, value_name = "N", env = "FJORD_NODE_ID")]
    pub node_id: Option<i32>,

    /// The controller quorum of a multi-node cluster, as `ID@HOST:PORT,...` (each voter's
    /// inter-broker endpoint; controller.quorum.voters). A node whose id is listed runs the
    /// controller role too. Without it, the broker is a one-node cluster with its metadata in
    /// a local file [default: none]
    #[arg(long, value_name = "ID@HOST:PORT,...", env = "FJORD_CONTROLLER_QUORUM_VOTERS")]
    pub controller_quorum_voters: Option<String>,

    /// Address the inter-broker (gRPC) listener binds, in a cluster [default: this node's
    /// endpoint in --controller-quorum-voters; required on a broker-only node]
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_RPC_LISTEN")]
    pub rpc_listen: Option<String>,

    /// Address other nodes reach this broker-only node's inter-broker listener at
    /// [default: --rpc-listen]
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_RPC_ADVERTISED_LISTENER")]
    pub rpc_advertised_listener: Option<String>,

    /// Roles of this node (process.roles): `broker,controller` for a node listed in
    /// --controller-quorum-voters (combined mode), `controller` for a voter that only runs the
    /// controller (no Kafka listener, no partitions: the layout for larger clusters), `broker`
    /// for a node not in the list (it receives the metadata log without voting, so a cluster
    /// can grow past its voters) [default: broker,controller for a voter, else broker]
    #[arg(long, value_name = "ROLES", env = "FJORD_PROCESS_ROLES")]
    pub process_roles: Option<String>,

    /// A broker that stops heartbeating for this long is fenced and loses its leaderships
    /// (broker.session.timeout.ms) [default: 9000]
    #[arg(long, value_name = "MS", env = "FJORD_BROKER_SESSION_TIMEOUT_MS")]
    pub broker_session_timeout_ms: Option<u64>,

    /// How often a broker heartbeats the controller (broker.heartbeat.interval.ms) [default: 2000]
    #[arg(long, value_name = "MS", env = "FJORD_BROKER_HEARTBEAT_INTERVAL_MS")]
    pub broker_heartbeat_interval_ms: Option<u64>,

    /// A follower that has not caught up with its leader for this long leaves the ISR
    /// (replica.lag.time.max.ms) [default: 30000]
    #[arg(long, value_name = "MS", env = "FJORD_REPLICA_LAG_TIME_MAX_MS")]
    pub replica_lag_time_max_ms: Option<u64>,

    /// Move partition leadership back to preferred replicas automatically
    /// (auto.leader.rebalance.enable) [default: true]
    #[arg(long, value_name = "BOOL", env = "FJORD_AUTO_LEADER_REBALANCE_ENABLE")]
    pub auto_leader_rebalance_enable: Option<bool>,

    /// How often the controller checks for leadership away from preferred replicas
    /// (leader.imbalance.check.interval.seconds) [default: 30]
    #[arg(long, value_name = "SECONDS", env = "FJORD_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS")]
    pub leader_imbalance_check_interval_seconds: Option<u64>,

    /// Address of the HTTP endpoint serving Prometheus metrics at /metrics [default: 127.0.0.1:9644]
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Partitions of auto-created topics (num.partitions) [default: 1]
    #[arg(long, value_name = "N", env = "FJORD_NUM_PARTITIONS")]
    pub num_partitions: Option<i32>,

    /// Replication factor of topics created without one (default.replication.factor) [default: 1]
    #[arg(long, value_name = "N", env = "FJORD_DEFAULT_REPLICATION_FACTOR")]
    pub default_replication_factor: Option<i16>,

    /// Create topics on first use by a producer or consumer (auto.create.topics.enable) [default: true]
    #[arg(long, value_name = "BOOL", env = "FJORD_AUTO_CREATE_TOPICS")]
    pub auto_create_topics: Option<bool>,

    /// Largest record batch a topic accepts unless it sets max.message.bytes (message.max.bytes) [default: 1048588]
    #[arg(long, value_name = "BYTES", env = "FJORD_MESSAGE_MAX_BYTES")]
    pub message_max_bytes: Option<u64>,

    /// Largest request accepted; larger ones close the connection (socket.request.max.bytes) [default: 104857600]
    #[arg(long, value_name = "BYTES", env = "FJORD_SOCKET_REQUEST_MAX_BYTES")]
    pub socket_request_max_bytes: Option<usize>,

    /// Default retention time, -1 for none (log.retention.ms) [default: 604800000, 7 days]
    #[arg(long, value_name = "MS", env = "FJORD_LOG_RETENTION_MS", allow_negative_numbers = true)]
    pub log_retention_ms: Option<i64>,

    /// Default retention size per partition, -1 for none (log.retention.bytes) [default: -1]
    #[arg(long, value_name = "BYTES", env = "FJORD_LOG_RETENTION_BYTES", allow_negative_numbers = true)]
    pub log_retention_bytes: Option<i64>,

    /// Default segment size (log.segment.bytes) [default: 1073741824]
    #[arg(long, value_name = "BYTES", env = "FJORD_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<u64>,

    /// How often retention and compaction run (log.retention.check.interval.ms) [default: 300000]
    #[arg(long, value_name = "MS", env = "FJORD_LOG_RETENTION_CHECK_INTERVAL_MS")]
    pub log_retention_check_interval_ms: Option<u64>,

    /// fsync before acknowledging acks=all produces to a partition with one replica. `false`
    /// acknowledges from the page cache like Kafka's default, trading crash safety on a single
    /// node for throughput. Replicated partitions never fsync for acks=all: as in Kafka, the
    /// in-sync replicas are their durability (a topic's flush.messages=1 fsyncs every write)
    /// [default: true]
    #[arg(long, value_name = "BOOL", env = "FJORD_FLUSH_ON_ACKS_ALL")]
    pub flush_on_acks_all: Option<bool>,

    /// Partitions of __consumer_offsets, fixed at first start (offsets.topic.num.partitions) [default: 50]
    #[arg(long, value_name = "N", env = "FJORD_OFFSETS_TOPIC_PARTITIONS")]
    pub offsets_topic_partitions: Option<i32>,

    /// How long a new group's first rebalance waits for more members (group.initial.rebalance.delay.ms) [default: 3000]
    #[arg(long, value_name = "MS", env = "FJORD_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    pub group_initial_rebalance_delay_ms: Option<u64>,

    /// Smallest session timeout a consumer may ask for (group.min.session.timeout.ms) [default: 6000]
    #[arg(long, value_name = "MS", env = "FJORD_GROUP_MIN_SESSION_TIMEOUT_MS")]
    pub group_min_session_timeout_ms: Option<i32>,

    /// Largest session timeout a consumer may ask for (group.max.session.timeout.ms) [default: 1800000]
    #[arg(long, value_name = "MS", env = "FJORD_GROUP_MAX_SESSION_TIMEOUT_MS")]
    pub group_max_session_timeout_ms: Option<i32>,

    /// Most record bytes one Fetch returns, whatever the client asks (fetch.max.bytes) [default: 57671680, 55 MiB]
    #[arg(long, value_name = "BYTES", env = "FJORD_FETCH_MAX_BYTES")]
    pub fetch_max_bytes: Option<usize>,

    /// Bytes of requests read but not yet answered, across all connections; at the bound the
    /// broker stops reading sockets (queued.max.request.bytes) [default: 536870912, 512 MiB]
    #[arg(long, value_name = "BYTES", env = "FJORD_QUEUED_MAX_REQUEST_BYTES")]
    pub queued_max_request_bytes: Option<usize>,

    /// Close connections with no request for this long (connections.max.idle.ms) [default: 600000]
    #[arg(long, value_name = "MS", env = "FJORD_CONNECTIONS_MAX_IDLE_MS")]
    pub connections_max_idle_ms: Option<u64>,

    /// Open client connections in all; at the limit new ones wait in the backlog (max.connections) [default: 2147483647]
    #[arg(long, value_name = "N", env = "FJORD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Open connections from one client address; more are refused (max.connections.per.ip) [default: 2147483647]
    #[arg(long, value_name = "N", env = "FJORD_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,

    /// Once a request starts arriving, the whole of it must arrive within this time or the
    /// connection is closed (socket.request.read.timeout.ms, Fjord's own) [default: 30000]
    #[arg(long, value_name = "MS", env = "FJORD_SOCKET_REQUEST_READ_TIMEOUT_MS")]
    pub socket_request_read_timeout_ms: Option<u64>,
}

/// The resolved settings of one broker process.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What the broker runs with.
    pub broker: BrokerConfig,
    /// Where the Kafka listener binds.
    pub listen: SocketAddr,
    /// Where /metrics is served.
    pub metrics_listen: SocketAddr,
}

macro_rules! merge {
    ($flags:expr, $file:expr, $($field:ident),* $(,)?) => {
        BrokerSettings { $($field: $flags.$field.or($file.$field),)* }
    };
}

impl BrokerSettings {
    /// Fills what the command line left unset from `file`.
    pub fn or(self, file: BrokerSettings) -> BrokerSettings {
        merge!(
            self, file, data_dir, listen, advertised_listener, node_id, metrics_listen, num_partitions, default_replication_factor,
            auto_create_topics, message_max_bytes, socket_request_max_bytes, log_retention_ms, log_retention_bytes, log_segment_bytes,
            log_retention_check_interval_ms, flush_on_acks_all, offsets_topic_partitions, group_initial_rebalance_delay_ms,
            group_min_session_timeout_ms, group_max_session_timeout_ms, fetch_max_bytes, queued_max_request_bytes,
            connections_max_idle_ms, max_connections, max_connections_per_ip, socket_request_read_timeout_ms,
            controller_quorum_voters, rpc_listen, rpc_advertised_listener, process_roles, broker_session_timeout_ms, broker_heartbeat_interval_ms,
            replica_lag_time_max_ms, auto_leader_rebalance_enable, leader_imbalance_check_interval_seconds,
        )
    }

    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> anyhow::Result<BrokerSettings> {
        let text = std::fs::read_to_string(path).with_context(|| format!("could not read the config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}\nSettings are the flag names with underscores, e.g. data_dir = \"/var/lib/fjord\"; see `fjord broker --help`", path.display()))
    }

    /// Applies the defaults and checks every value.
    pub fn resolve(self) -> anyhow::Result<Resolved> {
        let static_configs = self.kafka_names();
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("./fjord-data"));
        let listen = parse_addr("listen", self.listen.as_deref().unwrap_or("127.0.0.1:9092"))?;
        let advertised = match &self.advertised_listener {
            Some(a) => split_host_port("advertised_listener", a)?,
            None => (listen.ip().to_string(), listen.port()),
        };
        let metrics_listen = parse_addr("metrics_listen", self.metrics_listen.as_deref().unwrap_or("127.0.0.1:9644"))?;
        let mut c = BrokerConfig::new(data_dir);
        c.advertised_host = advertised.0;
        c.advertised_port = i32::from(advertised.1);
        if let Some(v) = self.node_id {
            if v < 0 {
                bail!("node_id must be 0 or more, got {v}");
            }
            c.node_id = v;
        }
        if let Some(v) = self.replica_lag_time_max_ms {
            if v < 100 {
                bail!("replica_lag_time_max_ms must be at least 100, got {v}");
            }
            c.replica_lag_time_max_ms = v;
        }
        if let Some(v) = self.auto_leader_rebalance_enable {
            c.auto_leader_rebalance = v;
        }
        if let Some(v) = self.leader_imbalance_check_interval_seconds {
            if v < 1 {
                bail!("leader_imbalance_check_interval_seconds must be at least 1, got {v}");
            }
            c.leader_imbalance_check_interval_ms = v.saturating_mul(1000);
        }
        if let Some(voters) = &self.controller_quorum_voters {
            let voters = parse_voters(voters)?;
            let voter = voters.contains_key(&c.node_id);
            let mut broker_role = true;
            if let Some(roles) = &self.process_roles {
                let mut parts: Vec<&str> = roles.split(',').map(str::trim).collect();
                parts.sort_unstable();
                match (parts.as_slice(), voter) {
                    (["broker", "controller"], true) | (["broker"], false) => {}
                    (["broker", "controller"], false) => bail!(
                        "process_roles {roles:?} needs node {} in controller_quorum_voters; a node outside the voter list runs the broker role alone (process_roles = \"broker\")",
                        c.node_id
                    ),
                    (["broker"], true) => bail!("node {} is in controller_quorum_voters, so it runs the controller role too; use process_roles = \"broker,controller\" or take it out of the voter list", c.node_id),
                    (["controller"], true) => broker_role = false,
                    (["controller"], false) => bail!("process_roles \"controller\" needs node {} in controller_quorum_voters: a controller votes in the quorum", c.node_id),
                    _ => bail!("process_roles {roles:?} is not one of broker, controller, broker,controller"),
                }
            }
            let (rpc_listen, own) = match voters.get(&c.node_id) {
                Some(own) => (self.rpc_listen.clone().unwrap_or_else(|| own.clone()), own.clone()),
                None => {
                    let listen = self.rpc_listen.clone().with_context(|| {
                        format!("node {} is not a voter (a broker-only node): give its inter-broker listener with rpc_listen", c.node_id)
                    })?;
                    let advertised = match &self.rpc_advertised_listener {
                        Some(a) => a.clone(),
                        None if parse_addr("rpc_listen", &listen)?.ip().is_unspecified() => {
                            bail!("rpc_listen {listen} is a wildcard address; give rpc_advertised_listener, the address other nodes reach this one at")
                        }
                        None => listen.clone(),
                    };
                    split_host_port("rpc_advertised_listener", &advertised)?;
                    (listen, advertised)
                }
            };
            parse_addr("rpc_listen", &rpc_listen)?;
            let mut cluster = ClusterSettings::new(voters, rpc_listen, own);
            cluster.broker_role = broker_role;
            if let Some(v) = self.broker_session_timeout_ms {
                cluster.broker_session_timeout_ms = v.max(100);
            }
            if let Some(v) = self.broker_heartbeat_interval_ms {
                cluster.broker_heartbeat_interval_ms = v.max(50);
            }
            if cluster.broker_heartbeat_interval_ms >= cluster.broker_session_timeout_ms {
                bail!("broker_heartbeat_interval_ms ({}) must be shorter than broker_session_timeout_ms ({})", cluster.broker_heartbeat_interval_ms, cluster.broker_session_timeout_ms);
            }
            c.cluster = Some(cluster);
        } else if self.rpc_listen.is_some() {
            bail!("rpc_listen needs controller_quorum_voters: a node alone has no inter-broker listener");
        }
        if let Some(v) = self.num_partitions {
            if v < 1 {
                bail!("num_partitions must be at least 1, got {v}");
            }
            c.num_partitions = v;
        }
        if let Some(v) = self.default_replication_factor {
            if v < 1 {
                bail!("default_replication_factor must be at least 1, got {v}");
            }
            c.default_replication_factor = v;
        }
        if let Some(v) = self.auto_create_topics {
            c.auto_create_topics = v;
        }
        if let Some(v) = self.message_max_bytes {
            c.log.max_message_bytes = v;
        }
        if let Some(v) = self.socket_request_max_bytes {
            if v < 1024 {
                bail!("socket_request_max_bytes must be at least 1024, got {v}");
            }
            c.socket_request_max_bytes = v;
        }
        if let Some(v) = self.log_retention_ms {
            c.log.set("retention.ms", &v.to_string()).context("log_retention_ms")?;
        }
        if let Some(v) = self.log_retention_bytes {
            c.log.set("retention.bytes", &v.to_string()).context("log_retention_bytes")?;
        }
        if let Some(v) = self.log_segment_bytes {
            c.log.set("segment.bytes", &v.to_string()).context("log_segment_bytes")?;
        }
        if let Some(v) = self.log_retention_check_interval_ms {
            c.retention_check_interval_ms = v.max(100);
        }
        if let Some(v) = self.flush_on_acks_all {
            c.flush_on_acks_all = v;
        }
        if let Some(v) = self.offsets_topic_partitions {
            if !(1..=1000).contains(&v) {
                bail!("offsets_topic_partitions must be between 1 and 1000, got {v}");
            }
            c.offsets_topic_partitions = v;
        }
        if let Some(v) = self.group_initial_rebalance_delay_ms {
            c.group_initial_rebalance_delay_ms = v;
        }
        if let Some(v) = self.group_min_session_timeout_ms {
            c.group_min_session_timeout_ms = v;
        }
        if let Some(v) = self.group_max_session_timeout_ms {
            c.group_max_session_timeout_ms = v;
        }
        if c.group_min_session_timeout_ms > c.group_max_session_timeout_ms {
            bail!(
                "group_min_session_timeout_ms ({}) is larger than group_max_session_timeout_ms ({})",
                c.group_min_session_timeout_ms,
                c.group_max_session_timeout_ms
            );
        }
        if let Some(v) = self.fetch_max_bytes {
            if v < 1024 {
                bail!("fetch_max_bytes must be at least 1024, got {v}");
            }
            c.fetch_max_bytes = v;
        }
        if let Some(v) = self.queued_max_request_bytes {
            c.queued_max_request_bytes = v;
        }
        if c.queued_max_request_bytes < c.socket_request_max_bytes {
            bail!(
                "queued_max_request_bytes ({}) must be at least socket_request_max_bytes ({}), or the largest request could never be read",
                c.queued_max_request_bytes,
                c.socket_request_max_bytes
            );
        }
        if let Some(v) = self.connections_max_idle_ms {
            c.connections_max_idle_ms = v.max(1);
        }
        if let Some(v) = self.max_connections {
            if v < 1 {
                bail!("max_connections must be at least 1, got {v}");
            }
            c.max_connections = v;
        }
        if let Some(v) = self.max_connections_per_ip {
            if v < 1 {
                bail!("max_connections_per_ip must be at least 1, got {v}");
            }
            c.max_connections_per_ip = v;
        }
        if let Some(v) = self.socket_request_read_timeout_ms {
            c.request_read_timeout_ms = v.max(1);
        }
        c.listeners = format!("PLAINTEXT://{listen}");
        c.static_configs = static_configs;
        Ok(Resolved { broker: c, listen, metrics_listen })
    }

    /// The settings given, under their Kafka names (what DescribeConfigs reports as set).
    fn kafka_names(&self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                out.insert(name.to_string(), v);
            }
        };
        let show = |v: &Option<PathBuf>| v.as_ref().map(|p| p.join("logs").display().to_string());
        put("log.dirs", show(&self.data_dir));
        put("listeners", self.listen.as_ref().map(|l| format!("PLAINTEXT://{l}")));
        put("advertised.listeners", self.advertised_listener.as_ref().map(|l| format!("PLAINTEXT://{l}")));
        put("node.id", self.node_id.map(|v| v.to_string()));
        put("num.partitions", self.num_partitions.map(|v| v.to_string()));
        put("default.replication.factor", self.default_replication_factor.map(|v| v.to_string()));
        put("auto.create.topics.enable", self.auto_create_topics.map(|v| v.to_string()));
        put("message.max.bytes", self.message_max_bytes.map(|v| v.to_string()));
        put("socket.request.max.bytes", self.socket_request_max_bytes.map(|v| v.to_string()));
        put("log.retention.ms", self.log_retention_ms.map(|v| v.to_string()));
        put("log.retention.bytes", self.log_retention_bytes.map(|v| v.to_string()));
        put("log.segment.bytes", self.log_segment_bytes.map(|v| v.to_string()));
        put("log.retention.check.interval.ms", self.log_retention_check_interval_ms.map(|v| v.to_string()));
        put("flush.on.acks.all", self.flush_on_acks_all.map(|v| v.to_string()));
        put("offsets.topic.num.partitions", self.offsets_topic_partitions.map(|v| v.to_string()));
        put("group.initial.rebalance.delay.ms", self.group_initial_rebalance_delay_ms.map(|v| v.to_string()));
        put("group.min.session.timeout.ms", self.group_min_session_timeout_ms.map(|v| v.to_string()));
        put("group.max.session.timeout.ms", self.group_max_session_timeout_ms.map(|v| v.to_string()));
        put("fetch.max.bytes", self.fetch_max_bytes.map(|v| v.to_string()));
        put("queued.max.request.bytes", self.queued_max_request_bytes.map(|v| v.to_string()));
        put("connections.max.idle.ms", self.connections_max_idle_ms.map(|v| v.to_string()));
        put("max.connections", self.max_connections.map(|v| v.to_string()));
        put("max.connections.per.ip", self.max_connections_per_ip.map(|v| v.to_string()));
        put("socket.request.read.timeout.ms", self.socket_request_read_timeout_ms.map(|v| v.to_string()));
        put("controller.quorum.voters", self.controller_quorum_voters.clone());
        put("process.roles", self.process_roles.clone());
        put("broker.session.timeout.ms", self.broker_session_timeout_ms.map(|v| v.to_string()));
        put("broker.heartbeat.interval.ms", self.broker_heartbeat_interval_ms.map(|v| v.to_string()));
        put("replica.lag.time.max.ms", self.replica_lag_time_max_ms.map(|v| v.to_string()));
        put("auto.leader.rebalance.enable", self.auto_leader_rebalance_enable.map(|v| v.to_string()));
        put("leader.imbalance.check.interval.seconds", self.leader_imbalance_check_interval_seconds.map(|v| v.to_string()));
        out
    }
}

/// Parses `controller.quorum.voters`: `ID@HOST:PORT` entries separated by commas.
fn parse_voters(value: &str) -> anyhow::Result<std::collections::BTreeMap<i32, String>> {
    let mut out = std::collections::BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, endpoint) = entry.split_once('@').with_context(|| format!("controller_quorum_voters entry {entry:?} is not ID@HOST:PORT"))?;
        let id: i32 = id.trim().parse().with_context(|| format!("controller_quorum_voters entry {entry:?}: {id:?} is not a node id"))?;
        split_host_port("controller_quorum_voters", endpoint.trim())?;
        if out.insert(id, endpoint.trim().to_string()).is_some() {
            bail!("controller_quorum_voters names node {id} twice");
        }
    }
    if out.is_empty() {
        bail!("controller_quorum_voters is empty; give ID@HOST:PORT entries separated by commas");
    }
    Ok(out)
}

fn parse_addr(name: &str, value: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("{name}: {value:?} is not a HOST:PORT address (e.g. 127.0.0.1:9092)"))
}

fn split_host_port(name: &str, value: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = value.rsplit_once(':').with_context(|| format!("{name}: {value:?} is not HOST:PORT"))?;
    let port = port.parse::<u16>().with_context(|| format!("{name}: {port:?} is not a port number"))?;
    if host.is_empty() {
        bail!("{name}: {value:?} has no host");
    }
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let flags = BrokerSettings { listen: Some("127.0.0.1:19092".into()), ..Default::default() };
        let file: BrokerSettings = toml::from_str("listen = \"127.0.0.1:1\"\nnum_partitions = 6\nflush_on_acks_all = false").unwrap();
        let r = flags.or(file).resolve().unwrap();
        assert_eq!(r.listen.port(), 19092);
        assert_eq!(r.broker.advertised_port, 19092);
        assert_eq!(r.broker.num_partitions, 6);
        assert!(!r.broker.flush_on_acks_all);
        assert_eq!(r.broker.data_dir, PathBuf::from("./fjord-data"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<BrokerSettings>("no_such = 1").is_err());
        let bad = BrokerSettings { num_partitions: Some(0), ..Default::default() };
        assert!(bad.resolve().unwrap_err().to_string().contains("num_partitions"));
        let bad = BrokerSettings { listen: Some("nonsense".into()), ..Default::default() };
        assert!(bad.resolve().is_err());
    }

    fn clustered(node_id: i32, roles: Option<&str>, rpc_listen: Option<&str>) -> anyhow::Result<Resolved> {
        BrokerSettings {
            node_id: Some(node_id),
            controller_quorum_voters: Some("1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194".into()),
            process_roles: roles.map(Into::into),
            rpc_listen: rpc_listen.map(Into::into),
            ..Default::default()
        }
        .resolve()
    }

    #[test]
    fn a_voter_runs_both_roles_or_the_controller_alone_and_a_node_outside_the_voters_is_a_broker() {
        let voter = clustered(2, None, None).unwrap().broker.cluster.unwrap();
        assert_eq!((voter.rpc_listen.as_str(), voter.rpc_advertised.as_str()), ("127.0.0.1:9193", "127.0.0.1:9193"));
        let broker = clustered(4, Some("broker"), Some("127.0.0.1:9195")).unwrap().broker.cluster.unwrap();
        assert_eq!(broker.rpc_advertised, "127.0.0.1:9195");
        assert!(!broker.voters.contains_key(&4));
        // A broker-only node needs its own inter-broker listener, and roles must match the list.
        assert!(clustered(4, None, None).unwrap_err().to_string().contains("rpc_listen"));
        assert!(clustered(4, Some("broker,controller"), Some("127.0.0.1:9195")).unwrap_err().to_string().contains("controller_quorum_voters"));
        assert!(clustered(1, Some("broker"), None).unwrap_err().to_string().contains("controller role too"));
        let controller = clustered(1, Some("controller"), None).unwrap().broker.cluster.unwrap();
        assert!(!controller.broker_role && voter.broker_role && broker.broker_role);
        assert!(clustered(4, Some("controller"), Some("127.0.0.1:9195")).unwrap_err().to_string().contains("votes in the quorum"));
        assert!(clustered(4, Some("broker"), Some("0.0.0.0:9195")).unwrap_err().to_string().contains("rpc_advertised_listener"));
    }
}
