//! Broker-side transforms: WebAssembly plugins (`fjord-plugins`) run next to the leader of
//! each input partition, reading the local log and writing through the normal produce path.
//!
//! ```text
//!  fjord transform deploy ─(Kafka listener, Fjord extension frame: admin.rs)─► any broker
//!     validates the plugin, forwards to the controller ─► MetadataRecord::DeployTransform
//!                                                              │ every broker's image
//!                                                              ▼
//!  TransformManager (manager.rs): a Runner per running deployment × input partition led here
//!  Runner (runner.rs): local log ─► records.rs ─► process.rs (plugin, error policy)
//!                      ─► output.rs (partitions led here: the broker's produce path
//!                         in-process) / clients.rs (the others: idempotent producer)
//!                      ─► offsets committed to the consumer group `fjord-transform-<name>`
//! ```
//!
//! Deployments live in the metadata image ([`crate::metadata::TransformDeployment`]); what a
//! runner does and why is logged to the `__fjord_transform_logs` topic, keyed by the
//! transform's name (`fjord transform logs`).

pub mod admin;
mod clients;
mod manager;
mod metrics;
mod output;
mod process;
mod records;
mod runner;

pub use admin::{StoppedView, TransformRequest, TransformResponse, TransformView, MAX_PLUGIN_BYTES, TRANSFORM_ADMIN_VERSION};
pub use manager::{ManagerDeps, PartitionLookup, TransformManager};
pub use metrics::{RunnerLabel, TransformMetrics};
pub use output::{murmur2, partition_for, LocalProduce};

/// The topic holding every transform's log lines, keyed by transform name.
pub const TRANSFORM_LOGS_TOPIC: &str = "__fjord_transform_logs";

/// One line of a transform's log: JSON with the time (Unix ms), level, input partition and
/// message.
pub(crate) fn log_line(level: &str, partition: i32, message: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    serde_json::to_vec(&serde_json::json!({ "timestamp_ms": now, "level": level, "partition": partition, "message": message })).unwrap_or_default()
}

/// Checks a transform name: 1–200 characters of `[a-zA-Z0-9._-]` (it becomes part of a
/// consumer group id and of log keys).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err(format!("transform name {name:?} must be 1 to 200 characters long"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(format!("transform name {name:?} may hold only ASCII letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}
