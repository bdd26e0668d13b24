//! `GroupError`: what can go wrong in the coordinator itself — the offsets topic refusing or
//! losing a write, or a record in it that cannot be decoded. Protocol-level refusals (unknown
//! member, illegal generation…) are not errors here: they are Kafka error codes in responses.

use kafka_protocol::ResponseError;

/// Errors of the group coordinator and of the offsets topic it persists to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The offsets topic partition could not take or serve the records (not durable, not led
    /// here, I/O…). Clients see `COORDINATOR_NOT_AVAILABLE` and retry.
    #[error("offsets topic partition {partition} is unavailable: {reason}")]
    Unavailable { partition: i32, reason: String },
    /// The batch is larger than the offsets topic accepts. Clients see
    /// `INVALID_COMMIT_OFFSET_SIZE`.
    #[error("batch of {bytes} bytes is too large for offsets topic partition {partition}")]
    TooLarge { partition: i32, bytes: usize },
    /// A record of the offsets topic could not be decoded.
    #[error("corrupt offsets topic record: {0}")]
    Corrupt(#[from] crate::group::records::RecordError),
    /// The offsets topic has no partitions (the coordinator is configured for `configured`).
    #[error("the offsets topic has {actual} partitions (configured: {configured})")]
    PartitionCount { configured: i32, actual: i32 },
}

impl GroupError {
    /// The Kafka error a client sees when a write of the coordinator failed with this error
    /// (Kafka's mapping in `GroupMetadataManager.storeOffsets` / `storeGroup`).
    pub fn write_error(&self) -> ResponseError {
        match self {
            GroupError::TooLarge { .. } => ResponseError::InvalidCommitOffsetSize,
            GroupError::Unavailable { .. } | GroupError::PartitionCount { .. } => {
                ResponseError::CoordinatorNotAvailable
            }
            GroupError::Corrupt(_) => ResponseError::UnknownServerError,
        }
    }
}
