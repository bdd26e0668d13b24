//! The crate's error type: every fallible public operation returns [`Error`] or a more
//! specific error of one of its modules that converts into it.

use crate::storage::StorageError;

/// Errors of `fjord-log-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage engine failed (I/O, a corrupt or invalid batch, an offset out of range).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The group coordinator could not load its state from `__consumer_offsets`.
    #[error(transparent)]
    Group(#[from] crate::group::GroupError),
    /// The node could not join its cluster (quorum, inter-broker listener, settings).
    #[error("cluster: {0}")]
    Cluster(String),
}
