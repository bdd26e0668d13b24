//! Where source offsets are kept between runs: per connector, the newest offset of each source
//! partition. Standalone workers keep them in a local file ([`file::FileOffsetStore`]), workers in a
//! group in a compacted topic ([`topic::TopicOffsetStore`]).
//!
//! Contract: `put` only stages; after `flush` returns, every staged offset survives a crash of
//! this process or the machine. Offsets are staged only for records the cluster acknowledged.

pub mod file;
pub mod topic;

use crate::error::Result;
use crate::record::SourceMap;

/// A source partition with its newest offset.
pub type OffsetEntry = (SourceMap, SourceMap);

/// Storage of source connectors' offsets.
pub trait OffsetStore: Send + Sync + std::fmt::Debug {
    /// The stored offsets of `connector`.
    fn get(&self, connector: &str) -> Vec<OffsetEntry>;
    /// Stages offsets of `connector` (replacing those of the same source partitions).
    fn put(&self, connector: &str, entries: &[OffsetEntry]);
    /// Makes everything staged durable.
    fn flush(&self) -> Result<()>;
    /// Forgets every offset of `connector` (durably).
    fn remove(&self, connector: &str) -> Result<()>;
    /// Catches up with offsets other workers stored (before a task starts); a store only
    /// this process writes has nothing to catch up with.
    fn refresh(&self) -> Result<()> {
        Ok(())
    }
}

/// The key under which a source partition is stored: its JSON text, keys sorted.
pub(crate) fn partition_key(partition: &SourceMap) -> String {
    serde_json::to_string(partition).unwrap_or_default()
}
