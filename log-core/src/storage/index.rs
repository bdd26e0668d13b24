//! The sparse per-segment indexes: `<base>.index` (relative offset → file position, 8 bytes
//! an entry) and `<base>.timeindex` (timestamp → relative offset, 12 bytes an entry), in
//! Kafka's big-endian layouts.
//!
//! Both are held in memory and written to disk incrementally: only entries not yet persisted
//! are written, and a truncation shortens the file. They are hints, never the truth: on open
//! they are checked against the segment and rebuilt from it when missing or inconsistent.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::error::{IoContext, Result};

/// One fixed-size index entry.
pub(crate) trait IndexEntry: Copy + std::fmt::Debug {
    const SIZE: usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Self;
}

/// Offset index entry: `(offset - segment base, byte position of a batch)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// Time index entry: the largest timestamp seen up to some batch, and the offset holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        Self {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.relative_offset.to_be_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        Self { timestamp: i64::from_be_bytes(ts), relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]) }
    }
}

/// An index kept in memory and mirrored to one file.
#[derive(Debug, Clone)]
pub(crate) struct SparseIndex<E> {
    entries: Vec<E>,
    /// Entries already in the file (a prefix of `entries`).
    persisted: usize,
    /// The file holds more entries than `persisted` and must be shortened.
    file_too_long: bool,
}

impl<E: IndexEntry> Default for SparseIndex<E> {
    fn default() -> Self {
        Self { entries: Vec::new(), persisted: 0, file_too_long: true }
    }
}

impl<E: IndexEntry> SparseIndex<E> {
    /// Reads the index file. `None` when it is missing or its size is not a whole number of
    /// entries; the caller checks the entries themselves and rebuilds on doubt.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).io("read", path),
        };
        if bytes.len() % E::SIZE != 0 {
            return Ok(None);
        }
        let entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(E::decode).collect();
        let persisted = entries.len();
        Ok(Some(Self { entries, persisted, file_too_long: false }))
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<&E> {
        self.entries.last()
    }

    pub fn push(&mut self, entry: E) {
        self.entries.push(entry);
    }

    /// Index of the last entry for which `is_before` holds (entries are sorted by it).
    pub fn floor(&self, is_before: impl Fn(&E) -> bool) -> Option<&E> {
        let n = self.entries.partition_point(|e| is_before(e));
        n.checked_sub(1).map(|i| &self.entries[i])
    }

    /// Keeps only the entries for which `keep` holds (a prefix).
    pub fn truncate_where(&mut self, keep: impl Fn(&E) -> bool) {
        let n = self.entries.partition_point(|e| keep(e));
        if n < self.entries.len() {
            self.entries.truncate(n);
            if n < self.persisted {
                self.persisted = n;
                self.file_too_long = true;
            }
        }
    }

    /// Writes what the file lacks (and shortens it after a truncation).
    pub fn persist(&mut self, path: &Path, fsync: bool) -> Result<()> {
        if self.persisted == self.entries.len() && !self.file_too_long && !fsync {
            return Ok(());
        }
        let file = OpenOptions::new().create(true).write(true).truncate(false).open(path).io("open", path)?;
        if self.file_too_long {
            file.set_len((self.persisted * E::SIZE) as u64).io("truncate", path)?;
            self.file_too_long = false;
        }
        if self.persisted < self.entries.len() {
            let mut buf = Vec::with_capacity((self.entries.len() - self.persisted) * E::SIZE);
            for e in &self.entries[self.persisted..] {
                e.encode(&mut buf);
            }
            file.write_all_at(&buf, (self.persisted * E::SIZE) as u64).io("write", path)?;
            self.persisted = self.entries.len();
        }
        if fsync {
            file.sync_data().io("fsync", path)?;
        }
        Ok(())
    }
}

/// Creates an empty file at `path`, replacing any old one.
pub(crate) fn create_empty(path: &Path) -> Result<File> {
    OpenOptions::new().create(true).read(true).write(true).truncate(true).open(path).io("create", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_persistence_and_truncation_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = SparseIndex::<OffsetEntry>::default();
        for i in 0..10 {
            index.push(OffsetEntry { relative_offset: i * 3, position: i * 100 });
        }
        index.persist(&path, false).unwrap();
        index.push(OffsetEntry { relative_offset: 30, position: 1000 });
        index.persist(&path, true).unwrap();
        assert_eq!(SparseIndex::<OffsetEntry>::load(&path).unwrap().unwrap().entries(), index.entries());
        index.truncate_where(|e| e.position < 450);
        index.persist(&path, false).unwrap();
        let loaded = SparseIndex::<OffsetEntry>::load(&path).unwrap().unwrap();
        assert_eq!(loaded.entries().len(), 5);
        assert_eq!(loaded.floor(|e| e.relative_offset <= 7).unwrap().position, 200);
    }

    #[test]
    fn a_ragged_file_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        std::fs::write(&path, [0u8; 13]).unwrap();
        assert!(SparseIndex::<TimeEntry>::load(&path).unwrap().is_none());
    }
}
