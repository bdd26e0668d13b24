//! The storage engine: partition logs on local disk. The only code that knows the on-disk
//! format.
//!
//! A partition is a directory of segments. Each segment is `<base_offset>.log` — Kafka
//! RecordBatch v2 bytes exactly as they are served — plus a sparse `<base_offset>.index`
//! (relative offset → position) and `<base_offset>.timeindex` (timestamp → offset). Beside
//! them: `leader-epoch-checkpoint`, `recovery-point-checkpoint`,
//! `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`, and `.clean-shutdown` after a
//! clean close.
//!
//! ```text
//! PartitionLog (log.rs) ── append / read / lookups / truncate / flush / close
//!   ├─ retention.rs   delete whole old segments (time, size, log start)
//!   ├─ compaction.rs  newest record per key: plan → execute (unlocked) → install
//!   ├─ epoch.rs       leader epoch → start offset, checkpointed
//!   └─ Segment (segment.rs) ── one .log + SparseIndex (index.rs)
//!        └─ SegmentReader (reader.rs): chunked walks over batches
//! batch.rs   RecordBatch v2 header, validation, in-place edits
//! record.rs  records inside a batch (compaction, timestamp lookup), BatchBuilder
//! compression.rs  gzip / snappy / lz4 / zstd
//! ```
//!
//! Invariants: offsets in a log only grow; a read returns whole batches; recovery never
//! keeps a byte after the first bad one in a segment; nothing here panics on file contents.

mod batch;
mod checkpoint;
pub use checkpoint::write_atomically;
mod compaction;
mod compression;
mod config;
mod epoch;
mod error;
mod index;
mod log;
mod read_at;
mod reader;
mod record;
mod retention;
mod segment;
mod sync;
mod validator;

pub use batch::{
    compute_crc, set_base_offset, set_log_append_time, set_partition_leader_epoch, validate, BatchDefect,
    BatchHeader, Batches, TimestampType, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
};
pub use compaction::{CompactedSegments, CompactionOutcome, CompactionPlan, STAGING_DIR};
pub use compression::{Compression, CompressionError, StreamCompressError, MAX_DECOMPRESSED_BYTES};
pub use config::{CleanupPolicy, ConfigError, FlushPolicy, LogConfig, PREALLOCATE_STEP_BYTES};
pub use epoch::{epoch_end_offset, EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use error::{Result, StorageError};
pub use sync::PendingSync;
pub use validator::{validate_producer_batches, ProducerBatchRules, TimestampBounds, ValidatedBatches};
pub use log::{
    AppendInfo, AppendOptions, LogRead, LogReadPlan, PartitionLog, PreparedAppend, RecoveryReport, TimestampOffset, CLEAN_SHUTDOWN_FILE,
    HIGH_WATERMARK_FILE, LOG_START_FILE, RECOVERY_POINT_FILE,
};
pub use record::{decode_records, decode_records_within, for_each_record, recompress_batch, BatchBuilder, RecompressError, Record, RecordHeader};
pub use retention::RetentionOutcome;
pub use segment::{file_name, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
