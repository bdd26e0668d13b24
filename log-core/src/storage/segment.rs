//! One segment of a partition log: `<base>.log` with its `.index` and `.timeindex`.
//!
//! A segment owns the bytes of a contiguous run of offsets starting at its base offset. It
//! appends batches at its end, finds the batch holding an offset through the sparse index,
//! serves whole batches with one read, and recovers itself from a scan of its file. It knows
//! nothing of its neighbours: rolling, retention and compaction happen in [`super::log`].

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::batch::{self, ScanHeader};
use super::error::{IoContext, Result, StorageError};
use super::index::{OffsetEntry, SparseIndex, TimeEntry};
use super::reader::{SegmentReader, Step, BATCH_CHUNK, HEADER_CHUNK};
use super::record;
use super::sync::SyncFile;

/// Suffix of segment data files.
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub const INDEX_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";

/// Kafka's file name for an offset: twenty zero-padded digits.
pub fn file_name(base_offset: u64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// A batch that has just been appended, as the segment needs to index it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendedBatch {
    /// Position of the batch inside the appended buffer.
    pub position: usize,
    pub len: usize,
    pub base_offset: u64,
    pub last_offset: u64,
    pub max_timestamp: i64,
}

/// Room reserved at the end of a segment for one append: written without access to the
/// segment (so readers are not held up by the write), then recorded.
#[derive(Debug)]
pub(crate) struct WriteSlot {
    file: Arc<File>,
    path: PathBuf,
    /// Where the bytes go.
    pub position: u64,
    /// How many.
    pub len: usize,
}

impl WriteSlot {
    /// Writes the reserved bytes.
    pub fn write(&self, buf: &[u8]) -> Result<()> {
        if buf.len() != self.len {
            return Err(StorageError::Corrupt {
                what: "segment",
                path: self.path.clone(),
                detail: format!("{} bytes offered for a {}-byte append", buf.len(), self.len),
            });
        }
        self.file.write_all_at(buf, self.position).io("write", &self.path)
    }
}

/// A read planned on a segment and run without access to it (see [`Segment::plan_read`]).
/// The file handle keeps the bytes readable even if the segment is deleted or replaced
/// meanwhile (retention, compaction): the reader sees the log as it was when planned.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRead {
    file: Arc<File>,
    path: PathBuf,
    /// Where the walk to the wanted batch starts.
    start: u64,
    /// The end of the segment's data when planned.
    end: u64,
}

impl SegmentRead {
    /// Position of the batch holding `offset` (the first batch ending at or after it).
    pub fn find_batch(&self, offset: u64) -> Result<Option<(u64, ScanHeader)>> {
        let mut reader = SegmentReader::new(&self.file, &self.path, self.start, self.end, HEADER_CHUNK);
        loop {
            match reader.next_header()? {
                Step::Item((position, h)) if h.last_offset() >= offset as i64 => return Ok(Some((position, h))),
                Step::Item(_) => {}
                Step::End => return Ok(None),
                Step::Defect { position, defect } => return Err(corrupt_at(&self.path, position, &defect)),
            }
        }
    }

    /// The first record at or after `timestamp`, from `start_offset` on (see
    /// [`Segment::plan_timestamp_lookup`]): batches are walked header by header and only one
    /// whose newest record is late enough is decoded, record by record.
    pub fn find_by_timestamp(&self, timestamp: i64, start_offset: u64) -> Result<Option<(u64, i64)>> {
        let Some((position, _)) = self.find_batch(start_offset)? else { return Ok(None) };
        let corrupt = |position: u64, detail: &dyn std::fmt::Display| corrupt_at(&self.path, position, detail);
        let mut reader = SegmentReader::new(&self.file, &self.path, position, self.end, BATCH_CHUNK);
        loop {
            match reader.next_batch()? {
                Step::Item((position, bytes)) => {
                    let Ok(h) = batch::scan_header(bytes) else { return Err(corrupt(position, &"bad header")) };
                    if h.max_timestamp < timestamp {
                        continue;
                    }
                    let mut hit = None;
                    let walked = record::for_each_record(bytes, super::compression::MAX_DECOMPRESSED_BYTES, |r| {
                        if hit.is_none() && r.offset >= start_offset as i64 && r.timestamp >= timestamp {
                            hit = Some((r.offset as u64, r.timestamp));
                        }
                        Ok::<(), batch::BatchDefect>(())
                    });
                    walked.map_err(|d| corrupt(position, &d))?;
                    if hit.is_some() {
                        return Ok(hit);
                    }
                }
                Step::End => return Ok(None),
                Step::Defect { position, defect } => return Err(corrupt(position, &defect)),
            }
        }
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (but always the first
    /// batch, even when it alone is larger), never including a batch whose last offset is
    /// at or past `upper_bound`. One read; no record is touched.
    pub fn read(&self, offset: u64, max_bytes: usize, upper_bound: u64) -> Result<Option<Bytes>> {
        let Some((position, first)) = self.find_batch(offset)? else { return Ok(None) };
        let upper_bound = i64::try_from(upper_bound).unwrap_or(i64::MAX);
        if first.last_offset() >= upper_bound {
            return Ok(None);
        }
        let available = (self.end - position) as usize;
        let want = max_bytes.max(first.total_len).min(available);
        let mut buf = super::read_at::read_exact_at(&self.file, want, position).io("read", &self.path)?;
        // Keep the whole batches that fit in what was read and lie below the bound.
        let mut end = first.total_len;
        while end + batch::SCAN_HEADER_LEN <= buf.len() {
            match batch::scan_header(&buf[end..]) {
                Ok(h) if end + h.total_len <= buf.len() && h.last_offset() < upper_bound => end += h.total_len,
                _ => break,
            }
        }
        buf.truncate(end);
        Ok(Some(Bytes::from(buf)))
    }
}

/// Bad bytes at `position` of the segment file at `path`.
fn corrupt_at(path: &Path, position: u64, defect: &dyn std::fmt::Display) -> StorageError {
    StorageError::Corrupt { what: "segment", path: path.to_path_buf(), detail: format!("at byte {position}: {defect}") }
}

/// What opening a segment found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentRecovery {
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Bytes of zeros cut from the end: preallocated space never written — or, in a segment
    /// that is not the last, data that never reached the disk (see `PartitionLog::open`).
    pub zeroed_tail_bytes: u64,
    /// The indexes were rebuilt from the data file.
    pub rebuilt_indexes: bool,
}

#[derive(Debug)]
pub(crate) struct Segment {
    dir: PathBuf,
    base_offset: u64,
    file: Arc<File>,
    size: u64,
    next_offset: u64,
    max_timestamp: i64,
    /// Last offset of the batch holding `max_timestamp`.
    offset_of_max_timestamp: u64,
    /// Wall-clock time of the first append, for `segment.ms`.
    first_append_ms: Option<i64>,
    index: SparseIndex<OffsetEntry>,
    time_index: SparseIndex<TimeEntry>,
    index_interval_bytes: u64,
    bytes_since_index_entry: u64,
    /// Length of the file on disk: at least `size`, more when space was preallocated.
    allocated: u64,
    /// Preallocation step; 0 when off.
    preallocate_bytes: u64,
    /// Taken off `segment.ms` for this segment (`segment.jitter.ms`), drawn when it becomes
    /// the active one.
    roll_jitter_ms: i64,
}

impl Segment {
    fn new(dir: &Path, base_offset: u64, file: File, size: u64, index_interval_bytes: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            base_offset,
            file: Arc::new(file),
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_append_ms: None,
            index: SparseIndex::default(),
            time_index: SparseIndex::default(),
            index_interval_bytes,
            bytes_since_index_entry: 0,
            allocated: size,
            preallocate_bytes: 0,
            roll_jitter_ms: 0,
        }
    }

    /// Reserves `step` bytes ahead of the write position whenever writes reach the end of
    /// what is reserved (0 turns it off).
    pub fn set_preallocation(&mut self, step: u64) {
        self.preallocate_bytes = step;
    }

    /// Sets how much earlier than `segment.ms` this segment rolls.
    pub fn set_roll_jitter(&mut self, jitter_ms: i64) {
        self.roll_jitter_ms = jitter_ms;
    }

    /// How much earlier than `segment.ms` this segment rolls.
    pub fn roll_jitter_ms(&self) -> i64 {
        self.roll_jitter_ms
    }

    /// Bytes the offset index takes (8 per entry), for `segment.index.bytes`.
    pub fn offset_index_bytes(&self) -> u64 {
        self.index.entries().len() as u64 * 8
    }

    /// Makes sure `[size, end)` lies inside the file so the write does not extend it.
    fn reserve(&mut self, end: u64) -> Result<()> {
        if self.preallocate_bytes == 0 || end <= self.allocated {
            return Ok(());
        }
        let target = end + self.preallocate_bytes;
        match rustix::fs::fallocate(&*self.file, rustix::fs::FallocateFlags::empty(), self.allocated, target - self.allocated) {
            Ok(()) => self.allocated = target,
            Err(e) => {
                // Not every file system can preallocate; appends work without it.
                tracing::debug!(segment = %self.log_path().display(), error = %e, "preallocation unavailable");
                self.preallocate_bytes = 0;
            }
        }
        Ok(())
    }

    /// Gives back preallocated space past the data.
    fn trim(&mut self) -> Result<()> {
        if self.allocated > self.size {
            self.file.set_len(self.size).io("truncate", &self.log_path())?;
            self.allocated = self.size;
        }
        Ok(())
    }

    /// Creates an empty segment, replacing any files of that name.
    pub fn create(dir: &Path, base_offset: u64, index_interval_bytes: u64) -> Result<Self> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let file = super::index::create_empty(&path)?;
        super::index::create_empty(&dir.join(file_name(base_offset, INDEX_SUFFIX)))?;
        super::index::create_empty(&dir.join(file_name(base_offset, TIME_INDEX_SUFFIX)))?;
        Ok(Self::new(dir, base_offset, file, 0, index_interval_bytes))
    }

    /// Opens an existing segment. With `recover`, every batch is read and checked and a torn
    /// or corrupt tail is cut off; without, the indexes are loaded and checked against the
    /// file, and the segment is recovered anyway if they do not fit.
    pub fn open(dir: &Path, base_offset: u64, index_interval_bytes: u64, recover: bool) -> Result<(Self, SegmentRecovery)> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let file = OpenOptions::new().read(true).write(true).open(&path).io("open", &path)?;
        Self::load(dir, base_offset, file, index_interval_bytes, recover)
    }

    /// Builds the in-memory state of a segment whose data file is `file`.
    pub fn load(dir: &Path, base_offset: u64, file: File, index_interval_bytes: u64, recover: bool) -> Result<(Self, SegmentRecovery)> {
        let path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let size = file.metadata().io("stat", &path)?.len();
        let mut segment = Self::new(dir, base_offset, file, size, index_interval_bytes);
        let outcome = if !recover && segment.load_indexes()? {
            SegmentRecovery::default()
        } else {
            let (truncated_bytes, zeroed_tail_bytes) = segment.recover()?;
            SegmentRecovery { truncated_bytes, zeroed_tail_bytes, rebuilt_indexes: true }
        };
        segment.first_append_ms = segment.first_batch_timestamp()?.filter(|&t| t >= 0);
        Ok((segment, outcome))
    }

    /// `maxTimestamp` of the first batch: the time `segment.ms` counts from after a reopen.
    fn first_batch_timestamp(&self) -> Result<Option<i64>> {
        let path = self.log_path();
        let mut reader = SegmentReader::new(&self.file, &path, 0, self.size, batch::SCAN_HEADER_LEN);
        Ok(match reader.next_header()? {
            Step::Item((_, h)) => Some(h.max_timestamp),
            _ => None,
        })
    }

    /// Points the segment at `dir` after its files were moved there.
    pub fn relocate(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(file_name(self.base_offset, LOG_SUFFIX))
    }
    fn index_path(&self) -> PathBuf {
        self.dir.join(file_name(self.base_offset, INDEX_SUFFIX))
    }
    fn time_index_path(&self) -> PathBuf {
        self.dir.join(file_name(self.base_offset, TIME_INDEX_SUFFIX))
    }

    pub fn base_offset(&self) -> u64 {
        self.base_offset
    }
    /// One past the last offset stored here (the base offset when empty).
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// Largest timestamp of any batch here, -1 when none.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn offset_of_max_timestamp(&self) -> u64 {
        self.offset_of_max_timestamp
    }
    pub fn first_append_ms(&self) -> Option<i64> {
        self.first_append_ms
    }
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// Reserves room for `len` bytes at the end of the data and says where they go. Nothing
    /// is visible to readers until [`Segment::record_written`] is called for them.
    pub fn slot_for(&mut self, len: usize) -> Result<WriteSlot> {
        self.reserve(self.size + len as u64)?;
        Ok(WriteSlot { file: Arc::clone(&self.file), path: self.log_path(), position: self.size, len })
    }

    /// Makes the bytes written into `slot` part of the segment: indexes, offsets, size.
    pub fn record_written(&mut self, slot: &WriteSlot, batches: &[AppendedBatch], now_ms: i64) -> Result<()> {
        if slot.position != self.size {
            return Err(StorageError::Corrupt {
                what: "segment",
                path: self.log_path(),
                detail: format!("an append reserved byte {} but the segment now ends at {}: two writers at once", slot.position, self.size),
            });
        }
        if slot.len == 0 {
            return Ok(());
        }
        for b in batches {
            self.track_batch(slot.position + b.position as u64, b.len as u64, b.base_offset, b.last_offset, b.max_timestamp);
        }
        self.size += slot.len as u64;
        self.first_append_ms.get_or_insert(now_ms);
        Ok(())
    }

    /// Updates offsets, timestamps and indexes for a batch now at `position`.
    fn track_batch(&mut self, position: u64, len: u64, base: u64, last: u64, max_timestamp: i64) {
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last;
        }
        if self.bytes_since_index_entry >= self.index_interval_bytes && position > 0 {
            self.index.push(OffsetEntry { relative_offset: self.relative(base), position: position as u32 });
            self.maybe_push_time_entry();
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += len;
        // An empty batch (last offset below its base) moves nothing.
        if let Some(next) = last.checked_add(1) {
            self.next_offset = self.next_offset.max(next);
        }
    }

    fn maybe_push_time_entry(&mut self) {
        if self.max_timestamp > self.time_index.last().map_or(-1, |e| e.timestamp) {
            let relative_offset = self.relative(self.offset_of_max_timestamp);
            self.time_index.push(TimeEntry { timestamp: self.max_timestamp, relative_offset });
        }
    }

    fn relative(&self, offset: u64) -> u32 {
        u32::try_from(offset.saturating_sub(self.base_offset)).unwrap_or(u32::MAX)
    }

    /// True when `offset` can no longer be stored relative to the base in 32 bits.
    pub fn offset_overflows(&self, offset: u64) -> bool {
        offset.saturating_sub(self.base_offset) > i32::MAX as u64 || self.size > u32::MAX as u64 - (1 << 30)
    }

    /// Position of the batch holding `offset` (the first batch ending at or after it).
    pub fn find_batch(&self, offset: u64) -> Result<Option<(u64, ScanHeader)>> {
        self.plan_read(offset).find_batch(offset)
    }

    /// What a read of `offset` needs from this segment, to run without access to it: the
    /// data file, where the sparse index says to start looking, and where the data ends now.
    pub fn plan_read(&self, offset: u64) -> SegmentRead {
        let target = self.relative(offset);
        let start = self.index.floor(|e| e.relative_offset <= target).map_or(0, |e| u64::from(e.position));
        SegmentRead { file: Arc::clone(&self.file), path: self.log_path(), start, end: self.size }
    }

    fn corrupt(&self, position: u64, defect: &dyn std::fmt::Display) -> StorageError {
        corrupt_at(&self.log_path(), position, defect)
    }

    /// What a timestamp lookup needs, to run without access to the segment: where
    /// the time index says to start (`None` when no record here is late enough).
    pub fn plan_timestamp_lookup(&self, timestamp: i64, from_offset: u64) -> Option<(SegmentRead, u64)> {
        if self.max_timestamp < timestamp {
            return None;
        }
        let start_offset = self
            .time_index
            .floor(|e| e.timestamp < timestamp)
            .map_or(self.base_offset, |e| self.base_offset + u64::from(e.relative_offset))
            .max(from_offset);
        Some((self.plan_read(start_offset), start_offset))
    }

    /// Cuts the segment before the batch holding `offset`; returns bytes removed.
    pub fn truncate_to(&mut self, offset: u64) -> Result<u64> {
        let Some((position, _)) = self.find_batch(offset)? else { return Ok(0) };
        let removed = self.size - position;
        let path = self.log_path();
        self.file.set_len(position).io("truncate", &path)?;
        self.size = position;
        self.allocated = position;
        self.index.truncate_where(|e| u64::from(e.position) < position);
        let new_next = offset.min(self.next_offset);
        let rel_limit = self.relative(new_next);
        self.time_index.truncate_where(|e| e.relative_offset < rel_limit);
        self.rebuild_tail_state()?;
        self.persist_indexes(false)?;
        Ok(removed)
    }

    /// Recomputes next offset and max timestamp from the last index entries and the batches
    /// after the last offset-index entry.
    fn rebuild_tail_state(&mut self) -> Result<()> {
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        if let Some(t) = self.time_index.last() {
            self.max_timestamp = t.timestamp;
            self.offset_of_max_timestamp = self.base_offset + u64::from(t.relative_offset);
        }
        let start = self.index.last().map_or(0, |e| u64::from(e.position));
        self.bytes_since_index_entry = self.size - start;
        let path = self.log_path();
        let mut reader = SegmentReader::new(&self.file, &path, start, self.size, HEADER_CHUNK);
        loop {
            match reader.next_header()? {
                Step::Item((_, h)) => {
                    self.next_offset = h.last_offset().max(0) as u64 + 1;
                    if h.max_timestamp > self.max_timestamp {
                        self.max_timestamp = h.max_timestamp;
                        self.offset_of_max_timestamp = self.next_offset - 1;
                    }
                }
                Step::End => return Ok(()),
                Step::Defect { position, defect } => return Err(self.corrupt(position, &defect)),
            }
        }
    }

    /// Loads both indexes and checks them against the file. False when they cannot be
    /// trusted (missing, ragged, out of order, or pointing at the wrong bytes).
    fn load_indexes(&mut self) -> Result<bool> {
        let (Some(index), Some(time_index)) = (
            SparseIndex::<OffsetEntry>::load(&self.index_path())?,
            SparseIndex::<TimeEntry>::load(&self.time_index_path())?,
        ) else {
            return Ok(false);
        };
        let offsets_ordered = index.entries().windows(2).all(|w| {
            w[0].relative_offset < w[1].relative_offset && w[0].position < w[1].position
        });
        let times_ordered = time_index.entries().windows(2).all(|w| {
            w[0].timestamp < w[1].timestamp && w[0].relative_offset <= w[1].relative_offset
        });
        let in_file = index.last().is_none_or(|e| u64::from(e.position) < self.size);
        if !(offsets_ordered && times_ordered && in_file) {
            return Ok(false);
        }
        if let Some(last) = index.last() {
            let mut header = [0u8; batch::SCAN_HEADER_LEN];
            let fits = u64::from(last.position) + header.len() as u64 <= self.size;
            if !fits || self.file.read_exact_at(&mut header, u64::from(last.position)).is_err() {
                return Ok(false);
            }
            match batch::scan_header(&header) {
                Ok(h) if h.base_offset == (self.base_offset + u64::from(last.relative_offset)) as i64 => {}
                _ => return Ok(false),
            }
        }
        self.index = index;
        self.time_index = time_index;
        if self.rebuild_tail_state().is_err() {
            return Ok(false);
        }
        let time_fits = self.time_index.last().is_none_or(|e| self.base_offset + u64::from(e.relative_offset) < self.next_offset);
        Ok(time_fits)
    }

    /// Reads every batch, checking length, magic, CRC and offset order; cuts the file at the
    /// first bad byte and rebuilds the indexes. Returns the bytes cut as damage and the zero
    /// bytes cut from the end.
    fn recover(&mut self) -> Result<(u64, u64)> {
        self.index = SparseIndex::default();
        self.time_index = SparseIndex::default();
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.bytes_since_index_entry = 0;
        let path = self.log_path();
        let file = Arc::clone(&self.file);
        let mut reader = SegmentReader::new(&file, &path, 0, self.size, BATCH_CHUNK);
        let mut preallocated_tail = 0;
        let valid_end = loop {
            match reader.next_batch()? {
                Step::Item((position, bytes)) => {
                    let checked = batch::validate(bytes, false).and_then(|h| {
                        if h.base_offset < self.next_offset as i64 || h.last_offset() < h.base_offset.saturating_sub(1) {
                            Err(batch::BatchDefect::MalformedRecord(format!(
                                "offset {} does not follow {}",
                                h.base_offset, self.next_offset
                            )))
                        } else {
                            Ok(h)
                        }
                    });
                    match checked {
                        Ok(h) => self.track_batch(
                            position,
                            h.total_len() as u64,
                            h.base_offset as u64,
                            h.last_offset() as u64,
                            h.max_timestamp,
                        ),
                        Err(defect) => {
                            tracing::warn!(segment = %path.display(), position, %defect, "corrupt batch; truncating segment here");
                            break position;
                        }
                    }
                }
                Step::End => break self.size,
                Step::Defect { position, .. } if self.is_zero_from(position)? => {
                    // Preallocated space that was never written: not damage.
                    preallocated_tail = self.size - position;
                    break position;
                }
                Step::Defect { position, defect } => {
                    tracing::warn!(segment = %path.display(), position, %defect, "torn batch; truncating segment here");
                    break position;
                }
            }
        };
        let cut = self.size - valid_end;
        if cut > 0 {
            self.file.set_len(valid_end).io("truncate", &path)?;
            self.size = valid_end;
            self.allocated = valid_end;
        }
        self.persist_rebuilt_indexes()?;
        Ok((cut - preallocated_tail, preallocated_tail))
    }

    /// True when every byte from `position` to the end of the file is zero.
    fn is_zero_from(&self, position: u64) -> Result<bool> {
        let mut buf = vec![0u8; BATCH_CHUNK];
        let mut at = position;
        while at < self.size {
            let n = (self.size - at).min(BATCH_CHUNK as u64) as usize;
            self.file.read_exact_at(&mut buf[..n], at).io("read", &self.log_path())?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }

    fn persist_rebuilt_indexes(&mut self) -> Result<()> {
        // Rewrite both files from scratch: the old ones are not to be trusted.
        super::index::create_empty(&self.index_path())?;
        super::index::create_empty(&self.time_index_path())?;
        let (index, time_index) = (self.index.entries().to_vec(), self.time_index.entries().to_vec());
        self.index = SparseIndex::default();
        self.time_index = SparseIndex::default();
        index.into_iter().for_each(|e| self.index.push(e));
        time_index.into_iter().for_each(|e| self.time_index.push(e));
        self.persist_indexes(false)
    }

    /// Writes index entries not yet on disk; with `fsync`, makes them durable.
    pub fn persist_indexes(&mut self, fsync: bool) -> Result<()> {
        let (index_path, time_path) = (self.index_path(), self.time_index_path());
        self.index.persist(&index_path, fsync)?;
        self.time_index.persist(&time_path, fsync)
    }

    /// Called when the segment stops being the active one: records its largest timestamp in
    /// the time index so that it is known on the next open without a scan.
    pub fn seal(&mut self, fsync: bool) -> Result<()> {
        self.trim()?;
        self.maybe_push_time_entry();
        self.persist_indexes(fsync)?;
        if fsync {
            self.sync()?;
        }
        Ok(())
    }

    /// fsyncs the data file.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().io("fsync", &self.log_path())
    }

    /// A duplicate handle of the segment file, to fsync it without holding the log.
    pub fn sync_handle(&self) -> Result<SyncFile> {
        let path = self.log_path();
        let file = self.file.try_clone().io("duplicate the handle of", &path)?;
        Ok((file, path))
    }

    /// Handles of the two index files, to fsync them without holding the log. Only a sealed
    /// segment needs them durable: an active one's indexes are rebuilt by recovery.
    pub fn index_sync_handles(&self) -> Result<Vec<SyncFile>> {
        let mut handles = Vec::with_capacity(2);
        for path in [self.index_path(), self.time_index_path()] {
            match File::open(&path) {
                Ok(file) => handles.push((file, path)),
                // Not written yet: nothing of it to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).io("open", &path),
            }
        }
        Ok(handles)
    }

    /// Removes the segment's files.
    pub fn delete(self) -> Result<()> {
        for path in [self.log_path(), self.index_path(), self.time_index_path()] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).io("delete", &path),
            }
        }
        Ok(())
    }
}
