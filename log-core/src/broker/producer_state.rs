//! Idempotent-producer state of one partition: for every producer id, its epoch and the
//! sequence ranges of its last five batches, as Kafka's ProducerStateManager keeps them.
//!
//! The state is rebuilt from the log itself (batch headers carry producer id, epoch and base
//! sequence), so it is always consistent with what was appended. A snapshot written at clean
//! shutdown (`producer-state.json`, valid up to the offset it names) saves rescanning the
//! whole log on the next start.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::storage::{write_atomically, BatchHeader, StorageError};

/// Batches remembered per producer for duplicate detection (Kafka: 5, the most a client has
/// in flight with idempotence).
pub const BATCHES_KEPT: usize = 5;
/// Snapshot file in a partition's directory.
pub const SNAPSHOT_FILE: &str = "producer-state.json";

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    /// Sequence of its first record.
    pub first_seq: i32,
    /// Sequence of its last record.
    pub last_seq: i32,
    /// Offset of its first record.
    pub first_offset: u64,
    /// Offset of its last record.
    pub last_offset: u64,
}

/// One producer's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    /// Current epoch.
    pub epoch: i16,
    /// Last batches, oldest first.
    pub batches: VecDeque<BatchMeta>,
}

/// What the sequence check decided about a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not from an idempotent producer, or the next batch in sequence: append it.
    Append,
    /// Already appended (a retry): answer with the original offsets, append nothing.
    Duplicate(BatchMeta),
}

/// Why a batch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// A stale epoch: a newer instance of this producer exists (INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    StaleEpoch {
        /// Producer id.
        producer_id: i64,
        /// Epoch sent.
        epoch: i16,
        /// Epoch known.
        current: i16,
    },
    /// A gap or reordering (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrder {
        /// Producer id.
        producer_id: i64,
        /// Next sequence expected.
        expected: i32,
        /// Sequence sent.
        got: i32,
    },
}

/// All producers of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// The table reflects every batch below this offset.
    end_offset: u64,
    table: ProducerStateTable,
}

fn last_seq_of(header: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX, as in Kafka.
    ((i64::from(header.base_sequence) + i64::from(header.last_offset_delta)) % (i64::from(i32::MAX) + 1)) as i32
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (next == 0 && last == i32::MAX)
}

impl ProducerStateTable {
    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// One producer's state.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Decides whether a batch from a producer may be appended.
    pub fn check(&self, header: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if header.producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // Unknown producer (new, or its batches were deleted by retention): any sequence.
            return Ok(SequenceCheck::Append);
        };
        let (pid, epoch, first) = (header.producer_id, header.producer_epoch, header.base_sequence);
        if epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch { producer_id: pid, epoch, current: entry.epoch });
        }
        if epoch > entry.epoch {
            // A bumped epoch starts again at sequence 0.
            return if first == 0 { Ok(SequenceCheck::Append) } else { Err(SequenceError::OutOfOrder { producer_id: pid, expected: 0, got: first }) };
        }
        let last = last_seq_of(header);
        if let Some(dup) = entry.batches.iter().find(|b| b.first_seq == first && b.last_seq == last) {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(prev) if !in_sequence(prev.last_seq, first) => {
                Err(SequenceError::OutOfOrder { producer_id: pid, expected: prev.last_seq.wrapping_add(1), got: first })
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Records an appended batch (`header` with its assigned base offset).
    pub fn record(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.base_offset < 0 {
            return;
        }
        let meta = BatchMeta {
            first_seq: header.base_sequence,
            last_seq: last_seq_of(header),
            first_offset: header.base_offset as u64,
            last_offset: header.last_offset().max(0) as u64,
        };
        let entry = self.producers.entry(header.producer_id).or_insert_with(|| ProducerEntry { epoch: header.producer_epoch, batches: VecDeque::new() });
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(meta);
        while entry.batches.len() > BATCHES_KEPT {
            entry.batches.pop_front();
        }
    }

    /// Forgets batches at or above `offset` (the log was truncated there).
    pub fn truncate_to(&mut self, offset: u64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    /// Loads the snapshot in `dir` if there is one that does not reach past `log_end_offset`;
    /// returns the table and the offset from which the log must be replayed.
    pub fn load_snapshot(dir: &Path, log_start_offset: u64, log_end_offset: u64) -> (Self, u64) {
        let path = dir.join(SNAPSHOT_FILE);
        let snapshot = std::fs::read(&path).ok().and_then(|bytes| match serde_json::from_slice::<Snapshot>(&bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable producer-state snapshot; rebuilding from the log");
                None
            }
        });
        // The snapshot is only trusted once: remove it so a later crash rebuilds from the log.
        let _ = std::fs::remove_file(&path);
        match snapshot {
            Some(s) if s.end_offset <= log_end_offset && s.end_offset >= log_start_offset => (s.table, s.end_offset),
            _ => (Self::default(), log_start_offset),
        }
    }

    /// Writes a snapshot valid up to `end_offset` into `dir`.
    pub fn write_snapshot(&self, dir: &Path, end_offset: u64) -> Result<(), StorageError> {
        let snapshot = Snapshot { end_offset, table: self.clone() };
        let bytes = serde_json::to_vec(&snapshot).map_err(|e| StorageError::Corrupt { what: "producer state", path: dir.join(SNAPSHOT_FILE), detail: e.to_string() })?;
        write_atomically(&dir.join(SNAPSHOT_FILE), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: count,
        }
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let mut t = ProducerStateTable::default();
        assert_eq!(t.check(&header(7, 0, 0, 10, -1)), Ok(SequenceCheck::Append));
        t.record(&header(7, 0, 0, 10, 0));
        // A retry of the same batch is a duplicate pointing at the original offsets.
        assert!(matches!(t.check(&header(7, 0, 0, 10, -1)), Ok(SequenceCheck::Duplicate(BatchMeta { first_offset: 0, last_offset: 9, .. }))));
        assert_eq!(t.check(&header(7, 0, 10, 5, -1)), Ok(SequenceCheck::Append));
        assert!(matches!(t.check(&header(7, 0, 12, 5, -1)), Err(SequenceError::OutOfOrder { expected: 10, got: 12, .. })));
        t.record(&header(7, 0, 10, 5, 10));
        // A bumped epoch restarts at 0; an old epoch is fenced.
        assert!(matches!(t.check(&header(7, 1, 3, 1, -1)), Err(SequenceError::OutOfOrder { .. })));
        assert_eq!(t.check(&header(7, 1, 0, 1, -1)), Ok(SequenceCheck::Append));
        t.record(&header(7, 1, 0, 1, 15));
        assert!(matches!(t.check(&header(7, 0, 15, 1, -1)), Err(SequenceError::StaleEpoch { .. })));
        // Non-idempotent batches are never checked.
        assert_eq!(t.check(&header(-1, -1, -1, 3, -1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_five_batches_are_remembered_and_truncation_forgets() {
        let mut t = ProducerStateTable::default();
        for i in 0..8 {
            t.record(&header(1, 0, i, 1, i64::from(i)));
        }
        assert_eq!(t.get(1).unwrap().batches.len(), BATCHES_KEPT);
        t.truncate_to(6);
        assert_eq!(t.get(1).unwrap().batches.back().unwrap().last_offset, 5);
        t.truncate_to(0);
        assert!(t.is_empty());
    }

    #[test]
    fn snapshots_round_trip_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ProducerStateTable::default();
        t.record(&header(3, 2, 0, 4, 0));
        t.write_snapshot(dir.path(), 4).unwrap();
        let (loaded, from) = ProducerStateTable::load_snapshot(dir.path(), 0, 10);
        assert_eq!((loaded, from), (t, 4));
        let (empty, from) = ProducerStateTable::load_snapshot(dir.path(), 0, 10);
        assert_eq!((empty.len(), from), (0, 0));
    }
}
