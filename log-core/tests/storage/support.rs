//! Shared helpers: batch builders with recognisable contents, log openers, readers.

use fjord_log_core::storage::{
    decode_records, validate, AppendInfo, AppendOptions, BatchBuilder, Batches, Compression, LogConfig,
    PartitionLog, Record, TimestampType,
};

pub fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions { leader_epoch: 0, now_ms }
}

/// A config with small segments and a dense index, so a few KiB exercise rolling.
pub fn small_config() -> LogConfig {
    LogConfig { segment_bytes: 4096, index_interval_bytes: 256, retention_ms: None, ..LogConfig::default() }
}

pub fn open(dir: &std::path::Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config).expect("open log").0
}

/// One producer batch of `values` (keys `k{i}` unless `keys` given), timestamps from `ts`.
pub fn batch_of(values: &[&[u8]], ts: i64, compression: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, compression, TimestampType::CreateTime);
    for (i, v) in values.iter().enumerate() {
        b.push(i as i64, ts + i as i64, Some(format!("k{i}").as_bytes()), Some(v), &[]);
    }
    b.build().expect("building a test batch")
}

/// One batch of keyed records; `None` values are tombstones.
pub fn keyed_batch(records: &[(&str, Option<&str>)], ts: i64, compression: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, compression, TimestampType::CreateTime);
    for (i, (k, v)) in records.iter().enumerate() {
        b.push(i as i64, ts, Some(k.as_bytes()), v.map(str::as_bytes), &[]);
    }
    b.build().expect("building a test batch")
}

/// Appends a batch whose record values name their own future offsets: `offset-<n>`.
pub fn append_self_describing(log: &mut PartitionLog, records: usize, pad: usize, now_ms: i64) -> AppendInfo {
    let start = log.log_end_offset();
    let values: Vec<Vec<u8>> = (0..records as u64).map(|i| self_describing_value(start + i, pad)).collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let mut bytes = batch_of(&refs, now_ms, Compression::None);
    log.append(&mut bytes, opts(now_ms)).expect("append")
}

pub fn self_describing_value(offset: u64, pad: usize) -> Vec<u8> {
    let mut v = format!("offset-{offset}-").into_bytes();
    v.extend(std::iter::repeat_n(b'x', pad));
    v
}

/// Reads every record from the log start, checking each batch's CRC on the way.
pub fn read_all(log: &PartitionLog) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 64 * 1024, None).expect("read");
        if read.records.is_empty() {
            break;
        }
        for item in Batches::new(&read.records) {
            let (_, bytes) = item.expect("whole batches");
            validate(bytes, false).expect("valid batch");
            let (header, records) = decode_records(bytes).expect("decodable");
            out.extend(records.into_iter().filter(|r| r.offset >= offset as i64));
            offset = header.last_offset() as u64 + 1;
        }
    }
    out
}
