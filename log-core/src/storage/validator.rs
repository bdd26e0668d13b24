//! What a leader checks in a producer's batches before appending them, and the one rewrite it
//! makes of their contents: recompression to the topic's `compression.type` (Kafka's
//! `LogValidator`).
//!
//! In order, for every batch of a request (all or nothing):
//!
//! ```text
//! size as sent ≤ max.message.bytes ─► header, CRC-32C ─► records, streamed:
//!     inflate at most max_inflated_bytes (never the whole batch in memory)
//!     every record well formed, offset deltas 0, 1, 2, … as the header counts them
//!     a key on every record of a compacted topic
//!     CreateTime within message.timestamp.before/after.max.ms of the broker's clock
//! ─► recompress when the topic names a codec other than the batch's
//! ```
//!
//! Memory stays bounded whatever the batch claims: records are walked as they inflate, one
//! varint at a time, and key and value bytes are skipped, not copied. Only recompression
//! decodes a batch whole, and only within the inflation bound.

use std::io::{BufRead, BufReader, Read};

use super::batch::{self, BatchDefect, BatchHeader, Batches, TimestampType, HEADER_LEN};
use super::compression::Compression;
use super::config::LogConfig;
use super::error::{Result, StorageError};
use super::record;

/// What a topic requires of producer batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatchRules {
    /// `max.message.bytes`: largest batch, as sent and after recompression.
    pub max_message_bytes: u64,
    /// How far a batch's records may inflate when decompressed.
    pub max_inflated_bytes: usize,
    /// The topic is compacted: every record needs a key.
    pub require_keys: bool,
    /// Bounds on CreateTime timestamps (LogAppendTime topics stamp their own).
    pub timestamps: Option<TimestampBounds>,
    /// `compression.type` when it names a codec; `None` for `producer` (keep the batch's).
    pub target_compression: Option<Compression>,
    /// The level to recompress at (`compression.<codec>.level`).
    pub target_level: Option<i32>,
}

/// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms` against a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampBounds {
    /// The broker's clock, in ms.
    pub now_ms: i64,
    /// How far in the past a record's timestamp may lie.
    pub before_max_ms: i64,
    /// How far in the future.
    pub after_max_ms: i64,
}

impl ProducerBatchRules {
    /// The rules `config` sets, with the broker's clock at `now_ms`.
    pub fn for_log(config: &LogConfig, now_ms: i64) -> Self {
        let target_level = match config.compression_type {
            Some(Compression::Gzip) => Some(config.compression_gzip_level),
            Some(Compression::Zstd) => Some(config.compression_zstd_level),
            Some(Compression::Lz4) => Some(config.compression_lz4_level),
            _ => None,
        };
        Self {
            max_message_bytes: config.max_message_bytes,
            max_inflated_bytes: Self::inflation_bound(config.max_message_bytes),
            require_keys: config.cleanup_policy.compact,
            timestamps: (config.message_timestamp_type == TimestampType::CreateTime).then_some(TimestampBounds {
                now_ms,
                before_max_ms: config.message_timestamp_before_max_ms,
                after_max_ms: config.message_timestamp_after_max_ms,
            }),
            target_compression: config.compression_type,
            target_level,
        }
    }

    /// The inflation bound for a topic whose batches may be `max_message_bytes` long: 64
    /// times that (64 MiB at Kafka's default), at least 16 MiB and at most 256 MiB. Producers compress
    /// batches of at most about a megabyte of records; a batch inflating further is a
    /// decompression bomb, refused with MESSAGE_TOO_LARGE after inflating no more than this.
    pub fn inflation_bound(max_message_bytes: u64) -> usize {
        // Never past what the log's own readers inflate (compaction, lookups), or an accepted
        // batch could not be read back.
        usize::try_from(max_message_bytes.saturating_mul(64)).unwrap_or(usize::MAX).clamp(16 << 20, super::compression::MAX_DECOMPRESSED_BYTES)
    }
}

/// The checked batches of a request.
#[derive(Debug)]
pub struct ValidatedBatches {
    /// Each batch's header, in order (as sent: offsets not assigned yet).
    pub headers: Vec<BatchHeader>,
    /// The request's batches recompressed to the topic's codec, when any needed it; append
    /// these instead of what the producer sent.
    pub recompressed: Option<Vec<u8>>,
}

/// Checks every batch of a produce request against `rules` (see the module docs).
pub fn validate_producer_batches(records: &[u8], rules: &ProducerBatchRules) -> Result<ValidatedBatches> {
    let mut headers = Vec::new();
    let mut needs_recompression = false;
    for item in Batches::new(records) {
        let (position, bytes) = item.map_err(|defect| StorageError::InvalidBatch { position: records.len(), defect })?;
        if bytes.len() as u64 > rules.max_message_bytes {
            return Err(StorageError::BatchTooLarge { size: bytes.len(), max: rules.max_message_bytes });
        }
        let header = batch::validate(bytes, true).map_err(|defect| StorageError::InvalidBatch { position, defect })?;
        if header.is_control() {
            // Control records (transaction markers) are the broker's to write, never a client's.
            return Err(StorageError::InvalidBatch { position, defect: BatchDefect::MalformedRecord("clients may not write control batches".into()) });
        }
        if header.producer_id >= 0 && header.base_sequence < 0 {
            return Err(StorageError::InvalidBatch {
                position,
                defect: BatchDefect::MalformedRecord(format!("an idempotent batch needs a base sequence, got {}", header.base_sequence)),
            });
        }
        check_records(position, bytes, &header, rules)?;
        let codec = header.compression().map_err(|defect| StorageError::InvalidBatch { position, defect })?;
        needs_recompression |= rules.target_compression.is_some_and(|target| target != codec) && !header.is_control();
        headers.push(header);
    }
    if headers.is_empty() {
        return Err(StorageError::InvalidBatch { position: 0, defect: BatchDefect::Empty });
    }
    let recompressed = match rules.target_compression {
        Some(target) if needs_recompression => Some(recompress(records, target, rules)?),
        _ => None,
    };
    Ok(ValidatedBatches { headers, recompressed })
}

/// Rewrites every batch of `records` whose codec is not `target` (same records, offsets,
/// timestamps and producer fields).
fn recompress(records: &[u8], target: Compression, rules: &ProducerBatchRules) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(records.len());
    for item in Batches::new(records) {
        let (position, bytes) = item.map_err(|defect| StorageError::InvalidBatch { position: records.len(), defect })?;
        let invalid = |defect| StorageError::InvalidBatch { position, defect };
        let header = BatchHeader::parse(bytes).map_err(invalid)?;
        if header.compression().map_err(invalid)? == target || header.is_control() {
            out.extend_from_slice(bytes);
            continue;
        }
        let max_batch = usize::try_from(rules.max_message_bytes).unwrap_or(usize::MAX);
        let too_large = || StorageError::BatchTooLarge { size: max_batch.saturating_add(1), max: rules.max_message_bytes };
        let rebuilt = record::recompress_batch(bytes, target, rules.target_level, rules.max_inflated_bytes, max_batch).map_err(|e| match e {
            record::RecompressError::Defect(defect) => invalid(defect),
            record::RecompressError::Compression(e) => StorageError::Compression(e),
            record::RecompressError::TooLarge => too_large(),
        })?;
        if rebuilt.len() as u64 > rules.max_message_bytes {
            return Err(StorageError::BatchTooLarge { size: rebuilt.len(), max: rules.max_message_bytes });
        }
        out.extend_from_slice(&rebuilt);
    }
    Ok(out)
}

/// Walks the records of one CRC-checked batch.
fn check_records(position: usize, bytes: &[u8], header: &BatchHeader, rules: &ProducerBatchRules) -> Result<()> {
    let invalid = |defect| StorageError::InvalidBatch { position, defect };
    let body = bytes.get(HEADER_LEN..).unwrap_or_default();
    let codec = header.compression().map_err(invalid)?;
    let mut walk = RecordWalk { header, rules, position };
    if codec == Compression::None {
        let mut source = SliceSource { data: body, at: 0 };
        walk.all(&mut source)?;
        if source.at != body.len() {
            return Err(invalid(BatchDefect::MalformedRecord(format!("{} bytes after the last record", body.len() - source.at))));
        }
    } else {
        let inflating = codec.reader(body).map_err(invalid)?;
        let limit = rules.max_inflated_bytes as u64;
        let mut source = StreamSource { inner: BufReader::with_capacity(64 * 1024, inflating.take(limit + 1)), consumed: 0, limit };
        walk.all(&mut source)?;
        if !source.at_end().map_err(invalid)? {
            return Err(invalid(BatchDefect::MalformedRecord("bytes after the last record".into())));
        }
    }
    Ok(())
}

/// The per-record checks of one batch.
struct RecordWalk<'a> {
    header: &'a BatchHeader,
    rules: &'a ProducerBatchRules,
    position: usize,
}

impl RecordWalk<'_> {
    fn all(&mut self, source: &mut impl RecordSource) -> Result<()> {
        for expected_delta in 0..self.header.records_count {
            self.one(source, expected_delta)?;
        }
        Ok(())
    }

    fn one(&mut self, source: &mut impl RecordSource, expected_delta: i32) -> Result<()> {
        let position = self.position;
        let invalid = |defect| StorageError::InvalidBatch { position, defect };
        let malformed = |what: &str| invalid(BatchDefect::MalformedRecord(what.to_string()));
        let length = varint(source).map_err(invalid)?;
        if length < 0 {
            return Err(malformed("negative record length"));
        }
        let start = source.position();
        source.skip(1).map_err(invalid)?; // attributes, unused in v2
        let timestamp_delta = varlong(source).map_err(invalid)?;
        let offset_delta = varint(source).map_err(invalid)?;
        if offset_delta != expected_delta {
            return Err(malformed(&format!("record {expected_delta} of the batch has offset delta {offset_delta}")));
        }
        let key_len = varint(source).map_err(invalid)?;
        if key_len < 0 && self.rules.require_keys && !self.header.is_control() {
            return Err(StorageError::RecordWithoutKey { position, offset_delta });
        }
        source.skip(key_len.max(0) as usize).map_err(invalid)?;
        let value_len = varint(source).map_err(invalid)?;
        source.skip(value_len.max(0) as usize).map_err(invalid)?;
        let header_count = varint(source).map_err(invalid)?;
        if header_count < 0 {
            return Err(malformed("negative header count"));
        }
        for _ in 0..header_count {
            let key_len = varint(source).map_err(invalid)?;
            if key_len < 0 {
                return Err(malformed("null header key"));
            }
            source.skip(key_len as usize).map_err(invalid)?;
            let value_len = varint(source).map_err(invalid)?;
            source.skip(value_len.max(0) as usize).map_err(invalid)?;
        }
        if source.position() - start != length as u64 {
            return Err(malformed("record length disagrees with its fields"));
        }
        if self.header.timestamp_type() == TimestampType::CreateTime
            && let Some(bounds) = self.rules.timestamps
        {
            check_timestamp(self.header.base_timestamp.wrapping_add(timestamp_delta), &bounds)?;
        }
        Ok(())
    }
}

fn check_timestamp(timestamp: i64, bounds: &TimestampBounds) -> Result<()> {
    let out_of_range = |distance: i64, direction, limit_ms, setting| StorageError::TimestampOutOfRange {
        timestamp,
        now_ms: bounds.now_ms,
        distance,
        direction,
        limit_ms,
        setting,
    };
    let behind = bounds.now_ms.saturating_sub(timestamp);
    if behind > bounds.before_max_ms {
        return Err(out_of_range(behind, "behind", bounds.before_max_ms, "message.timestamp.before.max.ms"));
    }
    let ahead = timestamp.saturating_sub(bounds.now_ms);
    if ahead > bounds.after_max_ms {
        return Err(out_of_range(ahead, "ahead of", bounds.after_max_ms, "message.timestamp.after.max.ms"));
    }
    Ok(())
}

/// Where record bytes come from: the batch itself, or a decompressor.
trait RecordSource {
    fn byte(&mut self) -> std::result::Result<u8, BatchDefect>;
    fn skip(&mut self, n: usize) -> std::result::Result<(), BatchDefect>;
    /// Bytes consumed so far.
    fn position(&self) -> u64;
}

fn cut_short() -> BatchDefect {
    BatchDefect::MalformedRecord("record cut short".into())
}

struct SliceSource<'a> {
    data: &'a [u8],
    at: usize,
}

impl RecordSource for SliceSource<'_> {
    fn byte(&mut self) -> std::result::Result<u8, BatchDefect> {
        let b = *self.data.get(self.at).ok_or_else(cut_short)?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> std::result::Result<(), BatchDefect> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(cut_short)?;
        self.at = end;
        Ok(())
    }

    fn position(&self) -> u64 {
        self.at as u64
    }
}

/// Inflated bytes, counted against the bound as they are consumed.
struct StreamSource<R> {
    inner: R,
    consumed: u64,
    limit: u64,
}

impl<R: BufRead> StreamSource<R> {
    fn fill(&mut self) -> std::result::Result<&[u8], BatchDefect> {
        self.inner.fill_buf().map_err(|e| BatchDefect::Decompression(e.to_string()))
    }

    fn advance(&mut self, n: usize) -> std::result::Result<(), BatchDefect> {
        self.inner.consume(n);
        self.consumed += n as u64;
        if self.consumed > self.limit {
            return Err(BatchDefect::InflatesPastLimit { limit: self.limit as usize });
        }
        Ok(())
    }

    /// True when nothing follows (the bound counts as an end only if not passed).
    fn at_end(&mut self) -> std::result::Result<bool, BatchDefect> {
        Ok(self.fill()?.is_empty())
    }
}

impl<R: BufRead> RecordSource for StreamSource<R> {
    fn byte(&mut self) -> std::result::Result<u8, BatchDefect> {
        let Some(&b) = self.fill()?.first() else {
            return Err(self.end_defect());
        };
        self.advance(1)?;
        Ok(b)
    }

    fn skip(&mut self, mut n: usize) -> std::result::Result<(), BatchDefect> {
        while n > 0 {
            let available = self.fill()?.len();
            if available == 0 {
                return Err(self.end_defect());
            }
            let step = available.min(n);
            self.advance(step)?;
            n -= step;
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        self.consumed
    }
}

impl<R> StreamSource<R> {
    /// The input ended: either the records really are cut short, or the bound (which
    /// `take` turns into an end) was reached.
    fn end_defect(&self) -> BatchDefect {
        if self.consumed >= self.limit { BatchDefect::InflatesPastLimit { limit: self.limit as usize } } else { cut_short() }
    }
}

fn varlong(source: &mut impl RecordSource) -> std::result::Result<i64, BatchDefect> {
    record::decode_varlong(|| source.byte())
}

fn varint(source: &mut impl RecordSource) -> std::result::Result<i32, BatchDefect> {
    record::varint_of(varlong(source)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{decode_records, BatchBuilder};

    fn rules() -> ProducerBatchRules {
        ProducerBatchRules {
            max_message_bytes: 1 << 20,
            max_inflated_bytes: 16 << 20,
            require_keys: false,
            timestamps: None,
            target_compression: None,
            target_level: None,
        }
    }

    fn batch(codec: Compression, keys: &[Option<&[u8]>], timestamp: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(0, codec, TimestampType::CreateTime);
        for (i, key) in keys.iter().enumerate() {
            b.push(i as i64, timestamp, *key, Some(b"value"), &[]);
        }
        b.build().unwrap()
    }

    #[test]
    fn well_formed_batches_of_every_codec_pass_untouched() {
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let bytes = batch(codec, &[Some(b"a"), None, Some(b"c")], 1_000);
            let checked = validate_producer_batches(&bytes, &rules()).unwrap();
            assert_eq!(checked.headers.len(), 1);
            assert!(checked.recompressed.is_none(), "{codec:?}");
        }
    }

    #[test]
    fn a_compacted_topic_refuses_a_record_without_a_key() {
        let rules = ProducerBatchRules { require_keys: true, ..rules() };
        for codec in [Compression::None, Compression::Zstd] {
            assert!(validate_producer_batches(&batch(codec, &[Some(b"a"), Some(b"b")], 1_000), &rules).is_ok());
            let err = validate_producer_batches(&batch(codec, &[Some(b"a"), None], 1_000), &rules).unwrap_err();
            assert!(matches!(err, StorageError::RecordWithoutKey { offset_delta: 1, .. }), "{err}");
        }
    }

    #[test]
    fn a_decompression_bomb_is_refused_after_inflating_at_most_the_bound() {
        let mut b = BatchBuilder::new(0, Compression::Zstd, TimestampType::CreateTime);
        b.push(0, 1_000, Some(b"k"), Some(&vec![0u8; 32 << 20]), &[]);
        let bomb = b.build().unwrap();
        assert!(bomb.len() < 64 << 10, "32 MiB of zeros packs into {} bytes", bomb.len());
        let err = validate_producer_batches(&bomb, &rules()).unwrap_err();
        assert!(matches!(err, StorageError::InvalidBatch { defect: BatchDefect::InflatesPastLimit { .. }, .. }), "{err}");
    }

    #[test]
    fn a_batch_larger_than_max_message_bytes_is_refused_before_it_is_read() {
        let bytes = batch(Compression::None, &[Some(&[7u8; 2000])], 1_000);
        let rules = ProducerBatchRules { max_message_bytes: 1000, ..rules() };
        assert!(matches!(validate_producer_batches(&bytes, &rules).unwrap_err(), StorageError::BatchTooLarge { .. }));
    }

    #[test]
    fn create_times_outside_the_bounds_are_refused() {
        let now = 10_000_000;
        let rules = ProducerBatchRules { timestamps: Some(TimestampBounds { now_ms: now, before_max_ms: 1_000, after_max_ms: 500 }), ..rules() };
        assert!(validate_producer_batches(&batch(Compression::None, &[None], now - 1_000), &rules).is_ok());
        assert!(validate_producer_batches(&batch(Compression::None, &[None], now + 500), &rules).is_ok());
        let behind = validate_producer_batches(&batch(Compression::Lz4, &[None], now - 1_001), &rules).unwrap_err();
        assert!(behind.to_string().contains("message.timestamp.before.max.ms"), "{behind}");
        let ahead = validate_producer_batches(&batch(Compression::None, &[None], now + 501), &rules).unwrap_err();
        assert!(ahead.to_string().contains("message.timestamp.after.max.ms"), "{ahead}");
    }

    #[test]
    fn batches_are_recompressed_to_the_topic_codec_with_their_records_intact() {
        let original = batch(Compression::Gzip, &[Some(b"a"), None, Some(b"c")], 1_234);
        for target in [Compression::None, Compression::Zstd, Compression::Lz4] {
            let rules = ProducerBatchRules { target_compression: Some(target), ..rules() };
            let out = validate_producer_batches(&original, &rules).unwrap().recompressed.expect("rewritten");
            let header = batch::validate(&out, true).unwrap();
            assert_eq!(header.compression().unwrap(), target);
            let (_, before) = decode_records(&original).unwrap();
            let (_, after) = decode_records(&out).unwrap();
            assert_eq!(before, after, "{target:?}");
        }
        let same = ProducerBatchRules { target_compression: Some(Compression::Gzip), ..rules() };
        assert!(validate_producer_batches(&original, &same).unwrap().recompressed.is_none());
    }

    #[test]
    fn recompression_stops_as_soon_as_the_batch_would_pass_max_message_bytes() {
        // 2 MiB of zeros: a few KiB as gzip, 2 MiB once uncompressed.
        let mut b = BatchBuilder::new(0, Compression::Gzip, TimestampType::CreateTime);
        b.push(0, 1_000, Some(b"k"), Some(&vec![0u8; 2 << 20]), &[]);
        let small = b.build().unwrap();
        let to_none = ProducerBatchRules { target_compression: Some(Compression::None), ..rules() };
        assert!(matches!(validate_producer_batches(&small, &to_none).unwrap_err(), StorageError::BatchTooLarge { .. }));
        let to_zstd = ProducerBatchRules { target_compression: Some(Compression::Zstd), ..rules() };
        assert!(validate_producer_batches(&small, &to_zstd).unwrap().recompressed.is_some(), "zstd keeps it small");
    }

    #[test]
    fn control_batches_and_idempotent_batches_without_a_sequence_are_refused() {
        let mut control = batch(Compression::None, &[Some(b"k")], 1_000);
        control[22] |= 1 << 5; // the control attribute bit (attributes are bytes 21-22)
        let crc = batch::compute_crc(&control);
        control[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(validate_producer_batches(&control, &rules()).unwrap_err().to_string().contains("control"));
        let mut b = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime).producer(7, 0, -1);
        b.push(0, 1_000, None, Some(b"v"), &[]);
        assert!(validate_producer_batches(&b.build().unwrap(), &rules()).unwrap_err().to_string().contains("sequence"));
    }

    #[test]
    fn offset_deltas_out_of_order_and_trailing_bytes_are_malformed() {
        // Two records both at offset delta 0: CRC and counts are right, the records are not.
        let mut b = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
        b.push(0, 1, None, Some(b"x"), &[]);
        b.push(0, 1, None, Some(b"y"), &[]);
        let mut bytes = b.build().unwrap();
        // The builder derived lastOffsetDelta 0 from the offsets; make the header claim 1.
        bytes[23..27].copy_from_slice(&1i32.to_be_bytes());
        let crc = batch::compute_crc(&bytes);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let err = validate_producer_batches(&bytes, &rules()).unwrap_err();
        assert!(err.to_string().contains("offset delta"), "{err}");
    }
}
