//! The connector runtime: a [`Worker`] runs connectors' tasks, each under a supervisor that
//! restarts it with backoff when it fails. A worker runs alone (standalone, `fjord dev`) or
//! in a group of workers that share connectors and divide tasks (`distributed`).
//!
//! ```text
//! source task ──poll──► records ──converters──► rdkafka producer ──acks──► offsets (store) ──► task.commit
//! topic ──rdkafka consumer (batches)──► converters ──► sink task.put … task.flush ──► commit offsets (group)
//! ```
//!
//! Tasks see only records; the runtime owns Kafka clients, converters, offsets and retries.

mod assignment;
pub(crate) mod cluster;
mod configs;
mod distributed;
mod errors;
mod fetch_queue;
mod metrics;
mod offsets;
mod running;
mod sink;
mod source;
mod status;
mod supervisor;
mod worker;

pub use cluster::Cluster;
pub use configs::ConfigFile;
pub use distributed::DistributedSettings;
pub use metrics::{ConnectMetrics, TaskMetrics};
pub use status::{ConnectorState, ConnectorStatus, TaskState, TaskStatus};
pub use worker::{ConnectorInfo, Worker, WorkerSettings};

/// What a connector has been told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Running,
    Paused,
    /// Tasks shut down, config kept (Kafka Connect's STOPPED).
    Stopped,
}

/// The control a connector's tasks watch: the target state, and a generation that changes on
/// every restart request or config change (a task seeing a new generation ends its run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Control {
    pub state: TargetState,
    pub generation: u64,
    /// Set when the worker shuts down or the connector is deleted: supervisors end.
    pub removed: bool,
}

/// Why a task's run ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The target state or generation changed; the supervisor decides what next.
    Control,
}
