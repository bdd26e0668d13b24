//! The topic configs of Kafka 4.0 (all 33) and the legacy ones of Kafka 3.x.

use super::{ConfigKind, ConfigSpec, Importance, UpdateMode, Validity};

pub(super) const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(super) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub(super) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
pub(super) const LONG_MAX: &str = "9223372036854775807";
pub(super) const INT_MAX: &str = "2147483647";

const fn topic(
    name: &'static str,
    kind: ConfigKind,
    default: &'static str,
    valid: Validity,
    synonyms: &'static [&'static str],
    doc: &'static str,
) -> ConfigSpec {
    ConfigSpec {
        name,
        kind,
        default: Some(default),
        valid,
        importance: Importance::Medium,
        doc,
        synonyms,
        update: UpdateMode::PerTopic,
    }
}

/// Every topic config Kafka 4.0 accepts (33), in Kafka's doc order (alphabetical; all MEDIUM).
pub const TOPIC_CONFIGS: &[ConfigSpec] = &[
    topic("cleanup.policy", ConfigKind::List, "delete", Validity::ListOf(CLEANUP_POLICIES), &["log.cleanup.policy"],
        "How old data goes: `delete` drops whole segments past retention, `compact` keeps the newest record per key; both may be listed."),
    topic("compression.gzip.level", ConfigKind::Int, "-1", Validity::GzipLevel, &["compression.gzip.level"],
        "gzip level used when the broker compresses with gzip; -1 means zlib's default (6)."),
    topic("compression.lz4.level", ConfigKind::Int, "9", Validity::Between(1, 17), &["compression.lz4.level"],
        "lz4 level used when the broker compresses with lz4."),
    topic("compression.type", ConfigKind::String, "producer", Validity::OneOf(COMPRESSION_TYPES), &["compression.type"],
        "Codec batches are stored in; `producer` keeps the producer's codec, any other value makes the broker recompress batches that use a different codec."),
    topic("compression.zstd.level", ConfigKind::Int, "3", Validity::Between(-131072, 22), &["compression.zstd.level"],
        "zstd level used when the broker compresses with zstd."),
    topic("delete.retention.ms", ConfigKind::Long, "86400000", Validity::AtLeast(0), &["log.cleaner.delete.retention.ms"],
        "How long tombstones stay readable on a compacted topic after compaction first reaches them."),
    topic("file.delete.delay.ms", ConfigKind::Long, "60000", Validity::AtLeast(0), &["log.segment.delete.delay.ms"],
        "Delay between marking a segment deleted and removing its files."),
    topic("flush.messages", ConfigKind::Long, LONG_MAX, Validity::AtLeast(1), &["log.flush.interval.messages"],
        "fsync the partition after this many unflushed messages; the default never forces one."),
    topic("flush.ms", ConfigKind::Long, LONG_MAX, Validity::AtLeast(0), &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        "fsync the partition once unflushed data is this old; the default never forces one."),
    topic("follower.replication.throttled.replicas", ConfigKind::List, "", Validity::ThrottledReplicas, &[],
        "Replicas (`partition:broker` or `*`) whose follower fetches count against the follower replication throttle."),
    topic("index.interval.bytes", ConfigKind::Int, "4096", Validity::AtLeast(0), &["log.index.interval.bytes"],
        "Log bytes between two offset/time index entries."),
    topic("leader.replication.throttled.replicas", ConfigKind::List, "", Validity::ThrottledReplicas, &[],
        "Replicas (`partition:broker` or `*`) whose fetches the leader serves under the leader replication throttle."),
    topic("local.retention.bytes", ConfigKind::Long, "-2", Validity::AtLeast(-2), &["log.local.retention.bytes"],
        "Tiered storage: bytes kept on local disk per partition; -2 means use retention.bytes."),
    topic("local.retention.ms", ConfigKind::Long, "-2", Validity::AtLeast(-2), &["log.local.retention.ms"],
        "Tiered storage: how long segments stay on local disk; -2 means use retention.ms."),
    topic("max.compaction.lag.ms", ConfigKind::Long, LONG_MAX, Validity::AtLeast(1), &["log.cleaner.max.compaction.lag.ms"],
        "Longest a record may stay uncompacted; also caps segment age on compacted topics."),
    topic("max.message.bytes", ConfigKind::Int, "1048588", Validity::AtLeast(0), &["message.max.bytes"],
        "Largest record batch, after compression, the topic accepts."),
    topic("message.timestamp.after.max.ms", ConfigKind::Long, "3600000", Validity::AtLeast(0), &["log.message.timestamp.after.max.ms"],
        "CreateTime topics: reject batches holding a record stamped further than this ahead of broker time."),
    topic("message.timestamp.before.max.ms", ConfigKind::Long, LONG_MAX, Validity::AtLeast(0), &["log.message.timestamp.before.max.ms"],
        "CreateTime topics: reject batches holding a record stamped further than this behind broker time."),
    topic("message.timestamp.type", ConfigKind::String, "CreateTime", Validity::OneOf(TIMESTAMP_TYPES), &["log.message.timestamp.type"],
        "CreateTime keeps the producer's timestamps; LogAppendTime has the broker stamp batches with its clock on append."),
    topic("min.cleanable.dirty.ratio", ConfigKind::Double, "0.5", Validity::DoubleBetween(0.0, 1.0), &["log.cleaner.min.cleanable.ratio"],
        "Compaction runs once the uncompacted share of the cleanable log exceeds this ratio."),
    topic("min.compaction.lag.ms", ConfigKind::Long, "0", Validity::AtLeast(0), &["log.cleaner.min.compaction.lag.ms"],
        "Records younger than this are never compacted."),
    topic("min.insync.replicas", ConfigKind::Int, "1", Validity::AtLeast(1), &["min.insync.replicas"],
        "Smallest ISR with which an acks=all produce can succeed."),
    topic("preallocate", ConfigKind::Boolean, "true", Validity::Any, &["log.preallocate"],
        "Reserve disk space for the active segment ahead of its writes (Fjord: in 8 MiB steps, on by default)."),
    topic("remote.log.copy.disable", ConfigKind::Boolean, "false", Validity::Any, &[],
        "Tiered storage: stop uploading segments (remote data turns read-only); local data then follows retention.*."),
    topic("remote.log.delete.on.disable", ConfigKind::Boolean, "false", Validity::Any, &[],
        "Tiered storage: required to switch remote.storage.enable off; the remote data is then deleted."),
    topic("remote.storage.enable", ConfigKind::Boolean, "false", Validity::Any, &[],
        "Turn tiered storage on for the topic; brokers need remote.log.storage.system.enable."),
    topic("retention.bytes", ConfigKind::Long, "-1", Validity::Any, &["log.retention.bytes"],
        "Per-partition size cap for delete retention; -1 means no cap."),
    topic("retention.ms", ConfigKind::Long, "604800000", Validity::AtLeast(-1), &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
        "Age cap for delete retention; -1 means no cap."),
    topic("segment.bytes", ConfigKind::Int, "1073741824", Validity::AtLeast(14), &["log.segment.bytes"],
        "Roll the active segment at this size (4.0 topic minimum is 14 bytes; the broker key's is 1 MiB)."),
    topic("segment.index.bytes", ConfigKind::Int, "10485760", Validity::AtLeast(4), &["log.index.size.max.bytes"],
        "Maximum size of a segment's offset and time index; a full index rolls the segment."),
    topic("segment.jitter.ms", ConfigKind::Long, "0", Validity::AtLeast(0), &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "Upper bound of a random amount taken off each segment's time-based roll deadline."),
    topic("segment.ms", ConfigKind::Long, "604800000", Validity::AtLeast(1), &["log.roll.ms", "log.roll.hours"],
        "Roll the active segment once its records span this long, even if it is not full."),
    topic("unclean.leader.election.enable", ConfigKind::Boolean, "false", Validity::Any, &["unclean.leader.election.enable"],
        "Allow an out-of-sync replica to become leader when no in-sync one is left, at the risk of losing data."),
];

/// Topic configs Kafka 3.x accepted that Kafka 4.0 rejects with INVALID_CONFIG
/// ("Unknown topic config name: ...") on CreateTopics / AlterConfigs / IncrementalAlterConfigs.
pub const LEGACY_TOPIC_CONFIGS: &[&str] = &[
    "message.format.version",
    "message.timestamp.difference.max.ms",
    "message.downconversion.enable",
];

/// Details of a removed topic config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyTopicConfig {
    pub name: &'static str,
    /// Release that deprecated it.
    pub deprecated_in: &'static str,
    /// The 3.x default DescribeConfigs printed.
    pub old_default: &'static str,
    /// The broker key that backed it (also removed in 4.0).
    pub broker_synonym: &'static str,
    /// What replaced it, if anything.
    pub replacement: &'static str,
}

/// One entry per name in [`LEGACY_TOPIC_CONFIGS`].
pub const LEGACY_TOPIC_CONFIG_DETAILS: &[LegacyTopicConfig] = &[
    LegacyTopicConfig {
        name: "message.format.version",
        deprecated_in: "3.0 (KIP-724)",
        old_default: "3.0-IV1",
        broker_synonym: "log.message.format.version",
        replacement: "none: record format v2 is the only format written",
    },
    LegacyTopicConfig {
        name: "message.timestamp.difference.max.ms",
        deprecated_in: "3.6 (KIP-937)",
        old_default: LONG_MAX,
        broker_synonym: "log.message.timestamp.difference.max.ms",
        replacement: "message.timestamp.before.max.ms and message.timestamp.after.max.ms",
    },
    LegacyTopicConfig {
        name: "message.downconversion.enable",
        deprecated_in: "4.0 (KAFKA-18269; down-conversion removed by KIP-896/KIP-724)",
        old_default: "true",
        broker_synonym: "log.message.downconversion.enable",
        replacement: "none: old fetch versions that needed down-conversion are gone",
    },
];

