//! Per-log settings under their Kafka topic-config names, with Kafka's defaults.
//!
//! [`LogConfig::set`] takes the string form used by CreateTopics/AlterConfigs and config
//! files, and rejects bad values with a message naming the key.

use super::batch::TimestampType;
use super::compression::Compression;

/// Which background policies apply to a log (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Delete old segments by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// Keep only the newest record per key.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        Self { delete: true, compact: false }
    }
}

/// When appended data is forced to disk with fsync.
///
/// Kafka's default is never to fsync on the write path and rely on replication; that is
/// [`FlushPolicy::default`]. A single-node user who needs every acknowledged record to survive
/// power loss uses [`FlushPolicy::every_append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushPolicy {
    /// fsync once this many messages are unflushed (`flush.messages`).
    pub messages: Option<u64>,
    /// fsync once the oldest unflushed data is this old (`flush.ms`).
    pub ms: Option<u64>,
}

impl FlushPolicy {
    /// fsync before every append returns.
    pub fn every_append() -> Self {
        Self { messages: Some(1), ms: None }
    }

    /// True when every append is fsynced before it returns.
    pub fn is_every_append(&self) -> bool {
        self.messages == Some(1) || self.ms == Some(0)
    }
}

/// Settings of one partition log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Roll the active segment once it would grow past this size (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll the active segment once its first batch is this old (`segment.ms`).
    pub segment_ms: i64,
    /// Bytes between sparse index entries (`index.interval.bytes`).
    pub index_interval_bytes: u64,
    /// Delete segments whose newest record is older than this; `None` keeps forever.
    pub retention_ms: Option<i64>,
    /// Delete oldest segments while the log is larger than this; `None` is unbounded.
    pub retention_bytes: Option<u64>,
    /// Delete, compact, or both.
    pub cleanup_policy: CleanupPolicy,
    /// How long compaction keeps tombstones (`delete.retention.ms`).
    pub delete_retention_ms: i64,
    /// Largest batch accepted on append (`max.message.bytes`).
    pub max_message_bytes: u64,
    /// CreateTime keeps producer timestamps; LogAppendTime stamps on append.
    pub message_timestamp_type: TimestampType,
    /// fsync policy.
    pub flush: FlushPolicy,
    /// Reserve disk space for the active segment ahead of writes (`preallocate`), in steps
    /// of [`PREALLOCATE_STEP_BYTES`], so appends do not extend the file one write at a time.
    /// Sealed segments are trimmed to their data.
    pub preallocate: bool,
    /// `compression.type`: the codec batches are stored in; `None` is `producer` (as sent).
    /// Batches in another codec are recompressed on append.
    pub compression_type: Option<Compression>,
    /// `compression.gzip.level` (-1: zlib's default) used when recompressing to gzip.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`, stored and described (the LZ4 encoder has one speed).
    pub compression_lz4_level: i32,
    /// `compression.zstd.level` used when recompressing to zstd.
    pub compression_zstd_level: i32,
    /// `message.timestamp.before.max.ms`: CreateTime records older than this are refused.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: CreateTime records further ahead are refused.
    pub message_timestamp_after_max_ms: i64,
    /// `segment.jitter.ms`: up to this much is taken off `segment.ms` for each segment, so
    /// segments created together do not all roll together.
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes`: the active segment rolls when its offset index would pass this.
    pub segment_index_bytes: u64,
    /// `min.cleanable.dirty.ratio`: compaction runs once this share of the log is dirty.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a segment this old is compacted whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
}

/// How far ahead of the write position the active segment is preallocated.
pub const PREALLOCATE_STEP_BYTES: u64 = 8 << 20;

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::default(),
            delete_retention_ms: 24 * 3600 * 1000,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            flush: FlushPolicy::default(),
            preallocate: true,
            compression_type: None,
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 3_600_000,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

/// A config key or value that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not a log config this engine knows.
    #[error("unknown log config `{0}`")]
    UnknownKey(String),
    /// The value does not parse or is out of range.
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        /// Config key.
        key: String,
        /// Offending value.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// Two settings contradict each other.
    #[error("conflicting settings: {0}")]
    Conflict(String),
}

impl LogConfig {
    /// Applies one Kafka-named setting given as a string.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::InvalidValue { key: key.into(), value: value.into(), reason };
        let int = || value.trim().parse::<i64>().map_err(|_| invalid("expected an integer"));
        let in_range = |min: i64, max: i64| {
            int().and_then(|v| if (min..=max).contains(&v) { Ok(v) } else { Err(invalid("value is out of range")) })
        };
        let at_least = |min: i64| {
            int().and_then(|v| if v >= min { Ok(v) } else { Err(invalid("value is below the minimum")) })
        };
        // -1 means "unbounded" for retention and flush settings, as in Kafka.
        let optional = || {
            int().and_then(|v| match v {
                -1 => Ok(None),
                v if v >= 0 => Ok(Some(v)),
                _ => Err(invalid("expected -1 (unbounded) or a non-negative integer")),
            })
        };
        match key {
            "segment.bytes" => self.segment_bytes = at_least(14)? as u64,
            "segment.ms" => self.segment_ms = at_least(1)?,
            "index.interval.bytes" => self.index_interval_bytes = at_least(0)? as u64,
            "retention.ms" => self.retention_ms = optional()?,
            "retention.bytes" => self.retention_bytes = optional()?.map(|v| v as u64),
            "delete.retention.ms" => self.delete_retention_ms = at_least(0)?,
            "max.message.bytes" => self.max_message_bytes = at_least(0)? as u64,
            "flush.messages" => {
                self.flush.messages = optional()?.map(|v| v as u64).filter(|&v| v != i64::MAX as u64)
            }
            "flush.ms" => self.flush.ms = optional()?.map(|v| v as u64).filter(|&v| v != i64::MAX as u64),
            "message.timestamp.type" => {
                self.message_timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid("expected CreateTime or LogAppendTime")),
                }
            }
            "preallocate" => {
                self.preallocate = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("expected true or false")),
                }
            }
            "cleanup.policy" => {
                let mut policy = CleanupPolicy { delete: false, compact: false };
                for part in value.split(',').map(str::trim) {
                    match part {
                        "delete" => policy.delete = true,
                        "compact" => policy.compact = true,
                        _ => return Err(invalid("expected delete, compact or delete,compact")),
                    }
                }
                self.cleanup_policy = policy;
            }
            "compression.type" => {
                self.compression_type = match value.trim() {
                    "producer" => None,
                    name => Some(Compression::from_name(name).ok_or_else(|| invalid("expected producer, uncompressed, gzip, snappy, lz4 or zstd"))?),
                }
            }
            "compression.gzip.level" => {
                let v = in_range(-1, 9)?;
                if v == 0 {
                    return Err(invalid("expected -1 or 1..9"));
                }
                self.compression_gzip_level = v as i32;
            }
            "compression.lz4.level" => self.compression_lz4_level = in_range(1, 17)? as i32,
            "compression.zstd.level" => self.compression_zstd_level = in_range(-131_072, 22)? as i32,
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms = at_least(0)?,
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms = at_least(0)?,
            "segment.jitter.ms" => self.segment_jitter_ms = at_least(0)?,
            "segment.index.bytes" => self.segment_index_bytes = in_range(4, i32::MAX as i64)? as u64,
            "min.cleanable.dirty.ratio" => {
                let ratio = value.trim().parse::<f64>().map_err(|_| invalid("expected a number between 0 and 1"))?;
                if !(0.0..=1.0).contains(&ratio) {
                    return Err(invalid("expected a number between 0 and 1"));
                }
                self.min_cleanable_dirty_ratio = ratio;
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = at_least(0)?,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = at_least(1)?,
            _ => return Err(ConfigError::UnknownKey(key.into())),
        }
        Ok(())
    }

    /// Checks rules that tie settings together (after all of a request's keys are applied).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(ConfigError::Conflict(format!(
                "min.compaction.lag.ms ({}) is greater than max.compaction.lag.ms ({})",
                self.min_compaction_lag_ms, self.max_compaction_lag_ms
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_style_values_apply() {
        let mut c = LogConfig::default();
        c.set("cleanup.policy", "compact,delete").unwrap();
        assert_eq!(c.cleanup_policy, CleanupPolicy { delete: true, compact: true });
        c.set("retention.ms", "-1").unwrap();
        assert_eq!(c.retention_ms, None);
        c.set("message.timestamp.type", "LogAppendTime").unwrap();
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        c.set("flush.messages", "1").unwrap();
        assert!(c.flush.is_every_append());
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = LogConfig::default();
        let err = c.set("segment.bytes", "lots").unwrap_err();
        assert!(err.to_string().contains("segment.bytes"));
        assert!(c.set("retention.ms", "-5").is_err());
        assert!(matches!(c.set("no.such", "1"), Err(ConfigError::UnknownKey(_))));
        assert_eq!(c, LogConfig::default(), "a rejected value changes nothing");
    }
}
