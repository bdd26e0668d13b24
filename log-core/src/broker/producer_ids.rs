//! Allocation of producer ids for InitProducerId: unique across restarts and, in a cluster,
//! across nodes. Ids are reserved in blocks: a node alone persists the end of its current
//! block before handing out any id from it ([`ProducerIdAllocator`]); a cluster member takes
//! blocks from the active controller, which records each one in the metadata log
//! ([`ProducerIdBlock`], Kafka's AllocateProducerIds). Either way a crash can skip ids but never
//! reuse one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::storage::{write_atomically, StorageError};

/// Ids reserved per write of the block file.
pub const BLOCK_SIZE: i64 = 1000;
/// The block file under `meta/`.
pub const PRODUCER_ID_FILE: &str = "producer-id-block";

/// Hands out the producer ids of a node alone.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    path: PathBuf,
    state: Mutex<(i64, i64)>,
}

/// The block of ids a cluster member hands out, taken from the controller.
#[derive(Debug, Default)]
pub struct ProducerIdBlock {
    next: i64,
    end: i64,
}

impl ProducerIdBlock {
    /// The next id of the block, if any is left.
    pub fn take(&mut self) -> Option<i64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// Replaces the block with `[first, first + count)`.
    pub fn refill(&mut self, first: i64, count: i64) {
        self.next = first;
        self.end = first.saturating_add(count.max(0));
    }
}

impl ProducerIdAllocator {
    /// Continues after the last reserved block in `meta_dir`.
    pub fn open(meta_dir: &Path) -> Result<Self, StorageError> {
        let path = meta_dir.join(PRODUCER_ID_FILE);
        let reserved_end = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|e| StorageError::Corrupt { what: "producer id block", path: path.clone(), detail: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(StorageError::Io { op: "read", path, source }),
        };
        Ok(Self { path, state: Mutex::new((reserved_end, reserved_end)) })
    }

    /// A fresh producer id.
    pub fn next(&self) -> Result<i64, StorageError> {
        let mut state = self.state.lock().map_err(|_| StorageError::Corrupt { what: "producer id block", path: self.path.clone(), detail: "lock poisoned".into() })?;
        let (next, end) = *state;
        let end = if next >= end {
            let end = next + BLOCK_SIZE;
            write_atomically(&self.path, end.to_string().as_bytes())?;
            end
        } else {
            end
        };
        *state = (next + 1, end);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIdAllocator::open(dir.path()).unwrap();
        let first: Vec<i64> = (0..3).map(|_| a.next().unwrap()).collect();
        assert_eq!(first, vec![0, 1, 2]);
        drop(a);
        let b = ProducerIdAllocator::open(dir.path()).unwrap();
        assert!(b.next().unwrap() >= BLOCK_SIZE);
    }

    #[test]
    fn a_block_hands_out_each_id_once_then_asks_for_more() {
        let mut block = ProducerIdBlock::default();
        assert_eq!(block.take(), None);
        block.refill(2000, 2);
        assert_eq!((block.take(), block.take(), block.take()), (Some(2000), Some(2001), None));
    }
}
