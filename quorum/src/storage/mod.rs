//! The quorum's durable state under `data_dir/raft/`, behind openraft's storage traits.
//!
//! ```text
//!  raft/log        LogFile: every entry, as JSON, in checksummed records; fsynced per append
//!  raft/vote       the vote (term, voted for)            replaced atomically, fsynced
//!  raft/purged     the last purged log id                replaced atomically, fsynced
//!  raft/committed  the last known commit point           replaced atomically, not fsynced (a hint)
//!  raft/snapshot   SnapshotMeta + the state machine's bytes, replaced atomically, fsynced
//! ```
//!
//! [`LogStore`] is openraft's log storage and `StateMachineStore` wraps the caller's
//! [`StateMachine`](crate::StateMachine) as openraft's state machine. Blocking file I/O runs on
//! tokio's blocking threads (`blocking`), never on the runtime's workers.
//!
//! On start the snapshot is restored into the state machine and openraft re-applies the log
//! from there up to the commit point, so an in-memory state machine comes back as it was.

mod atomic_file;
mod log_file;
mod log_store;
mod record;
mod state_machine_store;

pub use log_file::{LogFile, Recovered};
pub use log_store::LogStore;
pub(crate) use state_machine_store::StateMachineStore;

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::QuorumError;

/// The way back from a damaged file whose loss Raft cannot tolerate silently.
const REJOIN_EMPTY: &str = "to recover, remove the node's raft directory so that it rejoins as \
     an empty node and is sent the leader's snapshot; that is safe only while a majority of the \
     other voters is healthy";

/// Locks `mutex`, ignoring poisoning: the data behind this crate's locks stays consistent
/// across a panic (it is replaced whole or not at all).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs blocking file I/O on tokio's blocking threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QuorumError> + Send + 'static,
) -> Result<T, QuorumError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| QuorumError::Raft(format!("a storage task failed: {e}")))?
}
