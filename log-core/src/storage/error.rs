//! The storage engine's error type.

use std::path::PathBuf;

use super::batch::BatchDefect;
use super::compression::CompressionError;
use super::config::ConfigError;

/// Errors of the storage engine. No variant is produced by a panic path: corrupt files and
/// bad input always surface here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system call on a log file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A batch offered for append is malformed (the broker answers CORRUPT_MESSAGE or
    /// INVALID_RECORD).
    #[error("invalid record batch at byte {position} of the request: {defect}")]
    InvalidBatch {
        /// Where in the appended buffer the bad batch starts.
        position: usize,
        /// What is wrong.
        defect: BatchDefect,
    },
    /// A batch is larger than `max.message.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes ({max})")]
    BatchTooLarge {
        /// Batch size.
        size: usize,
        /// The limit.
        max: u64,
    },
    /// A replica append whose offsets do not continue the log.
    #[error("replicated batch at offset {base_offset} does not follow the log end offset {log_end_offset}")]
    NonMonotonicOffset {
        /// Base offset of the offending batch.
        base_offset: i64,
        /// Where the log ends.
        log_end_offset: u64,
    },
    /// A read outside `[log_start_offset, log_end_offset]` (OFFSET_OUT_OF_RANGE).
    #[error("offset {requested} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// Requested offset.
        requested: i64,
        /// First readable offset.
        log_start_offset: u64,
        /// One past the last offset.
        log_end_offset: u64,
    },
    /// A stored file holds bytes the engine cannot use and cannot repair by truncation.
    #[error("corrupt {what} at {}: {detail}", path.display())]
    Corrupt {
        /// Which kind of file.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A log config value was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A batch could not be (re)compressed; nothing was written in its place.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// A record without a key offered to a compacted topic (INVALID_RECORD).
    #[error("record at offset delta {offset_delta} of the batch at byte {position} has no key; a compacted topic (cleanup.policy=compact) keeps records by key and refuses records without one")]
    RecordWithoutKey {
        /// Where the batch starts in the request.
        position: usize,
        /// The record's offset delta in its batch.
        offset_delta: i32,
    },
    /// A record's CreateTime lies too far from the broker's clock (INVALID_TIMESTAMP).
    #[error("record timestamp {timestamp} is {distance} ms {direction} the broker's clock ({now_ms}); the topic allows {limit_ms} ms ({setting})")]
    TimestampOutOfRange {
        /// The record's timestamp.
        timestamp: i64,
        /// The broker's clock.
        now_ms: i64,
        /// How far apart.
        distance: i64,
        /// "behind" or "ahead of".
        direction: &'static str,
        /// The limit that applies.
        limit_ms: i64,
        /// Its name.
        setting: &'static str,
    },
}

/// Result of storage operations.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Attaches an operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    fn io(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StorageError::Io { op, path: path.to_path_buf(), source })
    }
}
