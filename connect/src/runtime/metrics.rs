//! The connect worker's Prometheus metrics (`fjord_connect_*`), per connector and task:
//! records polled, written, put; batch sizes; tasks' states and automatic restarts; records
//! skipped and dead-lettered; and for change data capture, how far the stream is behind the
//! server (bytes of WAL and seconds since the newest change it has passed on).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::runtime::TaskState;

/// Labels naming one task.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    pub connector: String,
    pub task: String,
}

/// Labels naming one task in one state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub connector: String,
    pub task: String,
    pub state: TaskState,
}

impl EncodeLabelValue for TaskState {
    fn encode(&self, encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.name())
    }
}

const STATES: [TaskState; 6] = [TaskState::Unassigned, TaskState::Running, TaskState::Paused, TaskState::Failed, TaskState::Restarting, TaskState::Stopped];

fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 9))
}

/// The worker's metrics. Cheap to clone (shared series).
#[derive(Debug, Clone)]
pub struct ConnectMetrics {
    pub source_records_polled: Family<TaskLabel, Counter>,
    pub source_records_written: Family<TaskLabel, Counter>,
    pub sink_records_put: Family<TaskLabel, Counter>,
    pub batch_size: Family<TaskLabel, Histogram, fn() -> Histogram>,
    pub records_skipped: Family<TaskLabel, Counter>,
    pub dead_letters: Family<TaskLabel, Counter>,
    pub task_state: Family<StateLabel, Gauge>,
    pub task_restarts: Family<TaskLabel, Counter>,
    pub cdc_lag_bytes: Family<TaskLabel, Gauge>,
    pub cdc_lag_seconds: Family<TaskLabel, Gauge<f64, AtomicU64>>,
}

impl Default for ConnectMetrics {
    fn default() -> Self {
        Self {
            source_records_polled: Family::default(),
            source_records_written: Family::default(),
            sink_records_put: Family::default(),
            batch_size: Family::new_with_constructor(batch_histogram),
            records_skipped: Family::default(),
            dead_letters: Family::default(),
            task_state: Family::default(),
            task_restarts: Family::default(),
            cdc_lag_bytes: Family::default(),
            cdc_lag_seconds: Family::default(),
        }
    }
}

impl ConnectMetrics {
    /// Registers every metric under `fjord_connect`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fjord_connect");
        r.register("source_records_polled", "Records source tasks polled", self.source_records_polled.clone());
        r.register("source_records_written", "Source records the cluster acknowledged", self.source_records_written.clone());
        r.register("sink_records_put", "Records handed to sink tasks", self.sink_records_put.clone());
        r.register("batch_size", "Records per source poll or sink put", self.batch_size.clone());
        r.register("records_skipped", "Records skipped after failing to convert or transform (errors.tolerance=all)", self.records_skipped.clone());
        r.register("dead_letters", "Records written to the dead letter topic", self.dead_letters.clone());
        r.register("task_state", "1 for each task's current state", self.task_state.clone());
        r.register("task_restarts", "Automatic restarts of failed tasks", self.task_restarts.clone());
        r.register("cdc_lag_bytes", "Change data capture: WAL bytes between the server's end and the last change passed on", self.cdc_lag_bytes.clone());
        r.register("cdc_lag_seconds", "Change data capture: seconds since the commit of the last change passed on, while behind", self.cdc_lag_seconds.clone());
    }

    /// The label of a task.
    pub fn task(connector: &str, task: usize) -> TaskLabel {
        TaskLabel { connector: connector.to_string(), task: task.to_string() }
    }

    /// Records a task's state (1 for it, 0 for the others).
    pub fn set_state(&self, label: &TaskLabel, state: TaskState) {
        for s in STATES {
            let l = StateLabel { connector: label.connector.clone(), task: label.task.clone(), state: s };
            self.task_state.get_or_create(&l).set(i64::from(s == state));
        }
    }

    /// Forgets a task's series (its connector was deleted).
    pub fn forget(&self, label: &TaskLabel) {
        for s in STATES {
            self.task_state.remove(&StateLabel { connector: label.connector.clone(), task: label.task.clone(), state: s });
        }
        self.cdc_lag_bytes.remove(label);
        self.cdc_lag_seconds.remove(label);
    }
}

/// What a task itself reports (change data capture's lag).
#[derive(Debug, Clone)]
pub struct TaskMetrics {
    pub label: TaskLabel,
    pub metrics: ConnectMetrics,
}

impl TaskMetrics {
    /// A handle that records nothing anyone reads (for tests and tools).
    pub fn detached(connector: &str, task: usize) -> Self {
        Self { label: ConnectMetrics::task(connector, task), metrics: ConnectMetrics::default() }
    }

    pub fn set_lag(&self, bytes: u64, seconds: f64) {
        self.metrics.cdc_lag_bytes.get_or_create(&self.label).set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.metrics.cdc_lag_seconds.get_or_create(&self.label).set(seconds);
    }
}
