//! The broker's Prometheus metrics. The registry is rendered in the text exposition format
//! by whoever serves `/metrics` (the CLI).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming a Kafka API.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabel {
    /// e.g. "Produce".
    pub api: String,
}

/// Labels naming a topic.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    /// Topic name.
    pub topic: String,
}

/// Labels naming one follower of one partition.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabel {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The follower's node id.
    pub replica: i32,
}

/// Labels naming the leader broker a follower fetches from.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaderLabel {
    /// The leader's node id.
    pub leader: i32,
}

/// Labels naming why the broker closed a connection.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabel {
    /// e.g. "idle".
    pub reason: &'static str,
}

/// Why the broker closed a connection on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No request (or no reading of a response) for `connections.max.idle.ms`.
    Idle,
    /// A request did not arrive in full within `socket.request.read.timeout.ms`.
    ReadTimeout,
}

impl CloseReason {
    /// The metric label.
    pub fn label(self) -> CloseLabel {
        CloseLabel {
            reason: match self {
                Self::Idle => "idle",
                Self::ReadTimeout => "read_timeout",
            },
        }
    }
}

/// Every metric the broker exports.
#[derive(Debug)]
pub struct BrokerMetrics {
    /// Requests handled, by API.
    pub requests: Family<ApiLabel, Counter>,
    /// Seconds from a request's arrival to its response being written, by API (a Fetch's
    /// long-poll wait included).
    pub request_seconds: Family<ApiLabel, Histogram>,
    /// Requests that could not be decoded or served (connection closed).
    pub request_errors: Counter,
    /// Open client connections.
    pub connections: Gauge,
    /// Connections refused by `max.connections.per.ip`.
    pub connections_refused: Counter,
    /// Connections the broker closed on its own, by reason.
    pub connection_closes: Family<CloseLabel, Counter>,
    /// Bytes of requests received.
    pub bytes_received: Counter,
    /// Bytes of responses sent.
    pub bytes_sent: Counter,
    /// Records appended by producers, by topic.
    pub records_in: Family<TopicLabel, Counter>,
    /// Record bytes appended by producers, by topic.
    pub record_bytes_in: Family<TopicLabel, Counter>,
    /// Record bytes returned to fetchers, by topic.
    pub record_bytes_out: Family<TopicLabel, Counter>,
    /// Partitions hosted.
    pub partitions: Gauge,
    /// Partitions this broker leads whose ISR is smaller than their replica set.
    pub under_replicated_partitions: Gauge,
    /// Partitions without a leader, as the active controller sees them (0 elsewhere).
    pub offline_partitions: Gauge,
    /// 1 on the active controller, else 0.
    pub active_controller: Gauge,
    /// The controller quorum's current Raft term (the leader epoch of the metadata log).
    pub quorum_term: Gauge,
    /// ISR changes this broker's leaders made that removed replicas (Kafka's IsrShrinks).
    pub isr_shrinks: Counter,
    /// ISR changes this broker's leaders made that added replicas (Kafka's IsrExpands).
    pub isr_expands: Counter,
    /// How many offsets each follower of a partition led here is behind the leader's log end.
    pub replica_lag: Family<ReplicaLabel, Gauge>,
    /// The `replica_lag` series set last time, so the ones no longer led are removed.
    replica_lag_series: std::sync::Mutex<std::collections::HashSet<ReplicaLabel>>,
    /// Replica-fetch answers this broker received as a follower, by leader (Kafka's
    /// FetcherStats RequestsPerSec).
    pub replica_fetch_answers: Family<LeaderLabel, Counter>,
    /// Record bytes in those answers, by leader (FetcherStats BytesPerSec): divided by the
    /// answers, how much each round of replication carries.
    pub replica_fetch_bytes: Family<LeaderLabel, Counter>,
    /// The transform runners' metrics (`fjord_transform_*`).
    pub transforms: crate::transform::TransformMetrics,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics {
            requests: Family::default(),
            // 50 µs to ~105 s, doubling.
            request_seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00005, 2.0, 22))),
            request_errors: Counter::default(),
            connections: Gauge::default(),
            connections_refused: Counter::default(),
            connection_closes: Family::default(),
            bytes_received: Counter::default(),
            bytes_sent: Counter::default(),
            records_in: Family::default(),
            record_bytes_in: Family::default(),
            record_bytes_out: Family::default(),
            partitions: Gauge::default(),
            under_replicated_partitions: Gauge::default(),
            offline_partitions: Gauge::default(),
            active_controller: Gauge::default(),
            quorum_term: Gauge::default(),
            isr_shrinks: Counter::default(),
            isr_expands: Counter::default(),
            replica_lag: Family::default(),
            replica_lag_series: std::sync::Mutex::default(),
            replica_fetch_answers: Family::default(),
            replica_fetch_bytes: Family::default(),
            transforms: crate::transform::TransformMetrics::default(),
        }
    }
}

impl BrokerMetrics {
    /// Registers every metric under the `fjord_broker` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fjord_broker");
        r.register("requests", "Kafka requests handled, by API", self.requests.clone());
        r.register(
            "request_seconds",
            "Time from a request's arrival to its response being written, by API",
            self.request_seconds.clone(),
        );
        r.register("request_errors", "Requests that could not be decoded or served", self.request_errors.clone());
        r.register("connections", "Open client connections", self.connections.clone());
        r.register("connections_refused", "Connections refused by max.connections.per.ip", self.connections_refused.clone());
        r.register("connection_closes", "Connections the broker closed, by reason (idle, read_timeout)", self.connection_closes.clone());
        r.register("received_bytes", "Bytes of requests received", self.bytes_received.clone());
        r.register("sent_bytes", "Bytes of responses sent", self.bytes_sent.clone());
        r.register("records_in", "Records appended by producers", self.records_in.clone());
        r.register("record_bytes_in", "Record batch bytes appended by producers", self.record_bytes_in.clone());
        r.register("record_bytes_out", "Record batch bytes returned to fetchers", self.record_bytes_out.clone());
        r.register("partitions", "Partitions hosted by this broker", self.partitions.clone());
        r.register("under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replicas", self.under_replicated_partitions.clone());
        r.register("offline_partitions", "Partitions without a leader (reported by the active controller)", self.offline_partitions.clone());
        r.register("active_controller", "1 on the active controller", self.active_controller.clone());
        r.register("quorum_term", "The controller quorum's Raft term", self.quorum_term.clone());
        r.register("isr_shrinks", "ISR changes by this broker's leaders that removed replicas", self.isr_shrinks.clone());
        r.register("isr_expands", "ISR changes by this broker's leaders that added replicas", self.isr_expands.clone());
        r.register("replica_lag_offsets", "How far each follower of a partition led here is behind the leader's log end, in offsets", self.replica_lag.clone());
        r.register("replica_fetch_answers", "Replica-fetch answers received as a follower, by leader", self.replica_fetch_answers.clone());
        r.register("replica_fetch_bytes", "Record bytes in replica-fetch answers received as a follower, by leader", self.replica_fetch_bytes.clone());
        self.transforms.register(registry);
    }

    /// Replaces the `replica_lag` series with `lags`: followers of partitions no longer led
    /// here disappear.
    pub fn set_replica_lags(&self, lags: impl IntoIterator<Item = (ReplicaLabel, u64)>) {
        let mut previous = self.replica_lag_series.lock().unwrap_or_else(|p| p.into_inner());
        let mut current = std::collections::HashSet::new();
        for (label, lag) in lags {
            self.replica_lag.get_or_create(&label).set(i64::try_from(lag).unwrap_or(i64::MAX));
            current.insert(label);
        }
        for gone in previous.difference(&current) {
            self.replica_lag.remove(gone);
        }
        *previous = current;
    }
}
