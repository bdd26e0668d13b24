//! Log compaction (`cleanup.policy=compact`): keep the newest record of every key, drop
//! tombstones older than `delete.retention.ms`, never reorder or renumber offsets.
//!
//! Compaction runs in three steps so that appends are never blocked for its duration:
//!
//! ```text
//! plan_compaction(&log)        brief read access: snapshot the inactive segments (file handles)
//!   └─► CompactionPlan::execute()   no access to the log: build key → newest offset, write
//!                                   cleaned segments and their indexes into `.compaction/`
//!         └─► install_compaction(&mut log)   brief write access: check nothing changed,
//!                                            swap files in, replace segments in memory
//! ```
//!
//! Swapping is crash-safe: the cleaned data file is first renamed to `<base>.log.swap` (the
//! commit point), then the old segments are deleted and the swap renamed to `<base>.log`.
//! [`finish_interrupted_swaps`] completes a swap found on open; an uncommitted `.compaction/`
//! directory is simply discarded. The active segment is never compacted.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::batch::{self, BatchDefect, BatchHeader};
use super::compression::MAX_DECOMPRESSED_BYTES;
use super::error::{IoContext, Result, StorageError};
use super::log::PartitionLog;
use super::reader::{SegmentReader, Step, BATCH_CHUNK};
use super::record::{self, BatchBuilder};
use super::segment::{self, Segment};

/// Staging directory for cleaned segments, inside the partition directory.
pub const STAGING_DIR: &str = ".compaction";
const SWAP_SUFFIX: &str = ".log.swap";

/// An inactive segment as it was when the plan was made.
#[derive(Debug, Clone)]
struct SegmentSnapshot {
    base: u64,
    file: Arc<File>,
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

/// The segments to clean, grouped into future output segments. Holds no borrow of the log.
#[derive(Debug)]
pub struct CompactionPlan {
    dir: PathBuf,
    /// Where the planned segments end: the first dirty offset once installed.
    dirty_end: u64,
    groups: Vec<Vec<SegmentSnapshot>>,
    now_ms: i64,
    delete_retention_ms: i64,
    index_interval_bytes: u64,
}

/// Cleaned segments waiting to be installed.
#[derive(Debug)]
pub struct CompactedSegments {
    dir: PathBuf,
    dirty_end: u64,
    outputs: Vec<CleanedGroup>,
    stats: CompactionOutcome,
}

#[derive(Debug)]
struct CleanedGroup {
    replaces: Vec<SegmentSnapshot>,
    segment: Segment,
}

/// What a compaction pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionOutcome {
    /// Segments read and rewritten.
    pub segments_cleaned: usize,
    /// Records read.
    pub records_read: u64,
    /// Records dropped (superseded values and expired tombstones).
    pub records_removed: u64,
    /// Bytes of the cleaned segments before.
    pub bytes_before: u64,
    /// Bytes of the cleaned segments after.
    pub bytes_after: u64,
    /// False when the log changed under the pass and its result was discarded.
    pub installed: bool,
}

impl PartitionLog {
    /// Snapshots the inactive segments for a compaction pass; `None` when the log is not
    /// compacted or has nothing but its active segment.
    pub fn plan_compaction(&self, now_ms: i64) -> Result<Option<CompactionPlan>> {
        self.plan_compaction_of(now_ms, false)
    }

    /// Plans a pass; with `force`, whatever the dirty ratio (a manual pass, [`PartitionLog::compact`]).
    fn plan_compaction_of(&self, now_ms: i64, force: bool) -> Result<Option<CompactionPlan>> {
        if !self.config.cleanup_policy.compact || self.segments.len() < 2 {
            return Ok(None);
        }
        let config = &self.config;
        // Cleanable: sealed segments that are durable (wholly below the recovery point, so an
        // unclean open never re-checks a compacted segment, whose gaps would look like lost
        // records) and whose newest record is older than min.compaction.lag.ms.
        let bases: Vec<u64> = self.segments.keys().copied().collect();
        let mut cleanable = Vec::new();
        for (segment, &next_base) in self.segments.values().zip(bases.iter().skip(1)) {
            let young = config.min_compaction_lag_ms > 0 && segment.max_timestamp() > now_ms.saturating_sub(config.min_compaction_lag_ms);
            if next_base > self.recovery_point() || young {
                break;
            }
            cleanable.push((segment, next_base));
        }
        // The dirty ratio (min.cleanable.dirty.ratio): the share of the cleanable log written
        // since the last pass. max.compaction.lag.ms forces a pass when the oldest dirty record
        // has waited that long, whatever the ratio.
        let (clean, dirty): (Vec<_>, Vec<_>) = cleanable.iter().partition(|(_, next)| *next <= self.cleaned_up_to);
        let bytes = |part: &[&(&Segment, u64)]| part.iter().map(|(s, _)| s.size()).sum::<u64>();
        let (clean_bytes, dirty_bytes) = (bytes(&clean), bytes(&dirty));
        if dirty_bytes == 0 && !force {
            return Ok(None);
        }
        let ratio = dirty_bytes as f64 / (clean_bytes + dirty_bytes).max(1) as f64;
        let oldest_dirty = dirty.first().and_then(|(s, _)| s.first_append_ms()).unwrap_or(now_ms);
        let overdue = now_ms.saturating_sub(oldest_dirty) >= config.max_compaction_lag_ms;
        if ratio < config.min_cleanable_dirty_ratio && !overdue && !force {
            return Ok(None);
        }
        let mut groups: Vec<Vec<SegmentSnapshot>> = Vec::new();
        let (mut group_bytes, mut group_base) = (0u64, 0u64);
        for (segment, _) in &cleanable {
            let path = segment.log_path();
            let modified = segment.file().metadata().and_then(|m| m.modified()).io("stat", &path)?;
            let snapshot = SegmentSnapshot { base: segment.base_offset(), file: Arc::clone(segment.file()), path, size: segment.size(), modified };
            let fits = group_bytes + segment.size() <= self.config.segment_bytes.min(u32::MAX as u64 / 2)
                && segment.next_offset().saturating_sub(group_base) <= i32::MAX as u64;
            match groups.last_mut() {
                Some(group) if fits => group.push(snapshot),
                _ => {
                    group_base = segment.base_offset();
                    group_bytes = 0;
                    groups.push(vec![snapshot]);
                }
            }
            group_bytes += segment.size();
        }
        let dirty_end = cleanable.last().map_or(0, |(_, next)| *next);
        Ok(Some(CompactionPlan {
            dir: self.dir.clone(),
            dirty_end,
            groups,
            now_ms,
            delete_retention_ms: self.config.delete_retention_ms,
            index_interval_bytes: self.config.index_interval_bytes,
        }))
    }

    /// Swaps cleaned segments in. If any planned segment changed or vanished since the plan
    /// (retention, truncation, another pass), nothing is installed.
    pub fn install_compaction(&mut self, compacted: CompactedSegments) -> Result<CompactionOutcome> {
        let unchanged = compacted.outputs.iter().flat_map(|g| &g.replaces).all(|snap| {
            self.segments.get(&snap.base).is_some_and(|s| Arc::ptr_eq(s.file(), &snap.file) && s.size() == snap.size)
        });
        let staging = compacted.dir.join(STAGING_DIR);
        if !unchanged || compacted.dir != self.dir {
            remove_dir_if_present(&staging)?;
            return Ok(CompactionOutcome { installed: false, ..compacted.stats });
        }
        // The compacted segments must never be re-checked as possibly torn after a crash: their
        // gaps are deliberate. They lie below the recovery point; make sure the checkpoint on
        // disk says so before they replace the old ones.
        self.checkpoint_recovery_point_past(compacted.dirty_end)?;
        // And the cleaner checkpoint, durably, before any swap: `open` trusts a short segment
        // below it to be compaction's doing, not a lost tail.
        let cleaned_up_to = self.cleaned_up_to.max(compacted.dirty_end);
        super::checkpoint::write_offset(&self.dir.join(super::log::CLEANER_CHECKPOINT_FILE), cleaned_up_to)?;
        self.cleaned_up_to = cleaned_up_to;
        for group in compacted.outputs {
            let base = group.segment.base_offset();
            let swap = self.dir.join(format!("{}{SWAP_SUFFIX}", segment::file_name(base, "")));
            let staged = |suffix| staging.join(segment::file_name(base, suffix));
            std::fs::rename(staged(segment::LOG_SUFFIX), &swap).io("rename", &swap)?;
            super::checkpoint::sync_dir(&self.dir)?;
            for snap in &group.replaces {
                if let Some(old) = self.segments.remove(&snap.base) {
                    old.delete()?;
                }
            }
            for suffix in [segment::INDEX_SUFFIX, segment::TIME_INDEX_SUFFIX] {
                let target = self.dir.join(segment::file_name(base, suffix));
                std::fs::rename(staged(suffix), &target).io("rename", &target)?;
            }
            let final_path = self.dir.join(segment::file_name(base, segment::LOG_SUFFIX));
            std::fs::rename(&swap, &final_path).io("rename", &final_path)?;
            let mut installed = group.segment;
            installed.relocate(&self.dir);
            self.segments.insert(base, installed);
        }
        super::checkpoint::sync_dir(&self.dir)?;
        remove_dir_if_present(&staging)?;
        Ok(CompactionOutcome { installed: true, ..compacted.stats })
    }

    /// One whole compaction pass while holding the log (tests, tools, single-threaded use),
    /// whatever the dirty ratio. Flushes first: only durable segments are compacted.
    pub fn compact(&mut self, now_ms: i64) -> Result<CompactionOutcome> {
        self.flush()?;
        match self.plan_compaction_of(now_ms, true)? {
            Some(plan) => {
                let compacted = plan.execute()?;
                self.install_compaction(compacted)
            }
            None => Ok(CompactionOutcome::default()),
        }
    }
}

impl CompactionPlan {
    /// Reads the planned segments, writes the cleaned ones into the staging directory.
    pub fn execute(self) -> Result<CompactedSegments> {
        let staging = self.dir.join(STAGING_DIR);
        remove_dir_if_present(&staging)?;
        std::fs::create_dir_all(&staging).io("create directory", &staging)?;
        let newest = self.newest_offsets()?;
        let horizon = SystemTime::UNIX_EPOCH
            + std::time::Duration::from_millis(self.now_ms.saturating_sub(self.delete_retention_ms).max(0) as u64);
        let mut stats = CompactionOutcome::default();
        let mut outputs = Vec::new();
        for group in self.groups {
            let base = group[0].base;
            let path = staging.join(segment::file_name(base, segment::LOG_SUFFIX));
            let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).io("create", &path)?;
            let mut out = BufWriter::with_capacity(1 << 20, &file);
            for snap in &group {
                stats.segments_cleaned += 1;
                stats.bytes_before += snap.size;
                let keep_tombstones = snap.modified >= horizon;
                clean_segment(snap, &newest, keep_tombstones, &mut out, &mut stats)?;
            }
            out.flush().io("write", &path)?;
            drop(out);
            file.sync_data().io("fsync", &path)?;
            if let Some(modified) = group.iter().map(|s| s.modified).max() {
                file.set_modified(modified).io("set mtime", &path)?;
            }
            // Scanning the fresh file checks every CRC once more and writes its indexes.
            let (segment, _) = Segment::load(&staging, base, file, self.index_interval_bytes, true)?;
            stats.bytes_after += segment.size();
            outputs.push(CleanedGroup { replaces: group, segment });
        }
        Ok(CompactedSegments { dir: self.dir, dirty_end: self.dirty_end, outputs, stats })
    }

    /// Key → offset of its newest record across the planned segments.
    fn newest_offsets(&self) -> Result<HashMap<Bytes, i64>> {
        let mut newest = HashMap::new();
        for snap in self.groups.iter().flatten() {
            for_each_batch(snap, |_, header, bytes| {
                if header.is_control() {
                    return Ok(());
                }
                record::for_each_record(bytes, MAX_DECOMPRESSED_BYTES, |r| {
                    if let Some(key) = r.key {
                        newest.insert(Bytes::copy_from_slice(&key), r.offset);
                    }
                    Ok::<(), BatchDefect>(())
                })
                .map_err(|d| corrupt(snap, &d))?;
                Ok(())
            })?;
        }
        Ok(newest)
    }
}

/// Writes the retained part of one segment to `out`.
fn clean_segment(
    snap: &SegmentSnapshot,
    newest: &HashMap<Bytes, i64>,
    keep_tombstones: bool,
    out: &mut impl Write,
    stats: &mut CompactionOutcome,
) -> Result<()> {
    let staging_err = |e: std::io::Error| StorageError::Io { op: "write", path: snap.path.clone(), source: e };
    for_each_batch(snap, |_, header, bytes| {
        if header.is_control() {
            return out.write_all(bytes).map_err(staging_err);
        }
        // One record at a time: the kept ones are re-encoded as they come, so memory stays at
        // one batch however many records it holds.
        let mut builder = BatchBuilder::like(&header).map_err(|d| corrupt(snap, &d))?;
        let (mut read, mut kept) = (0u64, 0u64);
        record::for_each_record(bytes, MAX_DECOMPRESSED_BYTES, |r| {
            read += 1;
            let keep = match &r.key {
                None => true,
                Some(key) => newest.get(key) == Some(&r.offset) && (r.value.is_some() || keep_tombstones),
            };
            if keep {
                kept += 1;
                builder.push_record(&r);
            }
            Ok::<(), BatchDefect>(())
        })
        .map_err(|d| corrupt(snap, &d))?;
        stats.records_read += read;
        stats.records_removed += read - kept;
        if kept == read {
            out.write_all(bytes).map_err(staging_err)
        } else if kept == 0 {
            Ok(())
        } else {
            // A batch that cannot be re-compressed fails the pass: the segments stay as they
            // are (the staging directory is discarded), never replaced by a partial batch.
            let rebuilt = builder.build()?;
            out.write_all(&rebuilt).map_err(staging_err)
        }
    })
}

fn for_each_batch(
    snap: &SegmentSnapshot,
    mut f: impl FnMut(u64, BatchHeader, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut reader = SegmentReader::new(&snap.file, &snap.path, 0, snap.size, BATCH_CHUNK);
    loop {
        match reader.next_batch()? {
            Step::Item((position, bytes)) => {
                let header = batch::validate(bytes, false).map_err(|d| corrupt(snap, &d))?;
                f(position, header, bytes)?;
            }
            Step::End => return Ok(()),
            Step::Defect { defect, .. } => return Err(corrupt(snap, &defect)),
        }
    }
}

fn corrupt(snap: &SegmentSnapshot, detail: &dyn std::fmt::Display) -> StorageError {
    StorageError::Corrupt { what: "segment", path: snap.path.clone(), detail: detail.to_string() }
}

fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).io("delete", dir),
    }
}

/// Completes swaps a crash interrupted (see the module docs) and discards uncommitted
/// staging output. Called by [`PartitionLog::open`] before segments are listed.
pub(crate) fn finish_interrupted_swaps(dir: &Path) -> Result<()> {
    let mut swaps = Vec::new();
    for entry in std::fs::read_dir(dir).io("list", dir)? {
        let entry = entry.io("list", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(base) = name.strip_suffix(SWAP_SUFFIX).and_then(|s| s.parse::<u64>().ok()) {
            swaps.push(base);
        }
    }
    for base in swaps {
        let swap = dir.join(format!("{}{SWAP_SUFFIX}", segment::file_name(base, "")));
        let file = File::open(&swap).io("open", &swap)?;
        let size = file.metadata().io("stat", &swap)?.len();
        let mut last = base;
        let mut reader = SegmentReader::new(&file, &swap, 0, size, BATCH_CHUNK);
        while let Step::Item((_, h)) = reader.next_header()? {
            last = last.max(h.last_offset().max(0) as u64);
        }
        for entry in std::fs::read_dir(dir).io("list", dir)? {
            let path = entry.io("list", dir)?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let replaced = [segment::LOG_SUFFIX, segment::INDEX_SUFFIX, segment::TIME_INDEX_SUFFIX].iter().any(|suffix| {
                name.strip_suffix(suffix).and_then(|s| s.parse::<u64>().ok()).is_some_and(|b| (base..=last).contains(&b))
            });
            if replaced {
                std::fs::remove_file(&path).io("delete", &path)?;
            }
        }
        let target = dir.join(segment::file_name(base, segment::LOG_SUFFIX));
        std::fs::rename(&swap, &target).io("rename", &target)?;
        // Its index files were removed above; opening the segment rebuilds them.
        tracing::warn!(segment = %target.display(), "completed a compaction swap interrupted by a crash");
    }
    remove_dir_if_present(&dir.join(STAGING_DIR))
}
