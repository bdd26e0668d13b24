//! Deferred fsync: what [`PartitionLog::flush`](super::PartitionLog::flush) would fsync,
//! captured under the log's lock and run after it is released. The broker uses it for
//! acks=all on a single node: appends go on while an fsync is in flight, and one fsync
//! covers every append made before it started (group commit).

use std::fs::File;
use std::path::PathBuf;

use super::error::{IoContext, Result};

/// A file to fsync, with its path for error messages.
pub(super) type SyncFile = (File, PathBuf);

/// Files to fsync and the offset they make durable. Made by
/// [`PartitionLog::pending_sync`](super::PartitionLog::pending_sync); once [`PendingSync::run`]
/// succeeds, hand it back to [`PartitionLog::mark_synced`](super::PartitionLog::mark_synced).
#[derive(Debug)]
pub struct PendingSync {
    pub(super) files: Vec<SyncFile>,
    /// Every record below this offset is durable once the files are fsynced.
    pub(super) end: u64,
    /// The log's truncation count when captured: a truncation in between voids the result.
    pub(super) truncations: u64,
    /// When the log's directory is among the files: the log's roll count when captured (the
    /// segment files created by those rolls have durable directory entries afterwards).
    pub(super) rolls: Option<u64>,
    /// The active segment's base when captured: the sync did not cover its indexes, so if it
    /// has been sealed since, the recovery point must not pass it.
    pub(super) active_base: u64,
    /// The log's appended-records total when captured: what the sync covers, for the flush
    /// policy's count.
    pub(super) messages: u64,
    /// Wall-clock time of the capture, in ms.
    pub(super) captured_ms: i64,
}

/// Wall-clock time in ms.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl PendingSync {
    /// The offset below which every record is durable after [`PendingSync::run`].
    pub fn end(&self) -> u64 {
        self.end
    }

    /// fsyncs the files (data only, as `flush` does). Needs no lock on the log: the handles
    /// are duplicates, and a segment deleted meanwhile is fsynced harmlessly.
    pub fn run(&self) -> Result<()> {
        sync_all(&self.files)
    }
}

/// fsyncs each file (data only), stopping at the first failure.
pub(super) fn sync_all(files: &[SyncFile]) -> Result<()> {
    for (file, path) in files {
        file.sync_data().io("fsync", path)?;
    }
    Ok(())
}
