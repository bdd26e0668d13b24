//! Retention: deleting whole old segments by `retention.ms`, `retention.bytes`, and the log
//! start offset (DeleteRecords). The active segment is never deleted, and deletion always
//! takes a prefix of the log, so offsets stay contiguous from the new log start.

use super::error::Result;
use super::log::PartitionLog;

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Bytes freed.
    pub deleted_bytes: u64,
    /// First readable offset afterwards.
    pub log_start_offset: u64,
}

impl PartitionLog {
    /// Deletes the oldest segments that are past `retention.ms` (their newest timestamp is
    /// older than `now_ms - retention.ms`), beyond `retention.bytes`, or wholly below the log
    /// start offset. Time and size apply only under `cleanup.policy` containing `delete`.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<RetentionOutcome> {
        let policy = self.config.cleanup_policy;
        let bases: Vec<u64> = self.segments.keys().copied().collect();
        let mut remaining = self.size_bytes();
        let mut doomed = 0;
        // Every segment but the active one is a candidate, oldest first.
        for (i, segment) in self.segments.values().take(bases.len().saturating_sub(1)).enumerate() {
            let next_base = bases[i + 1];
            let below_start = next_base <= self.log_start_offset;
            let expired = policy.delete
                && self.config.retention_ms.is_some_and(|ms| segment.max_timestamp() < now_ms.saturating_sub(ms));
            let oversize = policy.delete
                && self.config.retention_bytes.is_some_and(|max| remaining.saturating_sub(segment.size()) >= max);
            if !(below_start || expired || oversize) {
                break;
            }
            remaining -= segment.size();
            doomed += 1;
        }
        let mut outcome = RetentionOutcome::default();
        for base in bases.into_iter().take(doomed) {
            if let Some(segment) = self.segments.remove(&base) {
                outcome.deleted_segments += 1;
                outcome.deleted_bytes += segment.size();
                tracing::info!(segment = %segment.log_path().display(), "deleting segment by retention");
                segment.delete()?;
            }
        }
        if let Some(&first) = self.segments.keys().next()
            && first > self.log_start_offset
        {
            self.log_start_offset = first;
            self.epochs.truncate_from_start(first)?;
        }
        outcome.log_start_offset = self.log_start_offset;
        Ok(outcome)
    }
}
