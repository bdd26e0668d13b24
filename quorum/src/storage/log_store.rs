//! [`LogStore`]: openraft's log storage — the entries in a [`LogFile`], the vote, the purge
//! point and the commit point in small atomic files — with every entry also kept in memory
//! (the metadata log is small, and purged after each snapshot).
//!
//! Readers (openraft's replication tasks) only touch the in-memory copy; writes go to disk on a
//! blocking thread first and change the in-memory copy once durable.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote};

use super::atomic_file::{self, Durability};
use super::log_file::LogFile;
use super::{REJOIN_EMPTY, blocking, lock};
use crate::error::QuorumError;
use crate::types::{NodeId, TypeConfig};

/// What to do about a damaged vote file: without it this node could vote twice in one term.
const VOTE_REMEDY: &str = "the vote stops this node voting twice in one term: restore the file \
     from a backup, or remove the node's raft directory so that it rejoins as an empty node, \
     which is safe only while a majority of the other voters is healthy";

/// openraft's log storage on disk. Cloning gives another handle on the same log.
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    /// Locked only on blocking threads.
    disk: Mutex<LogFile>,
    mem: Mutex<Mem>,
}

struct Mem {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    vote: Option<Vote<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
}

impl fmt::Debug for LogStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mem = lock(&self.shared.mem);
        f.debug_struct("LogStore")
            .field("dir", &self.shared.dir)
            .field("entries", &mem.entries.len())
            .field("vote", &mem.vote)
            .field("last_purged", &mem.last_purged)
            .finish()
    }
}

impl LogStore {
    /// Opens the log in `dir` (creating the directory), recovering from a crash: a torn tail of
    /// the log file is cut, a damaged vote or purge point is [`QuorumError::Corrupt`]. Blocks.
    pub fn open(dir: &Path) -> Result<LogStore, QuorumError> {
        std::fs::create_dir_all(dir).map_err(QuorumError::io("create", dir))?;
        let vote = atomic_file::read_json(&dir.join("vote"), VOTE_REMEDY)?;
        let last_purged: Option<LogId<NodeId>> =
            atomic_file::read_json(&dir.join("purged"), REJOIN_EMPTY)?;
        let committed = match atomic_file::read_json(&dir.join("committed"), "it is only a hint") {
            Ok(committed) => committed,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring the raft commit point, a hint");
                None
            }
        };
        let log_path = dir.join("log");
        let (disk, recovered) = LogFile::open(&log_path, last_purged.map(|id| id.index))?;
        let mut entries = BTreeMap::new();
        for (index, json) in recovered.records {
            let entry: Entry<TypeConfig> =
                atomic_file::decode_json(&log_path, &json, REJOIN_EMPTY)?;
            if entry.log_id.index != index {
                return Err(QuorumError::Corrupt {
                    path: log_path,
                    detail: format!(
                        "the record for index {index} holds entry {}; {REJOIN_EMPTY}",
                        entry.log_id
                    ),
                });
            }
            entries.insert(index, entry);
        }
        let mem = Mem {
            entries,
            vote,
            last_purged,
            committed,
        };
        Ok(LogStore {
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                disk: Mutex::new(disk),
                mem: Mutex::new(mem),
            }),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.shared.dir.join(name)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        Ok(lock(&self.shared.mem)
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let mem = lock(&self.shared.mem);
        let last_log_id = mem
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(mem.last_purged);
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let (path, value) = (self.path("vote"), *vote);
        blocking(move || atomic_file::write_json(&path, &value, Durability::Fsync))
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        lock(&self.shared.mem).vote = Some(value);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(lock(&self.shared.mem).vote)
    }

    /// Remembers the commit point so that a restart re-applies up to it at once. A hint: it may
    /// be lost in a crash, and [`read_committed`](Self::read_committed) checks it.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        lock(&self.shared.mem).committed = committed;
        if let Some(value) = committed {
            let path = self.path("committed");
            blocking(move || atomic_file::write_json(&path, &value, Durability::BestEffort))
                .await
                .map_err(|e| StorageIOError::write(&e))?;
        }
        Ok(())
    }

    /// The saved commit point if this log still holds that very entry (or purged it): a point
    /// past a log tail lost in a crash, which was not fsynced when it was saved, is not trusted.
    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let mem = lock(&self.shared.mem);
        Ok(mem.committed.filter(|c| {
            mem.last_purged.is_some_and(|p| c.index <= p.index)
                || mem.entries.get(&c.index).is_some_and(|e| e.log_id == *c)
        }))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let shared = self.shared.clone();
        blocking(move || {
            let mut encoded = Vec::with_capacity(entries.len());
            for entry in &entries {
                let json = serde_json::to_vec(entry).map_err(|e| {
                    QuorumError::Raft(format!("cannot encode entry {}: {e}", entry.log_id))
                })?;
                encoded.push((entry.log_id.index, json));
            }
            let records: Vec<(u64, &[u8])> = encoded.iter().map(|(i, j)| (*i, &j[..])).collect();
            lock(&shared.disk).append(&records)?;
            lock(&shared.mem)
                .entries
                .extend(entries.into_iter().map(|e| (e.log_id.index, e)));
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e))?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let shared = self.shared.clone();
        blocking(move || {
            lock(&shared.disk).truncate(log_id.index)?;
            lock(&shared.mem).entries.split_off(&log_id.index);
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let (shared, path) = (self.shared.clone(), self.path("purged"));
        blocking(move || {
            atomic_file::write_json(&path, &log_id, Durability::Fsync)?;
            lock(&shared.disk).purge(log_id.index)?;
            let mut mem = lock(&shared.mem);
            mem.entries = mem.entries.split_off(&log_id.index.saturating_add(1));
            mem.last_purged = Some(log_id);
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
