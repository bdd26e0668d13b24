//! [`PartitionLog`]: one partition's log — an ordered set of segments in one directory.
//!
//! It assigns offsets on append, rolls segments, serves reads of whole batches, answers
//! offset/timestamp/epoch lookups, truncates for replication, and keeps the small checkpoint
//! files (recovery point, log start offset, leader epochs). Opening a log recovers it: every
//! segment that may hold unflushed data is scanned and cut at the first bad byte.
//!
//! Writers take `&mut self`, readers `&self`; the caller chooses the lock. Retention and
//! compaction live in their own modules as further `impl PartitionLog` blocks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::batch::{self, Batches, TimestampType};
use super::checkpoint;
use super::config::{LogConfig, PREALLOCATE_STEP_BYTES};
use super::epoch::{EpochEndOffset, LeaderEpochCache};
use super::error::{IoContext, Result, StorageError};
use super::record;
use super::segment::{self, AppendedBatch, Segment, SegmentRead, WriteSlot};
use super::sync::{self, PendingSync, SyncFile};

/// Marker written by a clean close; its absence on open means the tail must be recovered.
pub const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
/// Offset below which all data is known to be fsynced.
pub const RECOVERY_POINT_FILE: &str = "recovery-point-checkpoint";
/// Log start offset when it lies inside the first segment (after DeleteRecords).
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
/// The high watermark as replication last checkpointed it.
pub const HIGH_WATERMARK_FILE: &str = "high-watermark-checkpoint";
/// Compaction's first dirty offset: the log below it has been compacted.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

/// How a leader appends.
#[derive(Debug, Clone, Copy)]
pub struct AppendOptions {
    /// The appending leader's epoch, written into every batch (-1 when there is none).
    pub leader_epoch: i32,
    /// Wall-clock time in milliseconds: LogAppendTime, `segment.ms`, `flush.ms`.
    pub now_ms: i64,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub first_offset: u64,
    /// Offset of the last record.
    pub last_offset: u64,
    /// Largest timestamp appended.
    pub max_timestamp: i64,
    /// The broker's timestamp when the log uses LogAppendTime.
    pub log_append_time: Option<i64>,
    /// Batches appended.
    pub batches: usize,
    /// Records appended.
    pub records: u64,
    /// Bytes appended.
    pub bytes: usize,
    /// The batches were fsynced before returning.
    pub synced: bool,
    /// The flush policy (`flush.messages`, `flush.ms`) wants an fsync now. [`PartitionLog::append`]
    /// runs it itself (`synced`); after [`PartitionLog::commit_append`] the caller runs it,
    /// off the log's lock, with [`PartitionLog::pending_sync`].
    pub flush_due: bool,
}

/// An append prepared with write access to the log: batches validated, offsets (and the
/// leader epoch, and LogAppendTime) written into them, room reserved at the end of the active
/// segment (rolling first if due). [`PreparedAppend::write`] then writes the bytes without
/// access to the log — readers go on meanwhile — and [`PartitionLog::commit_append`] makes
/// them visible. One append at a time: the caller serialises writers.
#[derive(Debug)]
pub struct PreparedAppend {
    slot: WriteSlot,
    segment_base: u64,
    truncations: u64,
    batches: Vec<AppendedBatch>,
    /// `(leader epoch, first offset)` of each batch.
    epochs: Vec<(i32, u64)>,
    records: u64,
    now_ms: i64,
    log_append_time: Option<i64>,
}

impl PreparedAppend {
    /// Writes the append's bytes (the buffer passed to `prepare_append`, as it left it).
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        self.slot.write(bytes)
    }
}

/// Whole batches returned by a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// Batches, byte for byte as stored; empty when nothing is readable yet.
    pub records: Bytes,
    /// First readable offset at the time of the read.
    pub log_start_offset: u64,
    /// One past the last offset at the time of the read.
    pub log_end_offset: u64,
}

/// A read planned with access to the log, to run without it ([`PartitionLog::plan_read`]).
#[derive(Debug, Clone)]
pub struct LogReadPlan {
    segments: Vec<SegmentRead>,
    offset: u64,
    max_bytes: usize,
    bound: u64,
    log_start_offset: u64,
    log_end_offset: u64,
}

impl LogReadPlan {
    /// Reads the batches.
    pub fn run(self) -> Result<LogRead> {
        let mut read = LogRead { records: Bytes::new(), log_start_offset: self.log_start_offset, log_end_offset: self.log_end_offset };
        for segment in &self.segments {
            if let Some(bytes) = segment.read(self.offset, self.max_bytes, self.bound)? {
                read.records = bytes;
                break;
            }
        }
        Ok(read)
    }
}

/// A timestamp lookup planned with access to the log, run without it.
#[derive(Debug, Clone)]
pub struct TimestampLookup {
    /// Segments to look in, in order, each with the offset to start from.
    candidates: Vec<(SegmentRead, u64)>,
    target: LookupTarget,
}

#[derive(Debug, Clone, Copy)]
enum LookupTarget {
    /// The first record at or after this timestamp.
    AtOrAfter(i64),
    /// The record carrying the segment's largest timestamp (this one), in the batch holding
    /// the candidate's offset.
    Largest(i64),
}

impl TimestampLookup {
    /// Reads what the lookup needs.
    pub fn run(self) -> Result<Option<TimestampOffset>> {
        match self.target {
            LookupTarget::AtOrAfter(timestamp) => {
                for (segment, start_offset) in &self.candidates {
                    if let Some((offset, timestamp)) = segment.find_by_timestamp(timestamp, *start_offset)? {
                        return Ok(Some(TimestampOffset { offset, timestamp }));
                    }
                }
                Ok(None)
            }
            LookupTarget::Largest(target) => {
                let Some((segment, batch_last)) = self.candidates.first() else { return Ok(None) };
                let Some(bytes) = segment.read(*batch_last, 0, u64::MAX)? else { return Ok(None) };
                let (mut exact, mut last) = (None, None);
                record::for_each_record(&bytes, super::compression::MAX_DECOMPRESSED_BYTES, |r| {
                    let found = TimestampOffset { offset: r.offset as u64, timestamp: r.timestamp };
                    if exact.is_none() && r.timestamp == target {
                        exact = Some(found);
                    }
                    last = Some(found);
                    Ok::<(), batch::BatchDefect>(())
                })
                .map_err(|d| StorageError::Corrupt { what: "segment", path: PathBuf::new(), detail: d.to_string() })?;
                Ok(exact.or(last))
            }
        }
    }
}

/// A record found by timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// Its offset.
    pub offset: u64,
    /// Its timestamp.
    pub timestamp: i64,
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The previous close was clean (no scan was needed).
    pub clean_shutdown: bool,
    /// Segments found.
    pub segments: usize,
    /// Segments scanned batch by batch.
    pub segments_recovered: usize,
    /// Bytes cut from torn or corrupt tails.
    pub truncated_bytes: u64,
    /// Segments dropped because they followed a corrupt one.
    pub segments_dropped: usize,
    /// First readable offset after recovery.
    pub log_start_offset: u64,
    /// Log end offset after recovery.
    pub log_end_offset: u64,
}

/// One partition's log. See the module docs.
#[derive(Debug)]
pub struct PartitionLog {
    pub(super) dir: PathBuf,
    pub(super) config: LogConfig,
    /// Never empty: the last segment is the active one.
    pub(super) segments: BTreeMap<u64, Segment>,
    pub(super) log_start_offset: u64,
    recovery_point: u64,
    pub(super) epochs: LeaderEpochCache,
    /// Records appended since open, and how many of them a completed fsync covers: the
    /// difference is what `flush.messages` counts. Totals, so that an fsync that finishes
    /// after later appends credits exactly the records it covered.
    appended_messages: u64,
    flushed_messages: u64,
    /// When the oldest record not covered by an fsync was appended (`flush.ms`).
    unflushed_since_ms: Option<i64>,
    /// Bumped by every truncation from the end, so a [`PendingSync`] taken before one is void.
    truncations: u64,
    /// Segment rolls so far, and how many of them a completed fsync of the directory covers
    /// (a rolled-in segment file's directory entry is durable only after one).
    rolls: u64,
    dir_synced_rolls: u64,
    /// The recovery point as last written to its checkpoint file.
    checkpointed_recovery_point: u64,
    /// The high watermark last written to `high-watermark-checkpoint` (or read from it).
    high_watermark_checkpoint: u64,
    /// Compaction's first dirty offset: everything below it has been compacted (Kafka's
    /// cleaner checkpoint), kept in `cleaner-offset-checkpoint`.
    pub(super) cleaned_up_to: u64,
}

impl PartitionLog {
    /// Opens (creating if needed) the log in `dir`, recovering it after an unclean stop.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<(Self, RecoveryReport)> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).io("create directory", &dir)?;
        super::compaction::finish_interrupted_swaps(&dir)?;
        let bases = list_segments(&dir)?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean_shutdown = marker.exists();
        let recovery_point = if clean_shutdown { u64::MAX } else { read_checkpoint(&dir.join(RECOVERY_POINT_FILE)) };
        let mut report = RecoveryReport { clean_shutdown, segments: bases.len(), ..RecoveryReport::default() };
        // Compacted segments end short of the next one's base on purpose. The cleaner
        // checkpoint says how far compaction has reached (written before each swap); without
        // one, a compacted topic may have been compacted by an older version anywhere.
        let cleaner_checkpoint = read_checkpoint_if_valid(&dir.join(CLEANER_CHECKPOINT_FILE));
        let maybe_compacted = |next_base: u64| match cleaner_checkpoint {
            Some(cleaned) => next_base <= cleaned,
            None => config.cleanup_policy.compact,
        };

        let mut segments = BTreeMap::new();
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            let recover = next_base.is_none_or(|next| next > recovery_point);
            let (segment, outcome) = Segment::open(&dir, base, config.index_interval_bytes, recover)?;
            report.segments_recovered += usize::from(recover);
            report.truncated_bytes += outcome.truncated_bytes;
            if let Some(next) = next_base
                && segment.next_offset() > next
            {
                return Err(StorageError::Corrupt {
                    what: "log",
                    path: segment.log_path(),
                    detail: format!("segment ends at offset {} past the next segment's base {next}", segment.next_offset()),
                });
            }
            // A sealed segment that ends in zeros before the next one begins lost its tail
            // (it was rolled but not yet fsynced, and later data reached the disk first):
            // as after a torn batch, nothing past the hole may be served.
            // Likewise a sealed segment past the recovery point that ends short of the next one
            // (without preallocation the lost tail is simply missing): a segment there was never
            // compacted (compaction takes only durable segments), so a gap is lost records.
            let short = next_base.is_some_and(|next| segment.next_offset() < next);
            let compacted = next_base.is_some_and(&maybe_compacted);
            let hole = short && (outcome.zeroed_tail_bytes > 0 || (recover && !compacted));
            if hole {
                tracing::warn!(segment = %segment.log_path().display(), "segment ends before the next segment starts and was not durable; records are missing, so the segments after it are dropped");
                report.truncated_bytes += outcome.zeroed_tail_bytes;
            }
            segments.insert(base, segment);
            if (outcome.truncated_bytes > 0 || hole) && next_base.is_some() {
                // Nothing after a torn point may be served: later segments go too.
                for &later in &bases[i + 1..] {
                    let (dropped, _) = Segment::open(&dir, later, config.index_interval_bytes, false)?;
                    tracing::warn!(segment = %dropped.log_path().display(), "deleting segment after a corrupt one");
                    dropped.delete()?;
                    report.segments_dropped += 1;
                }
                break;
            }
        }
        let checkpointed_start = read_checkpoint(&dir.join(LOG_START_FILE));
        if segments.is_empty() {
            segments.insert(checkpointed_start, Segment::create(&dir, checkpointed_start, config.index_interval_bytes)?);
        }
        let mut log = Self {
            epochs: LeaderEpochCache::load(&dir)?,
            dir,
            config,
            segments,
            log_start_offset: 0,
            recovery_point: 0,
            appended_messages: 0,
            flushed_messages: 0,
            unflushed_since_ms: None,
            truncations: 0,
            rolls: 0,
            dir_synced_rolls: 0,
            checkpointed_recovery_point: 0,
            high_watermark_checkpoint: 0,
            cleaned_up_to: 0,
        };
        log.configure_active();
        if checkpointed_start > log.log_end_offset() {
            // DeleteRecords moved the start (durably) past what survived a crash: as Kafka's
            // log loader does, start the log afresh there, so that new records never get
            // offsets below the log start (where the next open would hide them).
            tracing::warn!(dir = %log.dir.display(), log_start_offset = checkpointed_start, log_end_offset = log.log_end_offset(), "the log start checkpoint is past the recovered log end; starting the log at the checkpoint");
            log.truncate_fully_and_start_at(checkpointed_start)?;
        }
        let first_base = log.segments.keys().next().copied().unwrap_or(0);
        log.log_start_offset = checkpointed_start.max(first_base).min(log.log_end_offset());
        log.recovery_point = recovery_point.min(log.log_end_offset());
        log.checkpointed_recovery_point = log.recovery_point;
        log.cleaned_up_to = cleaner_checkpoint.unwrap_or(0).min(log.log_end_offset());
        log.high_watermark_checkpoint = read_checkpoint(&log.dir.join(HIGH_WATERMARK_FILE)).clamp(log.log_start_offset, log.log_end_offset());
        log.epochs.truncate_from_end(log.log_end_offset())?;
        log.epochs.truncate_from_start(log.log_start_offset)?;
        if clean_shutdown {
            std::fs::remove_file(&marker).io("delete", &marker)?;
        }
        report.log_start_offset = log.log_start_offset;
        report.log_end_offset = log.log_end_offset();
        if report.truncated_bytes > 0 || report.segments_dropped > 0 {
            tracing::warn!(dir = %log.dir.display(), ?report, "log recovered after an unclean shutdown");
        }
        Ok((log, report))
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's settings.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the settings; they apply from the next append, roll, or cleanup.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
        self.configure_active();
    }

    /// First readable offset.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start_offset
    }

    /// One past the last offset (the offset the next record gets).
    pub fn log_end_offset(&self) -> u64 {
        self.active().next_offset()
    }

    /// Offset below which every record is fsynced.
    pub fn recovery_point(&self) -> u64 {
        self.recovery_point
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_bases(&self) -> Vec<u64> {
        self.segments.keys().copied().collect()
    }

    /// The newest leader epoch recorded in the log.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// Records that leader epoch `epoch` starts at the log end (a new leader does this before
    /// its first append, so followers' fetches are checked against it). Older or equal epochs
    /// change nothing.
    pub fn begin_leader_epoch(&mut self, epoch: i32) -> Result<()> {
        let end = self.log_end_offset();
        self.epochs.assign(epoch, end)
    }

    /// The high watermark last checkpointed, within the log's bounds (0 when never).
    pub fn high_watermark_checkpoint(&self) -> u64 {
        self.high_watermark_checkpoint.clamp(self.log_start_offset, self.log_end_offset())
    }

    /// Checkpoints the high watermark (durably; skipped when unchanged). Replication reads it
    /// back on open: a replica never starts with a high watermark above what it had.
    pub fn checkpoint_high_watermark(&mut self, high_watermark: u64) -> Result<()> {
        if high_watermark == self.high_watermark_checkpoint {
            return Ok(());
        }
        checkpoint::write_offset(&self.dir.join(HIGH_WATERMARK_FILE), high_watermark)?;
        self.high_watermark_checkpoint = high_watermark;
        Ok(())
    }

    /// Where `epoch` ends (OffsetForLeaderEpoch).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    pub(super) fn active(&self) -> &Segment {
        // Invariant: `segments` is never empty (open and truncate always leave one).
        self.segments.values().next_back().unwrap_or_else(|| unreachable!("a log always has an active segment"))
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().unwrap_or_else(|| unreachable!("a log always has an active segment"))
    }

    /// The leader epoch the record at `offset` was written in: the last epoch that started at
    /// or before it.
    pub fn epoch_for_offset(&self, offset: u64) -> Option<i32> {
        self.epochs.entries().iter().rev().find(|e| e.start_offset <= offset).map(|e| e.epoch)
    }

    /// Appends batches from a producer (or the broker itself) as leader: validates every
    /// batch first (all or nothing), assigns offsets from the log end offset, writes the
    /// leader epoch and — under LogAppendTime — the append time, and stores the bytes; then
    /// fsyncs if the flush policy says so.
    pub fn append(&mut self, records: &mut [u8], options: AppendOptions) -> Result<AppendInfo> {
        let prepared = self.prepare_append(records, options)?;
        prepared.write(records)?;
        self.commit_and_flush(prepared)
    }

    /// Appends batches copied from a leader, keeping their offsets and epochs. Each batch's
    /// CRC is checked and its offsets must continue the log.
    pub fn append_replicated(&mut self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        let prepared = self.prepare_replicated(records, now_ms)?;
        prepared.write(records)?;
        self.commit_and_flush(prepared)
    }

    fn commit_and_flush(&mut self, prepared: PreparedAppend) -> Result<AppendInfo> {
        let mut info = self.commit_append(prepared)?;
        if info.flush_due {
            self.flush()?;
            info.synced = true;
        }
        Ok(info)
    }

    /// The first step of a leader append (see [`PreparedAppend`]): validates and stamps
    /// `records` in place and reserves their room.
    pub fn prepare_append(&mut self, records: &mut [u8], options: AppendOptions) -> Result<PreparedAppend> {
        let mut found = Vec::new();
        for item in Batches::new(records) {
            let (position, bytes) = item.map_err(|defect| StorageError::InvalidBatch { position: records.len(), defect })?;
            if bytes.len() as u64 > self.config.max_message_bytes {
                return Err(StorageError::BatchTooLarge { size: bytes.len(), max: self.config.max_message_bytes });
            }
            let header = batch::validate(bytes, true).map_err(|defect| StorageError::InvalidBatch { position, defect })?;
            found.push((position, header));
        }
        if found.is_empty() {
            return Err(StorageError::InvalidBatch { position: 0, defect: batch::BatchDefect::Empty });
        }
        let log_append_time = (self.config.message_timestamp_type == TimestampType::LogAppendTime).then_some(options.now_ms);
        let mut next = self.log_end_offset();
        let mut appended = Vec::with_capacity(found.len());
        let mut record_count = 0u64;
        for (position, header) in found {
            let bytes = &mut records[position..position + header.total_len()];
            batch::set_base_offset(bytes, next as i64);
            batch::set_partition_leader_epoch(bytes, options.leader_epoch);
            let max_timestamp = match log_append_time {
                Some(now) => {
                    batch::set_log_append_time(bytes, now);
                    now
                }
                None => header.max_timestamp,
            };
            let last = next.checked_add(header.last_offset_delta.max(0) as u64).filter(|&l| l < i64::MAX as u64).ok_or(
                StorageError::InvalidBatch {
                    position,
                    defect: batch::BatchDefect::OffsetOverflow { base_offset: next as i64, last_offset_delta: header.last_offset_delta },
                },
            )?;
            appended.push(AppendedBatch { position, len: header.total_len(), base_offset: next, last_offset: last, max_timestamp });
            record_count += header.records_count as u64;
            next = last + 1;
        }
        let epochs = if options.leader_epoch >= 0 { vec![(options.leader_epoch, appended[0].base_offset)] } else { Vec::new() };
        self.prepare(records.len(), appended, epochs, record_count, options.now_ms, log_append_time)
    }

    /// The first step of a follower append: checks that `records` continue the log and
    /// reserves their room.
    pub fn prepare_replicated(&mut self, records: &[u8], now_ms: i64) -> Result<PreparedAppend> {
        let mut next = self.log_end_offset();
        let mut appended = Vec::new();
        let mut record_count = 0u64;
        let mut epochs = Vec::new();
        for item in Batches::new(records) {
            let (position, bytes) = item.map_err(|defect| StorageError::InvalidBatch { position: records.len(), defect })?;
            let header = batch::validate(bytes, false).map_err(|defect| StorageError::InvalidBatch { position, defect })?;
            if header.base_offset < next as i64 || header.last_offset() < header.base_offset {
                return Err(StorageError::NonMonotonicOffset { base_offset: header.base_offset, log_end_offset: next });
            }
            let (base, last) = (header.base_offset as u64, header.last_offset() as u64);
            appended.push(AppendedBatch { position, len: bytes.len(), base_offset: base, last_offset: last, max_timestamp: header.max_timestamp });
            epochs.push((header.partition_leader_epoch, base));
            record_count += header.records_count.max(0) as u64;
            next = last + 1;
        }
        if appended.is_empty() {
            return Err(StorageError::InvalidBatch { position: 0, defect: batch::BatchDefect::Empty });
        }
        self.prepare(records.len(), appended, epochs, record_count, now_ms, None)
    }

    fn prepare(
        &mut self,
        len: usize,
        batches: Vec<AppendedBatch>,
        epochs: Vec<(i32, u64)>,
        records: u64,
        now_ms: i64,
        log_append_time: Option<i64>,
    ) -> Result<PreparedAppend> {
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            return Err(StorageError::InvalidBatch { position: 0, defect: batch::BatchDefect::Empty });
        };
        let (first_offset, last_offset) = (first.base_offset, last.last_offset);
        self.maybe_roll(len as u64, first_offset, last_offset, now_ms)?;
        let slot = self.active_mut().slot_for(len)?;
        let segment_base = self.active().base_offset();
        Ok(PreparedAppend { slot, segment_base, truncations: self.truncations, batches, epochs, records, now_ms, log_append_time })
    }

    /// The last step of an append: the written bytes become part of the log (readable up to
    /// the caller's bound). Says whether the flush policy wants an fsync now; it is not run.
    pub fn commit_append(&mut self, prepared: PreparedAppend) -> Result<AppendInfo> {
        let PreparedAppend { slot, segment_base, truncations, batches, epochs, records, now_ms, log_append_time } = prepared;
        if segment_base != self.active().base_offset() || truncations != self.truncations {
            return Err(StorageError::Corrupt {
                what: "log",
                path: self.dir.clone(),
                detail: "the log changed between preparing and committing an append: two writers at once".into(),
            });
        }
        self.active_mut().record_written(&slot, &batches, now_ms)?;
        for (epoch, start) in epochs {
            self.epochs.assign(epoch, start)?;
        }
        self.appended_messages += records;
        self.unflushed_since_ms.get_or_insert(now_ms);
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            return Err(StorageError::InvalidBatch { position: 0, defect: batch::BatchDefect::Empty });
        };
        Ok(AppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset,
            max_timestamp: batches.iter().map(|b| b.max_timestamp).max().unwrap_or(-1),
            log_append_time,
            batches: batches.len(),
            records,
            bytes: slot.len,
            synced: false,
            flush_due: self.flush_due(now_ms),
        })
    }

    fn maybe_roll(&mut self, incoming: u64, first_offset: u64, last_offset: u64, now_ms: i64) -> Result<()> {
        let active = self.active();
        if active.is_empty() {
            return Ok(());
        }
        let config = &self.config;
        let full = active.size() + incoming > config.segment_bytes;
        // A compacted topic rolls by max.compaction.lag.ms too, so that records in the active
        // segment (never compacted) do not wait past it.
        let mut roll_ms = config.segment_ms;
        if config.cleanup_policy.compact {
            roll_ms = roll_ms.min(config.max_compaction_lag_ms);
        }
        let roll_ms = roll_ms.saturating_sub(active.roll_jitter_ms()).max(1);
        let aged = active.first_append_ms().is_some_and(|t| now_ms.saturating_sub(t) >= roll_ms);
        // The offset index would pass segment.index.bytes with another entry.
        let index_full = active.offset_index_bytes() + 8 > config.segment_index_bytes;
        if full || aged || index_full || active.offset_overflows(last_offset) {
            self.roll_at(first_offset)?;
        }
        Ok(())
    }

    /// Starts a new active segment at the log end offset (no-op when the active one is empty).
    pub fn roll(&mut self) -> Result<()> {
        if self.active().is_empty() {
            return Ok(());
        }
        self.roll_at(self.log_end_offset())
    }

    fn roll_at(&mut self, base: u64) -> Result<()> {
        // The outgoing segment's data and indexes are written but not fsynced: fsyncing up to
        // a whole segment (1 GiB by default) here would hold the log, and the appending
        // thread, for seconds. As in Kafka, that fsync runs later, off the append path
        // (`pending_sealed_sync`, which the broker runs in the background), or with the next
        // flush; until then the recovery point stays before the segment, and an unclean open
        // re-checks it. The directory is fsynced with it too, for the new file's entry.
        self.active_mut().seal(false)?;
        let segment = self.new_active_segment(base)?;
        self.segments.insert(base, segment);
        self.configure_active();
        self.rolls += 1;
        tracing::debug!(dir = %self.dir.display(), base, "rolled segment");
        Ok(())
    }

    /// True when the flush policy wants the unflushed records fsynced at `now_ms`.
    pub fn flush_due(&self, now_ms: i64) -> bool {
        let unflushed = self.appended_messages.saturating_sub(self.flushed_messages);
        if unflushed == 0 {
            return false;
        }
        let policy = self.config.flush;
        let by_count = policy.messages.is_some_and(|n| unflushed >= n);
        let by_time = match (policy.ms, self.unflushed_since_ms) {
            (Some(ms), Some(oldest)) => now_ms.saturating_sub(oldest) >= ms as i64,
            _ => false,
        };
        by_count || by_time
    }

    /// Applies `flush.ms` without an append: call periodically.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<bool> {
        if !self.flush_due(now_ms) {
            return Ok(false);
        }
        self.flush()?;
        Ok(true)
    }

    /// What [`PartitionLog::flush`] would fsync now, to run without holding the log (see
    /// [`PendingSync`]); `None` when everything is durable already.
    pub fn pending_sync(&self) -> Result<Option<PendingSync>> {
        let end = self.log_end_offset();
        if self.recovery_point >= end {
            return Ok(None);
        }
        let (files, rolls) = self.sync_handles(None)?;
        Ok(Some(PendingSync {
            files,
            end,
            truncations: self.truncations,
            rolls,
            active_base: self.active().base_offset(),
            messages: self.appended_messages,
            captured_ms: sync::now_ms(),
        }))
    }

    /// What must be fsynced for the recovery point to pass every sealed segment: the data
    /// and indexes of the sealed segments that are not durable yet, and the directory.
    /// `None` when there are none. A segment roll leaves this behind rather than fsyncing
    /// under the log's lock; run it like [`PartitionLog::pending_sync`], then
    /// [`PartitionLog::mark_synced`].
    pub fn pending_sealed_sync(&self) -> Result<Option<PendingSync>> {
        let active = self.active().base_offset();
        if self.recovery_point >= active {
            return Ok(None);
        }
        let (files, rolls) = self.sync_handles(Some(active))?;
        // Sealed segments only: the records of the active one are not credited.
        Ok(Some(PendingSync {
            files,
            end: active,
            truncations: self.truncations,
            rolls,
            active_base: active,
            messages: self.flushed_messages,
            captured_ms: sync::now_ms(),
        }))
    }

    /// Handles to fsync so that the records from the recovery point on (up to the segment
    /// starting at `until`, when given) are durable: each segment's data file, the indexes
    /// of the sealed ones, and — when segments were rolled since the directory was last
    /// fsynced — the directory, returning the roll count it covers.
    fn sync_handles(&self, until: Option<u64>) -> Result<(Vec<SyncFile>, Option<u64>)> {
        let from = self.segments.range(..=self.recovery_point).next_back().map_or(0, |(&b, _)| b);
        let active = self.active().base_offset();
        let mut files = Vec::new();
        for (&base, segment) in self.segments.range(from..).take_while(|(b, _)| until.is_none_or(|u| **b < u)) {
            files.push(segment.sync_handle()?);
            if base != active {
                files.extend(segment.index_sync_handles()?);
            }
        }
        let rolls = (self.rolls > self.dir_synced_rolls).then_some(self.rolls);
        if rolls.is_some() {
            let dir = std::fs::File::open(&self.dir).io("open directory", &self.dir)?;
            files.push((dir, self.dir.clone()));
        }
        Ok((files, rolls))
    }

    /// Makes sure the recovery point checkpoint on disk is at least `offset` (which the
    /// in-memory recovery point must have reached).
    pub(super) fn checkpoint_recovery_point_past(&mut self, offset: u64) -> Result<()> {
        if self.checkpointed_recovery_point >= offset {
            return Ok(());
        }
        if self.recovery_point < offset {
            return Err(StorageError::Corrupt {
                what: "log",
                path: self.dir.clone(),
                detail: format!("recovery point {} is before {offset}", self.recovery_point),
            });
        }
        self.write_recovery_checkpoint()
    }

    /// Writes the recovery point to its checkpoint file, so that an unclean open starts
    /// checking there.
    fn write_recovery_checkpoint(&mut self) -> Result<()> {
        checkpoint::write_offset(&self.dir.join(RECOVERY_POINT_FILE), self.recovery_point)?;
        self.checkpointed_recovery_point = self.recovery_point;
        Ok(())
    }

    /// Writes the checkpoint when the recovery point has moved into a later segment than the
    /// one on disk names — about once per roll, however often syncs run. Best effort: if it
    /// fails, an unclean open only re-checks more of the log.
    fn checkpoint_if_segment_passed(&mut self) {
        let segment_of = |offset: u64| self.segments.range(..=offset).next_back().map(|(&b, _)| b);
        if segment_of(self.recovery_point) == segment_of(self.checkpointed_recovery_point) {
            return;
        }
        if let Err(e) = self.write_recovery_checkpoint() {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not write the recovery point checkpoint; after a crash more of the log will be re-checked");
        }
    }

    /// Records that `done` ran: the recovery point moves to its end (unless the log was
    /// truncated since it was taken).
    pub fn mark_synced(&mut self, done: &PendingSync) {
        if let Some(rolls) = done.rolls {
            self.dir_synced_rolls = self.dir_synced_rolls.max(rolls);
        }
        // The segment that was active at capture had no index in the sync; if it has been
        // sealed since, stop before it so that the sealed-segment sync covers its indexes.
        let end = if self.active().base_offset() == done.active_base { done.end } else { done.end.min(done.active_base) };
        if done.truncations != self.truncations || end <= self.recovery_point {
            return;
        }
        self.recovery_point = end.min(self.log_end_offset());
        // Credit exactly the records the sync covered; what was appended after it was
        // captured stays unflushed, dated no later than the capture.
        self.flushed_messages = self.flushed_messages.max(done.messages);
        self.unflushed_since_ms = if self.flushed_messages >= self.appended_messages { None } else { Some(done.captured_ms) };
        self.checkpoint_if_segment_passed();
    }

    /// fsyncs every segment holding data past the recovery point.
    pub fn flush(&mut self) -> Result<()> {
        let end = self.log_end_offset();
        if self.recovery_point < end || self.rolls > self.dir_synced_rolls {
            let (files, rolls) = self.sync_handles(None)?;
            sync::sync_all(&files)?;
            self.dir_synced_rolls = rolls.unwrap_or(self.dir_synced_rolls);
        }
        self.recovery_point = end;
        self.flushed_messages = self.appended_messages;
        self.unflushed_since_ms = None;
        self.checkpoint_if_segment_passed();
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes`
    /// (always at least one batch), never returning a batch that reaches `upper_bound`
    /// (e.g. the high watermark; the log end offset when `None`).
    pub fn read(&self, offset: u64, max_bytes: usize, upper_bound: Option<u64>) -> Result<LogRead> {
        self.plan_read(offset, max_bytes, upper_bound)?.run()
    }

    /// [`PartitionLog::read`] in two steps: planned here with read access to the log, then
    /// [`LogReadPlan::run`] without it, so that a read from disk never holds up an append.
    pub fn plan_read(&self, offset: u64, max_bytes: usize, upper_bound: Option<u64>) -> Result<LogReadPlan> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(StorageError::OffsetOutOfRange {
                requested: offset as i64,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let bound = upper_bound.map_or(end, |b| b.min(end));
        let segments = if offset >= bound {
            Vec::new()
        } else {
            let from = self.segments.range(..=offset).next_back().map_or(0, |(&b, _)| b);
            // Segments past the first one are read only when it holds nothing at or after
            // `offset` (compaction can leave a segment's last offsets empty).
            self.segments.range(from..bound).map(|(_, s)| s.plan_read(offset)).collect()
        };
        Ok(LogReadPlan { segments, offset, max_bytes, bound, log_start_offset: self.log_start_offset, log_end_offset: end })
    }

    /// The first record whose timestamp is at or after `timestamp` (ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        self.plan_timestamp_lookup(timestamp).run()
    }

    /// [`PartitionLog::offset_for_timestamp`] planned with read access to the log, to run
    /// without it: reading and decompressing batches never holds up an append.
    pub fn plan_timestamp_lookup(&self, timestamp: i64) -> TimestampLookup {
        let candidates = self
            .segments
            .values()
            .filter(|s| s.max_timestamp() >= timestamp && s.next_offset() > self.log_start_offset)
            .filter_map(|s| s.plan_timestamp_lookup(timestamp, self.log_start_offset))
            .collect();
        TimestampLookup { candidates, target: LookupTarget::AtOrAfter(timestamp) }
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP); the earliest one on ties.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampOffset>> {
        self.plan_max_timestamp_lookup().run()
    }

    /// [`PartitionLog::max_timestamp_offset`], planned to run without access to the log.
    pub fn plan_max_timestamp_lookup(&self) -> TimestampLookup {
        let mut best: Option<&Segment> = None;
        for segment in self.segments.values().filter(|s| s.next_offset() > self.log_start_offset) {
            if segment.max_timestamp() >= 0 && best.is_none_or(|b| segment.max_timestamp() > b.max_timestamp()) {
                best = Some(segment);
            }
        }
        let candidates = best.map(|s| (s.plan_read(s.offset_of_max_timestamp()), s.offset_of_max_timestamp())).into_iter().collect();
        let target = best.map_or(LookupTarget::Largest(-1), |s| LookupTarget::Largest(s.max_timestamp()));
        TimestampLookup { candidates, target }
    }

    /// Removes every record at or after `offset` (a follower catching up with a new leader).
    /// The cut falls at a batch boundary: when `offset` lies inside a batch, that whole batch
    /// goes, so the new log end offset can be below `offset`.
    pub fn truncate_to(&mut self, offset: u64) -> Result<()> {
        if offset >= self.log_end_offset() {
            // No record goes, but an epoch that starts at the log end without records (a
            // leader that wrote nothing before losing leadership) is not part of the shared
            // history: a follower that kept it would diverge again on every fetch.
            return self.epochs.truncate_from_end(offset);
        }
        if offset <= self.log_start_offset {
            return self.truncate_fully_and_start_at(offset);
        }
        let doomed: Vec<u64> = self.segments.range(offset..).map(|(&b, _)| b).collect();
        for base in doomed {
            if let Some(segment) = self.segments.remove(&base) {
                segment.delete()?;
            }
        }
        match self.segments.values_mut().next_back() {
            Some(last) => {
                last.truncate_to(offset)?;
            }
            None => {
                let segment = self.new_active_segment(offset)?;
                self.segments.insert(offset, segment);
            }
        }
        self.after_truncation()
    }

    /// Deletes everything and restarts the log, empty, at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: u64) -> Result<()> {
        for (_, segment) in std::mem::take(&mut self.segments) {
            segment.delete()?;
        }
        let segment = self.new_active_segment(offset)?;
        self.segments.insert(offset, segment);
        self.log_start_offset = offset;
        checkpoint::write_offset(&self.dir.join(LOG_START_FILE), offset)?;
        self.epochs.truncate_from_start(offset)?;
        self.after_truncation()
    }

    fn new_active_segment(&self, base: u64) -> Result<Segment> {
        Segment::create(&self.dir, base, self.config.index_interval_bytes)
    }

    /// Applies the preallocation setting to the active segment (whichever that is now).
    fn configure_active(&mut self) {
        let step = if self.config.preallocate { PREALLOCATE_STEP_BYTES } else { 0 };
        let jitter = match self.config.segment_jitter_ms {
            j if j > 0 => rand::random_range(0..j),
            _ => 0,
        };
        let active = self.active_mut();
        active.set_preallocation(step);
        if active.roll_jitter_ms() == 0 {
            active.set_roll_jitter(jitter);
        }
    }

    fn after_truncation(&mut self) -> Result<()> {
        self.truncations += 1;
        self.configure_active();
        let end = self.log_end_offset();
        self.epochs.truncate_from_end(end)?;
        self.recovery_point = self.recovery_point.min(end);
        self.write_recovery_checkpoint()
    }

    /// Makes `offset` the first readable offset (DeleteRecords). Whole segments below it are
    /// removed by the next retention pass.
    pub fn delete_records_before(&mut self, offset: u64) -> Result<u64> {
        let end = self.log_end_offset();
        if offset > end {
            return Err(StorageError::OffsetOutOfRange { requested: offset as i64, log_start_offset: self.log_start_offset, log_end_offset: end });
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            checkpoint::write_offset(&self.dir.join(LOG_START_FILE), offset)?;
            self.epochs.truncate_from_start(offset)?;
        }
        Ok(self.log_start_offset)
    }

    /// Flushes, seals the active segment and marks the shutdown clean so the next open skips
    /// recovery.
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        self.active_mut().seal(true)?;
        for segment in self.segments.values_mut() {
            segment.persist_indexes(true)?;
        }
        self.write_recovery_checkpoint()?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_FILE);
        std::fs::write(&marker, b"").io("create", &marker)?;
        checkpoint::sync_dir(&self.dir)
    }
}

/// Base offsets of the `.log` files in `dir`, sorted. Stray temporary files are removed.
fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).io("list", dir)? {
        let entry = entry.io("list", dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            let path = entry.path();
            std::fs::remove_file(&path).io("delete", &path)?;
        } else if let Some(stem) = name.strip_suffix(segment::LOG_SUFFIX) {
            match stem.parse::<u64>() {
                // Offsets are i64 on the wire: a larger base cannot name a real segment.
                Ok(base) if stem.len() == 20 && base <= i64::MAX as u64 => bases.push(base),
                _ => tracing::warn!(file = name, "ignoring a file that is not a segment"),
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Reads an offset checkpoint; a missing or unreadable one counts as 0 (recover everything).
fn read_checkpoint(path: &Path) -> u64 {
    read_checkpoint_if_valid(path).unwrap_or(0)
}

/// The offset a checkpoint holds, `None` when it is missing or unusable (with a warning).
fn read_checkpoint_if_valid(path: &Path) -> Option<u64> {
    match checkpoint::read_offset(path) {
        // Offsets are i64 on the wire: a larger one is garbage, not a position in the log.
        Ok(Some(v)) if v > i64::MAX as u64 => {
            tracing::warn!(path = %path.display(), value = v, "ignoring a checkpoint past the largest offset");
            None
        }
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring checkpoint");
            None
        }
    }
}
