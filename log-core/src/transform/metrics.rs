//! The transforms' Prometheus metrics (`fjord_transform_*`), per deployment and input
//! partition, on the broker running that partition's runner.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels naming one runner: a transform and one of its input partitions.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunnerLabel {
    /// The transform's name.
    pub transform: String,
    /// The input partition.
    pub partition: i32,
}

/// The transforms' metrics. Cheap to clone (shared counters).
#[derive(Debug, Clone, Default)]
pub struct TransformMetrics {
    /// Input records read.
    pub records_in: Family<RunnerLabel, Counter>,
    /// Records written to output topics.
    pub records_out: Family<RunnerLabel, Counter>,
    /// Input records the plugin failed on (dead-lettered, skipped, or stopping the transform).
    pub failed_records: Family<RunnerLabel, Counter>,
    /// Input records not yet processed: high watermark minus the runner's position.
    pub lag: Family<RunnerLabel, Gauge>,
    /// Runners on this broker.
    pub runners: Gauge,
}

impl TransformMetrics {
    /// Registers every metric under `fjord_transform`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fjord_transform");
        r.register("records_in", "Input records read by transform runners", self.records_in.clone());
        r.register("records_out", "Records transforms wrote to their output topics", self.records_out.clone());
        r.register("failed_records", "Input records a transform's plugin failed on", self.failed_records.clone());
        r.register("lag", "Input records a transform has not processed yet (high watermark minus position)", self.lag.clone());
        r.register("runners", "Transform runners on this broker (one per deployment and input partition led here)", self.runners.clone());
    }

    /// Forgets a runner's series (it moved away or stopped).
    pub fn forget(&self, label: &RunnerLabel) {
        self.lag.remove(label);
    }
}
