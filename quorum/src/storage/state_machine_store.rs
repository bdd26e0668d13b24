//! [`StateMachineStore`]: openraft's state machine — the caller's [`StateMachine`] plus what
//! Raft needs beside it (the last applied log id, the last membership) and the snapshot file.
//!
//! One lock, `applied`, is held across every call into the caller's state machine, so a
//! snapshot is always the state as of exactly `last_applied` (openraft builds snapshots on a
//! task of their own, concurrently with applying). The snapshot file only ever moves forward:
//! a snapshot older than the one on disk (built while a newer one was being installed) is not
//! written.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};

use super::atomic_file::{self, Durability};
use super::{REJOIN_EMPTY, blocking, lock};
use crate::error::QuorumError;
use crate::state_machine::StateMachine;
use crate::types::{NodeId, TypeConfig};

type Meta = SnapshotMeta<NodeId, BasicNode>;

/// openraft's state machine around the caller's. Cloning gives another handle on the same one.
#[derive(Clone)]
pub(crate) struct StateMachineStore {
    shared: Arc<Shared>,
}

struct Shared {
    machine: Arc<dyn StateMachine>,
    applied: Mutex<Applied>,
    /// The snapshot file, and the last log id of the snapshot in it; locked on blocking threads.
    snapshot: Mutex<(PathBuf, Option<LogId<NodeId>>)>,
    /// Makes snapshot ids unique within this process.
    builds: AtomicU64,
}

#[derive(Default)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

impl fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let applied = lock(&self.shared.applied);
        f.debug_struct("StateMachineStore")
            .field("last_applied", &applied.last_applied)
            .finish_non_exhaustive()
    }
}

impl StateMachineStore {
    /// Restores the snapshot in `dir` (if any) into `machine`. Blocks.
    pub(crate) fn open(dir: &Path, machine: Arc<dyn StateMachine>) -> Result<Self, QuorumError> {
        let path = dir.join("snapshot");
        let mut applied = Applied::default();
        if let Some((meta, data)) = read_snapshot(&path)? {
            machine
                .restore(&data)
                .map_err(|detail| QuorumError::Restore {
                    index: meta.last_log_id.map(|id| id.index),
                    detail,
                })?;
            tracing::info!(last_log_id = ?meta.last_log_id, bytes = data.len(), "restored the raft snapshot");
            applied = Applied {
                last_applied: meta.last_log_id,
                membership: meta.last_membership,
            };
        }
        let snapshot = Mutex::new((path, applied.last_applied));
        let shared = Shared {
            machine,
            applied: Mutex::new(applied),
            snapshot,
            builds: AtomicU64::new(0),
        };
        Ok(StateMachineStore {
            shared: Arc::new(shared),
        })
    }

    /// Writes the snapshot file, unless it already holds a snapshot as new or newer.
    async fn persist(
        &self,
        meta: Meta,
        data: Vec<u8>,
    ) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let shared = self.shared.clone();
        let signature = meta.signature();
        blocking(move || {
            let mut file = lock(&shared.snapshot);
            if meta.last_log_id > file.1 {
                let meta_json = serde_json::to_vec(&meta)
                    .map_err(|e| QuorumError::Raft(format!("cannot encode {meta}: {e}")))?;
                atomic_file::write(&file.0, &[&meta_json, &data], Durability::Fsync)?;
                file.1 = meta.last_log_id;
            }
            Ok(Snapshot {
                meta,
                snapshot: Box::new(data),
            })
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(signature), &e).into())
    }
}

/// The snapshot at `path`: its meta and the state machine's bytes.
fn read_snapshot(path: &Path) -> Result<Option<(Meta, Vec<u8>)>, QuorumError> {
    let Some(mut records) = atomic_file::read(path, 2, REJOIN_EMPTY)? else {
        return Ok(None);
    };
    let data = records.pop().unwrap_or_default();
    let meta = atomic_file::decode_json(path, &records[0], REJOIN_EMPTY)?;
    Ok(Some((meta, data)))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (meta, data) = {
            let applied = lock(&self.shared.applied);
            let data = self.shared.machine.snapshot();
            let build = self.shared.builds.fetch_add(1, Ordering::Relaxed);
            let at = applied.last_applied.map_or_else(
                || "none".to_string(),
                |id| format!("{}-{}", id.leader_id, id.index),
            );
            let meta = Meta {
                last_log_id: applied.last_applied,
                last_membership: applied.membership.clone(),
                snapshot_id: format!("{at}-{build}"),
            };
            (meta, data)
        };
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = data.len(), "built a raft snapshot");
        self.persist(meta, data).await
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let applied = lock(&self.shared.applied);
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut applied = lock(&self.shared.applied);
        let mut responses = Vec::new();
        for entry in entries {
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(payload) => {
                    self.shared.machine.apply(entry.log_id.index, &payload.0)
                }
                EntryPayload::Membership(membership) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            applied.last_applied = Some(entry.log_id);
            responses.push(());
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Vec<u8>>, StorageError<NodeId>> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Vec<u8>>,
    ) -> Result<(), StorageError<NodeId>> {
        {
            let mut applied = lock(&self.shared.applied);
            self.shared.machine.restore(&snapshot).map_err(|detail| {
                let e = QuorumError::Restore {
                    index: meta.last_log_id.map(|id| id.index),
                    detail,
                };
                StorageIOError::read_snapshot(Some(meta.signature()), &e)
            })?;
            *applied = Applied {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = snapshot.len(), "installed a raft snapshot from the leader");
        self.persist(meta.clone(), *snapshot).await.map(drop)
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let shared = self.shared.clone();
        let snapshot = blocking(move || {
            let file = lock(&shared.snapshot);
            read_snapshot(&file.0)
        })
        .await
        .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(snapshot.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(data),
        }))
    }
}
