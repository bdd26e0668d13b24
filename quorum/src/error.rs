//! The crate's error type, [`QuorumError`]. Callers match on [`QuorumError::NotLeader`] (forward
//! to the leader), [`QuorumError::Shutdown`] and [`QuorumError::Timeout`]; the other variants
//! are reported, not handled.

use std::path::PathBuf;

/// Errors of `fjord-quorum`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// The configuration cannot work (this node not among the voters, timeouts out of order,
    /// an address that is not `host:port`).
    #[error("invalid quorum configuration: {0}")]
    Config(String),
    /// A file operation on the quorum's data directory failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "fsync", "rename", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file of the quorum's data directory holds something this code never writes: not a torn
    /// write (those are cut away on open) but damage. `detail` says what to do.
    #[error("{} is corrupt: {detail}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong, and how to recover.
        detail: String,
    },
    /// The state machine refused the snapshot it was given to restore.
    #[error("the state machine cannot restore the snapshot at index {index:?}: {detail}")]
    Restore {
        /// The last log index the snapshot covers.
        index: Option<u64>,
        /// The state machine's reason.
        detail: String,
    },
    /// This node is not the leader; `leader` is the one it knows of (none during an election).
    /// A proposal answered so was not appended here, but a leader that lost its leadership
    /// after appending may still see the entry committed by its successor.
    #[error("not the leader (the leader is {leader:?})")]
    NotLeader {
        /// The current leader's node id, if known.
        leader: Option<u64>,
    },
    /// An entry or snapshot is larger than can be sent or stored.
    #[error("{bytes} bytes is more than the limit of {limit}")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit (`QuorumConfig::max_message_bytes`, or 4 GiB for a record on disk).
        limit: usize,
    },
    /// The operation did not finish in time. A proposal that times out may still be committed.
    #[error("timed out after {after_ms} ms")]
    Timeout {
        /// How long was waited.
        after_ms: u64,
    },
    /// The quorum has been shut down (or its Raft stopped on a fatal error, logged when it did).
    #[error("the quorum is shut down")]
    Shutdown,
    /// The Raft failed in a way the caller cannot act on (a storage failure stops the node).
    #[error("raft: {0}")]
    Raft(String),
    /// The gRPC server failed.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

impl QuorumError {
    /// An [`QuorumError::Io`] for `op` on `path`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| QuorumError::Io { op, path, source }
    }
}
