//! `OffsetsTopic`: where the coordinator persists its records — the compacted
//! `__consumer_offsets` topic, provided by the broker — and `MemoryOffsetsTopic`, an in-memory
//! implementation for tests and tools.
//!
//! The contract, which the coordinator's correctness rests on:
//! - `append` writes all the records of one call as one batch, in order, to one partition, and
//!   resolves `Ok` only once they are durable (acks=all). After `Ok`, `read_all` of that
//!   partition returns them after everything appended before.
//! - `read_all` returns a partition's records in offset order; compaction may have dropped
//!   records superseded by a later one with the same key, never the latest one of a key.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::group::GroupError;

/// One record of the offsets topic: key and value; a value of `None` is a tombstone.
pub type OffsetsRecord = (Vec<u8>, Option<Vec<u8>>);

/// A boxed future returned by [`OffsetsTopic::append`].
pub type AppendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), GroupError>> + Send + 'a>>;

/// The compacted topic the coordinator persists offsets and group metadata to.
pub trait OffsetsTopic: Send + Sync + 'static {
    /// Number of partitions of the topic.
    fn partition_count(&self) -> i32;
    /// Appends `records` to `partition` as a single batch; resolves once they are durable.
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> AppendFuture<'_>;
    /// Every record of `partition`, in offset order (used at load).
    fn read_all(&self, partition: i32) -> Result<Vec<OffsetsRecord>, GroupError>;
}

impl<T: OffsetsTopic> OffsetsTopic for Arc<T> {
    fn partition_count(&self) -> i32 {
        (**self).partition_count()
    }
    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> AppendFuture<'_> {
        (**self).append(partition, records)
    }
    fn read_all(&self, partition: i32) -> Result<Vec<OffsetsRecord>, GroupError> {
        (**self).read_all(partition)
    }
}

/// An offsets topic in memory. Clones share the same records, so a test can build a
/// coordinator, drop it, and load another one from what the first wrote.
#[derive(Debug, Clone)]
pub struct MemoryOffsetsTopic {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    partitions: Mutex<Vec<Vec<OffsetsRecord>>>,
    failing: AtomicBool,
}

impl MemoryOffsetsTopic {
    /// An empty topic of `partitions` partitions.
    pub fn new(partitions: i32) -> Self {
        let count = usize::try_from(partitions).unwrap_or(0);
        MemoryOffsetsTopic {
            shared: Arc::new(Shared {
                partitions: Mutex::new(vec![Vec::new(); count]),
                failing: AtomicBool::new(false),
            }),
        }
    }

    /// While `failing`, every append fails with [`GroupError::Unavailable`] (and writes nothing).
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// A copy of the records of `partition` (empty for a partition that does not exist).
    pub fn records(&self, partition: i32) -> Vec<OffsetsRecord> {
        let partitions = self.shared.partitions.lock().unwrap_or_else(PoisonError::into_inner);
        usize::try_from(partition).ok().and_then(|p| partitions.get(p)).cloned().unwrap_or_default()
    }

    /// Appends records without going through a coordinator (to plant corrupt ones in tests).
    pub fn push_raw(&self, partition: i32, records: Vec<OffsetsRecord>) -> Result<(), GroupError> {
        let mut partitions = self.shared.partitions.lock().unwrap_or_else(PoisonError::into_inner);
        let log = usize::try_from(partition)
            .ok()
            .and_then(|p| partitions.get_mut(p))
            .ok_or_else(|| GroupError::Unavailable { partition, reason: "no such partition".into() })?;
        log.extend(records);
        Ok(())
    }
}

impl OffsetsTopic for MemoryOffsetsTopic {
    fn partition_count(&self) -> i32 {
        let partitions = self.shared.partitions.lock().unwrap_or_else(PoisonError::into_inner);
        i32::try_from(partitions.len()).unwrap_or(i32::MAX)
    }

    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> AppendFuture<'_> {
        let result = if self.shared.failing.load(Ordering::SeqCst) {
            Err(GroupError::Unavailable { partition, reason: "appends are failing (test switch)".into() })
        } else {
            self.push_raw(partition, records)
        };
        Box::pin(async move { result })
    }

    fn read_all(&self, partition: i32) -> Result<Vec<OffsetsRecord>, GroupError> {
        let partitions = self.shared.partitions.lock().unwrap_or_else(PoisonError::into_inner);
        usize::try_from(partition)
            .ok()
            .and_then(|p| partitions.get(p))
            .cloned()
            .ok_or_else(|| GroupError::Unavailable { partition, reason: "no such partition".into() })
    }
}
