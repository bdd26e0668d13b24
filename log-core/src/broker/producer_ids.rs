//! Allocation of producer ids for InitProducerId: unique across restarts. Ids are reserved in
//! blocks; the end of the current block is persisted before any id from it is handed out, so
//! a crash can skip ids but never reuse one.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::storage::{write_atomically, StorageError};

/// Ids reserved per write of the block file.
pub const BLOCK_SIZE: i64 = 1000;
/// The block file under `meta/`.
pub const PRODUCER_ID_FILE: &str = "producer-id-block";

/// Hands out producer ids.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    path: PathBuf,
    /// Added to every id: each cluster node hands out ids from its own range.
    offset: i64,
    state: Mutex<(i64, i64)>,
}

/// Ids one cluster node may hand out: node `n` uses `[n << 40, (n + 1) << 40)`.
const NODE_RANGE_BITS: u32 = 40;

impl ProducerIdAllocator {
    /// Continues after the last reserved block in `meta_dir`.
    pub fn open(meta_dir: &Path) -> Result<Self, StorageError> {
        let path = meta_dir.join(PRODUCER_ID_FILE);
        let reserved_end = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<i64>().map_err(|e| StorageError::Corrupt { what: "producer id block", path: path.clone(), detail: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(StorageError::Io { op: "read", path, source }),
        };
        Ok(Self { path, offset: 0, state: Mutex::new((reserved_end, reserved_end)) })
    }

    /// As [`ProducerIdAllocator::open`] for a node of a cluster, handing out ids from the
    /// node's own range so that no two nodes ever give the same id. (Kafka's controller
    /// hands out blocks instead; per-node ranges need no round trip.)
    pub fn open_for_node(meta_dir: &Path, node_id: i32) -> Result<Self, StorageError> {
        let mut allocator = Self::open(meta_dir)?;
        allocator.offset = i64::from(node_id.max(0)) << NODE_RANGE_BITS;
        Ok(allocator)
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
        Ok(self.offset + next)
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
}
