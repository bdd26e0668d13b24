//! Target `segment_recovery`: `PartitionLog::open` on a partition directory built from the
//! input, then the recovered log in use.
//!
//! The input is decoded with `arbitrary` into an [`Input`]: up to three segments, each a run
//! of valid batches (built with `BatchBuilder`, offsets chosen by the input, possibly going
//! backwards) followed by damage (flipped bytes, a cut tail, zeros, garbage, a repeated
//! batch), with offset and time indexes that are missing, empty, correct or arbitrary bytes;
//! optionally a `.log.swap` left by an interrupted compaction, the `.clean-shutdown` marker,
//! and the three checkpoint files as numbers or arbitrary text. Then:
//!
//! 1. `PartitionLog::open` must return, `Ok` or `Err`, without panicking (after an `Err`, a
//!    second open must not panic either). Files named with a base past `i64::MAX` are not
//!    segments (ignored). The log end is at most `i64::MAX`, and the log start is at least its
//!    checkpoint (past the recovered end, the log starts afresh there);
//! 2. reads from the log start to the log end return whole batches, each ending at or after
//!    the offset asked for and below the log end. When every segment was scanned (no marker,
//!    no swap, a recovery point below the second segment), the reads must succeed and return
//!    only valid batches (CRC) with growing offsets, every valid batch of the first segment
//!    before the first damaged byte must be among them, byte for byte (recovery cuts after
//!    the damage, never before), and each segment but the first starts right after a batch
//!    of the one before (a segment ending short of the next is a hole: later ones dropped);
//! 3. appends (one to three batches) get the offsets from the log end on and read back as
//!    written, with the leader epoch and, under LogAppendTime, the append time; an append
//!    that would take an offset past `i64::MAX - 1` is refused (`OffsetOverflow`) and changes
//!    nothing;
//! 4. after `close`, the log reopens as a clean shutdown with the same start and end offsets
//!    and nothing cut, and the appended batches read back unchanged.
//!
//! Each input gets its own temporary directory: under `$TMPDIR` when set, else `/dev/shm`
//! when there is one (the target fsyncs on close), else the system's.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};

use super::Depth;
use fjord_log_core::storage::{
    decode_records, set_base_offset, set_partition_leader_epoch, validate, AppendOptions, BatchBuilder, BatchDefect, BatchHeader,
    Batches, Compression, LogConfig, PartitionLog, StorageError, TimestampType, CLEAN_SHUTDOWN_FILE, INDEX_SUFFIX,
    LOG_START_FILE, LOG_SUFFIX, RECOVERY_POINT_FILE, TIME_INDEX_SUFFIX,
};

/// Name of the leader-epoch checkpoint (`storage/epoch.rs`; not exported).
const EPOCH_FILE: &str = "leader-epoch-checkpoint";
/// Suffix of a compaction's commit point (`storage/compaction.rs`; not exported).
const SWAP_SUFFIX: &str = ".log.swap";

const MAX_SEGMENTS: usize = 3;
const MAX_BATCHES: usize = 8;
const MAX_DAMAGES: usize = 3;
const MAX_APPENDS: usize = 3;
/// Reads in one walk: more than the batches the input can hold.
const MAX_READS: usize = 256;

/// A partition directory and what to do with it once open.
#[derive(Debug, Arbitrary)]
pub struct Input {
    config: ConfigSpec,
    clean_shutdown: bool,
    recovery_point: Option<CheckpointSpec>,
    log_start: Option<CheckpointSpec>,
    leader_epochs: Option<EpochSpec>,
    swap: Option<SegmentSpec>,
    appends: Vec<AppendSpec>,
    segments: Vec<SegmentSpec>,
}

#[derive(Debug, Arbitrary)]
struct ConfigSpec {
    /// `segment.bytes`; 0 keeps the default.
    segment_bytes: u16,
    index_interval_bytes: u16,
    preallocate: bool,
    log_append_time: bool,
    /// `max_bytes` of each read.
    read_bytes: u16,
}

#[derive(Debug, Arbitrary)]
enum BaseSpec {
    /// This many offsets after the previous segment's last batch.
    After(u8),
    /// This many offsets before it (overlapping).
    Before(u8),
    /// Exactly this base.
    At(u32),
    /// Exactly this base, anywhere (past `i64::MAX` too, as only a crafted name can be).
    Far(u64),
}

#[derive(Debug, Arbitrary)]
struct SegmentSpec {
    base: BaseSpec,
    index: IndexSpec,
    time_index: IndexSpec,
    damage: Vec<Damage>,
    batches: Vec<BatchSpec>,
}

#[derive(Debug, Arbitrary)]
struct BatchSpec {
    /// Offsets skipped before the batch (`Damage::Repeat` and `BaseSpec::Before` go back).
    gap: u8,
    records: u8,
    codec: u8,
    timestamp: i64,
    /// Partition leader epoch; negative leaves -1.
    epoch: i8,
    log_append_time: bool,
    value_len: u8,
}

#[derive(Debug, Arbitrary)]
enum Damage {
    /// XOR one byte (position modulo the length).
    Flip { at: u16, xor: u8 },
    /// Remove bytes from the end.
    Cut(u16),
    /// Append zeros (unwritten preallocated space).
    Zeros(u16),
    /// Append arbitrary bytes.
    Garbage(Vec<u8>),
    /// Append a copy of the first batch (offsets going backwards).
    Repeat,
    /// Overwrite a batch's base offset (not covered by the CRC, so the batch stays valid).
    Rebase { batch: u8, offset: i64 },
}

#[derive(Debug, Arbitrary)]
enum IndexSpec {
    Missing,
    Empty,
    /// What the segment would have written for its batches.
    Correct,
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum CheckpointSpec {
    /// The first segment's base plus this.
    Offset(u16),
    Number(u64),
    Text(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum EpochSpec {
    /// Kafka's layout with these `(epoch, offset after the first base)` entries.
    Entries(Vec<(u8, u16)>),
    Text(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct AppendSpec {
    records: u8,
    leader_epoch: i8,
    value_len: u8,
    now_ms: i64,
}

/// A segment file as written, and what recovery must keep of it.
#[derive(Debug)]
struct BuiltSegment {
    base: u64,
    bytes: Vec<u8>,
    /// Byte ranges of the valid batches, in order, before any damage or offset going back.
    valid: Vec<std::ops::Range<usize>>,
    /// The offset after the last batch built.
    next: i64,
}

/// Runs one input: deep when the log opened and batches were read from it.
pub fn run(data: &[u8]) -> Depth {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else { return Depth::Shallow };
    if print_inputs() {
        eprintln!("{input:#?}");
    }
    let dir = tempfile::tempdir_in(scratch_root()).expect("a temporary directory");
    check(&input, dir.path())
}

/// `FJORD_FUZZ_PRINT=1`: print each decoded input (to read a reproducer).
fn print_inputs() -> bool {
    static PRINT: OnceLock<bool> = OnceLock::new();
    *PRINT.get_or_init(|| std::env::var_os("FJORD_FUZZ_PRINT").is_some_and(|v| v == "1"))
}

/// Where the per-input directories go.
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        if std::env::var_os("TMPDIR").is_none() && shm.is_dir() && tempfile::tempdir_in(shm).is_ok() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
}

fn config_of(spec: &ConfigSpec) -> LogConfig {
    let defaults = LogConfig::default();
    LogConfig {
        segment_bytes: if spec.segment_bytes == 0 { defaults.segment_bytes } else { u64::from(spec.segment_bytes) },
        index_interval_bytes: u64::from(spec.index_interval_bytes),
        preallocate: spec.preallocate,
        message_timestamp_type: if spec.log_append_time { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
        ..defaults
    }
}

fn check(input: &Input, dir: &Path) -> Depth {
    let config = config_of(&input.config);
    let written = write_dir(input, dir, config.index_interval_bytes);
    // The checkpoints' `Offset` values count from the lowest base written, named past
    // i64::MAX or not.
    let written_first_base = written.first().map_or(0, |s| s.base);
    // Offsets are i64 on the wire: a file named past i64::MAX (only a crafted name can be) is
    // not a segment, and the log ignores it.
    let segments: Vec<&BuiltSegment> = written.iter().filter(|s| s.base <= i64::MAX as u64).collect();
    let checkpoint = |spec: &Option<CheckpointSpec>| spec.as_ref().map_or(0, |c| parsed_checkpoint(c, written_first_base));
    let (recovery_point, start_checkpoint) = (checkpoint(&input.recovery_point), checkpoint(&input.log_start));
    // Sealed segments are scanned only when the shutdown was not clean and they end past the
    // recovery point; otherwise they are trusted as Kafka trusts them.
    let all_scanned = !input.clean_shutdown && input.swap.is_none() && segments.iter().skip(1).all(|s| s.base > recovery_point);

    let (mut log, report) = match PartitionLog::open(dir, config.clone()) {
        Ok(opened) => opened,
        Err(_) => {
            // Refusing a directory is allowed; panicking on a second try is not.
            let _ = PartitionLog::open(dir, config);
            return Depth::Shallow;
        }
    };
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert_eq!((report.log_start_offset, report.log_end_offset), (start, end), "report disagrees with the log");
    assert!(start <= end, "log start {start} past the log end {end}");
    assert!(end <= i64::MAX as u64, "log end {end} past i64::MAX");
    assert!(log.recovery_point() <= end);
    assert!(report.segments_dropped <= report.segments);
    assert!(log.segment_count() >= 1);
    // The log start never goes below its checkpoint: past the recovered end, the log starts
    // afresh there (records appended below it would be hidden by the next open).
    assert!(start >= start_checkpoint, "log start {start} below its checkpoint {start_checkpoint} (end {end})");
    let read_bytes = usize::from(input.config.read_bytes);

    let walk = walk(&log, all_scanned, read_bytes);
    if let Some(first) = segments.first().filter(|_| all_scanned) {
        // Every valid batch of the first segment before its first damaged byte survives.
        let expected: Vec<&[u8]> = first
            .valid
            .iter()
            .map(|r| &first.bytes[r.clone()])
            .filter(|b| BatchHeader::parse(b).is_ok_and(|h| i128::from(h.last_offset()) >= i128::from(start)))
            .collect();
        let got: Vec<&[u8]> = walk.batches.iter().take(expected.len()).map(Vec::as_slice).collect();
        assert!(got == expected, "recovery lost valid batches of the first segment: {} expected, {report:?}", expected.len());
    }
    if all_scanned && walk.complete {
        // Every segment was recovered, so none ends short of the next one: a gap there is lost
        // records, and the segments after it are dropped.
        for base in log.segment_bases().into_iter().skip(1).filter(|&b| b > start) {
            let mut lasts = walk.batches.iter().filter_map(|b| BatchHeader::parse(b).ok()).map(|h| i128::from(h.last_offset()));
            let ends_before = lasts.any(|last| last == i128::from(base) - 1);
            assert!(ends_before, "no batch ends right before segment {base} of a recovered log: {:?}, {report:?}", log.segment_bases());
        }
    }

    let mut appended = Vec::new();
    let appends = input.appends.iter().take(MAX_APPENDS);
    let default_append = [AppendSpec { records: 0, leader_epoch: 0, value_len: 8, now_ms: 1_700_000_000_000 }];
    let appends: Vec<&AppendSpec> = if input.appends.is_empty() { default_append.iter().collect() } else { appends.collect() };
    for (k, spec) in appends.into_iter().enumerate() {
        let before = log.log_end_offset();
        let (mut batch, values) = append_batch(k, spec);
        let options = AppendOptions { leader_epoch: i32::from(spec.leader_epoch), now_ms: spec.now_ms };
        let count = values.len() as u64;
        // The last offset a log holds is i64::MAX - 1 (the log end is then i64::MAX).
        let fits = before.checked_add(count).is_some_and(|after| after <= i64::MAX as u64);
        match log.append(&mut batch, options) {
            Ok(info) => {
                assert!(fits, "append {k} of {count} records at {before} went past i64::MAX: {info:?}");
                assert_eq!((info.first_offset, info.last_offset), (before, before + count - 1), "append {k} got other offsets");
                assert_eq!(log.log_end_offset(), before + count);
                let stored = read_back(&log, before, &values, options, config.message_timestamp_type);
                appended.push((before, stored));
            }
            Err(StorageError::InvalidBatch { defect: BatchDefect::OffsetOverflow { .. }, .. }) if !fits => {
                assert_eq!(log.log_end_offset(), before, "a refused append moved the log end");
            }
            Err(e) => panic!("append {k} of {count} records at {before} to the recovered log failed: {e}"),
        }
    }
    if let Some(stuck) = walk.stopped_empty_at.filter(|_| all_scanned && !appended.is_empty()) {
        // A reader that found nothing before the old end (an empty active segment after a
        // gap) sees the new data now.
        let read = log.read(stuck, read_bytes, None).expect("read after append");
        assert!(!read.records.is_empty(), "nothing readable at {stuck} even after an append");
    }

    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    log.close().expect("close the recovered log");
    let (log, report) = PartitionLog::open(dir, config).expect("reopen after a clean close");
    assert!(report.clean_shutdown && report.truncated_bytes == 0 && report.segments_dropped == 0, "unclean reopen: {report:?}");
    assert_eq!(log.log_end_offset(), end, "a clean close and reopen changed the log end");
    assert_eq!(log.log_start_offset(), start, "a clean close and reopen changed the log start (end {end})");
    for (offset, stored) in appended.into_iter().filter(|(offset, _)| *offset >= log.log_start_offset()) {
        let read = log.read(offset, 0, None).expect("read after reopen");
        assert!(read.records.starts_with(&stored), "appended batch at {offset} changed after a reopen");
    }
    if walk.batches.is_empty() { Depth::Shallow } else { Depth::Deep }
}

/// What a walk over the log found.
#[derive(Debug, Default)]
struct Walk {
    batches: Vec<Vec<u8>>,
    /// The walk stopped on an empty read at this offset, before the log end.
    stopped_empty_at: Option<u64>,
    /// The walk reached the log end.
    complete: bool,
}

/// Reads from the log start to the log end. `strict`: every segment was scanned.
fn walk(log: &PartitionLog, strict: bool, max_bytes: usize) -> Walk {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let mut walk = Walk::default();
    let mut offset = start;
    let mut previous_last: Option<i128> = None;
    for _ in 0..MAX_READS {
        if offset >= end {
            walk.complete = true;
            break;
        }
        let read = match log.read(offset, max_bytes, None) {
            Ok(read) => read,
            Err(e) => {
                assert!(!strict, "read at {offset} of a scanned log failed: {e}");
                break;
            }
        };
        assert_eq!((read.log_start_offset, read.log_end_offset), (start, end));
        if read.records.is_empty() {
            walk.stopped_empty_at = Some(offset);
            break;
        }
        let mut last_read = None;
        for item in Batches::new(&read.records) {
            let (_, bytes) = item.unwrap_or_else(|e| panic!("a read at {offset} returned a partial batch: {e}"));
            let h = BatchHeader::parse(bytes).expect("Batches yields parsable headers");
            let last = i128::from(h.base_offset) + i128::from(h.last_offset_delta);
            assert!(last < i128::from(end), "a read returned a batch ending at {last}, not below the log end {end}");
            if last_read.is_none() {
                assert!(last >= i128::from(offset), "a read at {offset} returned a batch ending at {last}");
            }
            if strict {
                if let Err(e) = validate(bytes, false) {
                    panic!("a read at {offset} returned an invalid batch from a scanned log: {e}");
                }
                let base = i128::from(h.base_offset);
                assert!(previous_last.is_none_or(|p| base > p), "offsets go back: {base} after {previous_last:?}");
                previous_last = Some(last);
            }
            walk.batches.push(bytes.to_vec());
            last_read = Some(last);
        }
        let next = last_read.map_or(i128::from(offset), |l| l + 1);
        if next <= i128::from(offset) {
            assert!(!strict, "a read at {offset} did not move forward");
            break;
        }
        offset = u64::try_from(next).unwrap_or(u64::MAX);
    }
    walk
}

/// A producer batch for append `k` and the values of its records.
fn append_batch(k: usize, spec: &AppendSpec) -> (Vec<u8>, Vec<Vec<u8>>) {
    let count = usize::from(spec.records % 4) + 1;
    let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
    let mut values = Vec::new();
    for i in 0..count {
        let mut value = format!("append-{k}-{i}-").into_bytes();
        value.resize(value.len() + usize::from(spec.value_len % 64), b'v');
        builder.push(i as i64, spec.now_ms.wrapping_add(i as i64), Some(format!("k{i}").as_bytes()), Some(&value), &[]);
        values.push(value);
    }
    (builder.build().expect("a test batch builds"), values)
}

/// Reads back the batch appended at `offset`, checks it, and returns its stored bytes.
fn read_back(log: &PartitionLog, offset: u64, values: &[Vec<u8>], options: AppendOptions, timestamps: TimestampType) -> Vec<u8> {
    let read = log.read(offset, 0, None).unwrap_or_else(|e| panic!("read back at {offset}: {e}"));
    let (_, bytes) = Batches::new(&read.records)
        .next()
        .unwrap_or_else(|| panic!("nothing read back at {offset}"))
        .expect("a whole batch");
    let header = validate(bytes, true).expect("the appended batch reads back valid");
    assert_eq!(header.base_offset, offset as i64, "read back another batch");
    assert_eq!(header.partition_leader_epoch, options.leader_epoch);
    if timestamps == TimestampType::LogAppendTime {
        assert_eq!((header.timestamp_type(), header.max_timestamp), (TimestampType::LogAppendTime, options.now_ms));
    }
    let (_, records) = decode_records(bytes).expect("the appended batch decodes");
    let got: Vec<Option<&[u8]>> = records.iter().map(|r| r.value.as_deref()).collect();
    let want: Vec<Option<&[u8]>> = values.iter().map(|v| Some(v.as_slice())).collect();
    assert_eq!(got, want, "the appended records changed");
    bytes.to_vec()
}

/// Writes the partition directory; returns the segments written, lowest base first.
fn write_dir(input: &Input, dir: &Path, index_interval: u64) -> Vec<BuiltSegment> {
    let mut built: Vec<BuiltSegment> = Vec::new();
    let mut next: i64 = 0;
    for spec in input.segments.iter().take(MAX_SEGMENTS) {
        let base = base_of(&spec.base, next);
        if built.iter().any(|s| s.base == base) {
            continue;
        }
        let segment = build_segment(spec, base);
        next = segment.next;
        write(dir, &file_name(base, LOG_SUFFIX), &segment.bytes);
        write_index(dir, &file_name(base, INDEX_SUFFIX), &spec.index, || offset_index(&segment, index_interval));
        write_index(dir, &file_name(base, TIME_INDEX_SUFFIX), &spec.time_index, || time_index(&segment));
        built.push(segment);
    }
    built.sort_by_key(|s| s.base);
    let first_base = built.first().map_or(0, |s| s.base);
    if let Some(spec) = &input.swap {
        let swap = build_segment(spec, base_of(&spec.base, first_base as i64));
        write(dir, &format!("{:020}{SWAP_SUFFIX}", swap.base), &swap.bytes);
    }
    if input.clean_shutdown {
        write(dir, CLEAN_SHUTDOWN_FILE, b"");
    }
    for (name, spec) in [(RECOVERY_POINT_FILE, &input.recovery_point), (LOG_START_FILE, &input.log_start)] {
        if let Some(spec) = spec {
            write(dir, name, &checkpoint_text(spec, first_base));
        }
    }
    match &input.leader_epochs {
        Some(EpochSpec::Entries(entries)) => {
            let mut text = format!("0\n{}\n", entries.len());
            for (epoch, offset) in entries {
                text.push_str(&format!("{epoch} {}\n", first_base.saturating_add(u64::from(*offset))));
            }
            write(dir, EPOCH_FILE, text.as_bytes());
        }
        Some(EpochSpec::Text(text)) => write(dir, EPOCH_FILE, text),
        None => {}
    }
    built
}

fn file_name(base: u64, suffix: &str) -> String {
    format!("{base:020}{suffix}")
}

fn write(dir: &Path, name: &str, contents: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("harness: write {}: {e}", path.display()));
}

fn write_index(dir: &Path, name: &str, spec: &IndexSpec, correct: impl FnOnce() -> Vec<u8>) {
    match spec {
        IndexSpec::Missing => {}
        IndexSpec::Empty => write(dir, name, b""),
        IndexSpec::Correct => write(dir, name, &correct()),
        IndexSpec::Raw(bytes) => write(dir, name, bytes),
    }
}

fn base_of(spec: &BaseSpec, previous_next: i64) -> u64 {
    let previous = u64::try_from(previous_next).unwrap_or(0);
    match spec {
        BaseSpec::After(n) => previous.saturating_add(u64::from(*n)),
        BaseSpec::Before(n) => previous.saturating_sub(u64::from(*n)),
        BaseSpec::At(base) => u64::from(*base),
        BaseSpec::Far(base) => *base,
    }
}

/// The checkpoint as `PartitionLog::open` reads it: one number up to `i64::MAX`, anything
/// else counts as 0.
fn parsed_checkpoint(spec: &CheckpointSpec, first_base: u64) -> u64 {
    let text = checkpoint_text(spec, first_base);
    std::str::from_utf8(&text).ok().and_then(|t| t.trim().parse().ok()).filter(|&n| n <= i64::MAX as u64).unwrap_or(0)
}

fn checkpoint_text(spec: &CheckpointSpec, first_base: u64) -> Vec<u8> {
    match spec {
        CheckpointSpec::Offset(n) => format!("{}\n", first_base.saturating_add(u64::from(*n))).into_bytes(),
        CheckpointSpec::Number(n) => format!("{n}\n").into_bytes(),
        CheckpointSpec::Text(text) => text.clone(),
    }
}

/// Builds the batches, then damages the bytes.
fn build_segment(spec: &SegmentSpec, base: u64) -> BuiltSegment {
    let mut bytes = Vec::new();
    let mut valid = Vec::new();
    let mut all = Vec::new();
    let mut next = base as i64; // a base past i64::MAX wraps, as a crafted file name would
    let mut in_order = true;
    for b in spec.batches.iter().take(MAX_BATCHES) {
        let Some(first) = next.checked_add(i64::from(b.gap)) else { break };
        let codec = super::codecs::pick(b.codec);
        let timestamps = if b.log_append_time { TimestampType::LogAppendTime } else { TimestampType::CreateTime };
        let mut builder = BatchBuilder::new(first, codec, timestamps);
        let value = vec![b'x'; usize::from(b.value_len % 65)];
        let mut last = first;
        for i in 0..i64::from(b.records % 4) + 1 {
            let Some(offset) = first.checked_add(i) else { break };
            builder.push(offset, b.timestamp.wrapping_add(i), Some(format!("key-{i}").as_bytes()), Some(&value), &[]);
            last = offset;
        }
        let mut batch = builder.build().expect("a test batch builds");
        if b.epoch >= 0 {
            set_partition_leader_epoch(&mut batch, i32::from(b.epoch));
        }
        // A batch ending at i64::MAX cannot be stored (no offset could follow it).
        in_order &= first >= 0 && last < i64::MAX;
        let range = bytes.len()..bytes.len() + batch.len();
        if in_order {
            valid.push(range.clone());
        }
        all.push(range);
        bytes.extend_from_slice(&batch);
        let Some(after) = last.checked_add(1) else { break };
        next = after;
    }
    let mut intact = usize::MAX;
    for damage in spec.damage.iter().take(MAX_DAMAGES) {
        match damage {
            Damage::Flip { at, xor } if !bytes.is_empty() && *xor != 0 => {
                let at = usize::from(*at) % bytes.len();
                bytes[at] ^= xor;
                intact = intact.min(at);
            }
            Damage::Flip { .. } => {}
            Damage::Cut(n) => {
                bytes.truncate(bytes.len().saturating_sub(usize::from(*n)));
                intact = intact.min(bytes.len());
            }
            Damage::Zeros(n) => bytes.resize(bytes.len() + usize::from(*n), 0),
            Damage::Garbage(garbage) => bytes.extend_from_slice(garbage),
            Damage::Rebase { batch, offset } => {
                let range = (!all.is_empty()).then(|| all[usize::from(*batch) % all.len()].clone());
                if let Some(range) = range.filter(|r| r.end <= bytes.len()) {
                    set_base_offset(&mut bytes[range.clone()], *offset);
                    intact = intact.min(range.start);
                }
            }
            Damage::Repeat => {
                if let Some(first) = valid.first().cloned().filter(|r| r.end <= bytes.len()) {
                    bytes.extend_from_within(first);
                }
            }
        }
    }
    valid.retain(|r| r.end <= intact);
    BuiltSegment { base, bytes, valid, next }
}

/// The offset index the segment itself would write: an entry every `interval` bytes.
fn offset_index(segment: &BuiltSegment, interval: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut since_entry = 0u64;
    for (position, batch) in Batches::new(&segment.bytes).map_while(Result::ok) {
        let Ok(h) = BatchHeader::parse(batch) else { break };
        if since_entry >= interval && position > 0 {
            let relative = (h.base_offset as u64).wrapping_sub(segment.base) as u32;
            out.extend_from_slice(&relative.to_be_bytes());
            out.extend_from_slice(&(position as u32).to_be_bytes());
            since_entry = 0;
        }
        since_entry += batch.len() as u64;
    }
    out
}

/// The time index a sealed segment would hold: its largest timestamp, at the batch's last
/// offset.
fn time_index(segment: &BuiltSegment) -> Vec<u8> {
    let best = Batches::new(&segment.bytes)
        .map_while(Result::ok)
        .filter_map(|(_, b)| BatchHeader::parse(b).ok())
        .max_by_key(|h| h.max_timestamp);
    let mut out = Vec::new();
    if let Some(h) = best.filter(|h| h.max_timestamp >= 0) {
        out.extend_from_slice(&h.max_timestamp.to_be_bytes());
        let relative = (h.base_offset.wrapping_add(i64::from(h.last_offset_delta)) as u64).wrapping_sub(segment.base);
        out.extend_from_slice(&(relative as u32).to_be_bytes());
    }
    out
}

/// Seeds: inputs from a fixed generator (the decoding is `arbitrary`'s, so any bytes are an
/// input) that hold at least two batches and go deep: half with the clean-shutdown marker,
/// half without.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut rng = super::Rng::new(0x5eed_0ff0_5e65);
    let mut seeds = Vec::new();
    let mut clean = 0;
    for _ in 0..10_000 {
        if seeds.len() == 16 {
            break;
        }
        let len = 128 + rng.below(1024);
        let bytes = rng.bytes(len);
        let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(&bytes)) else { continue };
        let batches: usize = input.segments.iter().take(MAX_SEGMENTS).map(|s| s.batches.len().min(MAX_BATCHES)).sum();
        if batches >= 2 && input.clean_shutdown == (clean < 8) && run(&bytes) == Depth::Deep {
            clean += usize::from(input.clean_shutdown);
            seeds.push(bytes);
        }
    }
    seeds
}
