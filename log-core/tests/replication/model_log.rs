//! A partition log in memory: records are (epoch, value) pairs, with the same epoch history
//! (Kafka's leader-epoch cache) the storage engine keeps.

use fjord_log_core::replication::EpochHistory;
use fjord_log_core::storage::{epoch_end_offset, EpochEndOffset, EpochEntry};

/// One record: the leader epoch it was written in and a value unique to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub epoch: i32,
    pub value: u64,
}

#[derive(Debug, Clone, Default)]
pub struct ModelLog {
    pub records: Vec<Record>,
    epochs: Vec<EpochEntry>,
}

impl ModelLog {
    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    /// As `LeaderEpochCache::assign`: a newer epoch starts at `start`.
    pub fn assign_epoch(&mut self, epoch: i32, start: u64) {
        if self.epochs.last().is_some_and(|e| e.epoch >= epoch) {
            return;
        }
        self.epochs.retain(|e| e.start_offset < start);
        self.epochs.push(EpochEntry { epoch, start_offset: start });
    }

    /// The leader path: the epoch was assigned when it became leader.
    pub fn append_as_leader(&mut self, epoch: i32, value: u64) {
        self.assign_epoch(epoch, self.len());
        self.records.push(Record { epoch, value });
    }

    /// The follower path: records keep their epochs.
    pub fn append_replicated(&mut self, records: &[Record]) {
        for r in records {
            self.assign_epoch(r.epoch, self.len());
            self.records.push(*r);
        }
    }

    pub fn truncate_to(&mut self, end: u64) {
        self.records.truncate(end as usize);
        self.epochs.retain(|e| e.start_offset < end);
    }
}

impl EpochHistory for ModelLog {
    fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset {
        epoch_end_offset(&self.epochs, epoch, self.len())
    }
    fn log_start_offset(&self) -> u64 {
        0
    }
    fn log_end_offset(&self) -> u64 {
        self.len()
    }
    fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|e| e.epoch)
    }
}
