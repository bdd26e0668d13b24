//! The leader-epoch cache: for each leader epoch, the first offset written in it.
//!
//! Followers use it to find where their log diverges from a new leader's
//! (OffsetForLeaderEpoch), so it must survive restarts: it is kept in
//! `leader-epoch-checkpoint`, in Kafka's text layout (version, count, then `epoch offset`
//! lines), rewritten atomically on every change. Changes are rare — one per leader election.

use std::path::{Path, PathBuf};

use super::checkpoint;
use super::error::{IoContext, Result, StorageError};

/// File name of the checkpoint inside a partition directory.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// One epoch and the first offset its leader appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// Leader epoch.
    pub epoch: i32,
    /// First offset appended in that epoch.
    pub start_offset: u64,
}

/// Answer to "where does epoch E end?" (OffsetForLeaderEpoch); Kafka's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The largest epoch ≤ the requested one, or -1 when unknown.
    pub epoch: i32,
    /// One past the last offset of that epoch, or -1 when unknown.
    pub end_offset: i64,
}

/// Kafka's `endOffsetFor` over an epoch history (`entries` ordered by epoch and start offset)
/// of a log ending at `log_end_offset`: the largest epoch at or below `requested` and where it
/// ends (the next epoch's start, or the log end for the latest epoch); a requested epoch below
/// the first ends where the first starts; `(-1, -1)` past the latest epoch or for a negative one.
pub fn epoch_end_offset(entries: &[EpochEntry], requested: i32, log_end_offset: u64) -> EpochEndOffset {
    const UNKNOWN: EpochEndOffset = EpochEndOffset { epoch: -1, end_offset: -1 };
    if requested < 0 {
        return UNKNOWN;
    }
    if entries.last().map(|e| e.epoch) == Some(requested) {
        return EpochEndOffset { epoch: requested, end_offset: log_end_offset as i64 };
    }
    let Some(higher) = entries.iter().find(|e| e.epoch > requested) else {
        return UNKNOWN;
    };
    match entries.iter().rev().find(|e| e.epoch <= requested) {
        Some(floor) => EpochEndOffset { epoch: floor.epoch, end_offset: higher.start_offset as i64 },
        None => EpochEndOffset { epoch: requested, end_offset: higher.start_offset as i64 },
    }
}

/// Epoch → start offset, ordered by both.
#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Loads the checkpoint in `dir`; a missing file is an empty cache.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).io("read", &path),
        };
        let corrupt = |detail: String| StorageError::Corrupt { what: "leader epoch checkpoint", path: path.clone(), detail };
        let mut entries = Vec::new();
        let mut lines = text.lines();
        if let Some(version) = lines.next() {
            if version.trim() != "0" {
                return Err(corrupt(format!("unknown version {version:?}")));
            }
            let count: usize = lines
                .next()
                .and_then(|l| l.trim().parse().ok())
                .ok_or_else(|| corrupt("missing entry count".into()))?;
            for line in lines.by_ref().take(count) {
                let mut parts = line.split_whitespace();
                let epoch = parts.next().and_then(|p| p.parse::<i32>().ok());
                let offset = parts.next().and_then(|p| p.parse::<u64>().ok());
                match (epoch, offset) {
                    (Some(epoch), Some(start_offset)) => entries.push(EpochEntry { epoch, start_offset }),
                    _ => return Err(corrupt(format!("bad entry {line:?}"))),
                }
            }
            if entries.len() != count {
                return Err(corrupt(format!("expected {count} entries, found {}", entries.len())));
            }
            let ordered = entries.windows(2).all(|w| w[0].epoch < w[1].epoch && w[0].start_offset <= w[1].start_offset);
            if !ordered {
                return Err(corrupt("entries are not increasing".into()));
            }
        }
        Ok(Self { path, entries })
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset`. Older or equal epochs are ignored;
    /// entries that start at or after `start_offset` belong to a diverged history and are
    /// dropped first.
    pub fn assign(&mut self, epoch: i32, start_offset: u64) -> Result<()> {
        if epoch < 0 || self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return Ok(());
        }
        self.entries.retain(|e| e.start_offset < start_offset);
        self.entries.push(EpochEntry { epoch, start_offset });
        self.persist()
    }

    /// Kafka's `endOffsetFor`: where `requested` ends, given the log end offset.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: u64) -> EpochEndOffset {
        epoch_end_offset(&self.entries, requested, log_end_offset)
    }

    /// Forgets epochs that start at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: u64) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        if self.entries.len() != before { self.persist() } else { Ok(()) }
    }

    /// Forgets epochs wholly before `start_offset` (the log start moved there); the epoch
    /// in force at `start_offset` is kept, starting at `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: u64) -> Result<()> {
        let in_force = self.entries.iter().rposition(|e| e.start_offset <= start_offset);
        let Some(keep_from) = in_force else { return Ok(()) };
        if keep_from == 0 && self.entries[0].start_offset == start_offset {
            return Ok(());
        }
        self.entries.drain(..keep_from);
        self.entries[0].start_offset = start_offset;
        self.persist()
    }

    fn persist(&self) -> Result<()> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        checkpoint::write_atomically(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_follow_kafka_semantics_and_survive_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        cache.assign(1, 0).unwrap();
        cache.assign(3, 10).unwrap();
        cache.assign(5, 25).unwrap();
        cache.assign(4, 30).unwrap(); // older epoch: ignored
        let cache = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(cache.end_offset_for(5, 40), EpochEndOffset { epoch: 5, end_offset: 40 });
        assert_eq!(cache.end_offset_for(4, 40), EpochEndOffset { epoch: 3, end_offset: 25 });
        assert_eq!(cache.end_offset_for(1, 40), EpochEndOffset { epoch: 1, end_offset: 10 });
        assert_eq!(cache.end_offset_for(0, 40), EpochEndOffset { epoch: 0, end_offset: 0 });
        assert_eq!(cache.end_offset_for(9, 40), EpochEndOffset { epoch: -1, end_offset: -1 });
    }

    #[test]
    fn truncation_from_both_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        for (epoch, start) in [(1, 0), (2, 10), (3, 20)] {
            cache.assign(epoch, start).unwrap();
        }
        cache.truncate_from_end(20).unwrap();
        assert_eq!(cache.latest_epoch(), Some(2));
        cache.truncate_from_start(15).unwrap();
        assert_eq!(cache.entries(), &[EpochEntry { epoch: 2, start_offset: 15 }]);
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap().entries(), cache.entries());
    }

    #[test]
    fn a_garbled_checkpoint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CHECKPOINT_FILE), "0\n2\n1 0\nzz\n").unwrap();
        assert!(matches!(LeaderEpochCache::load(dir.path()), Err(StorageError::Corrupt { .. })));
    }
}
