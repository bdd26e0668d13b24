//! Target `decode_records`: the record decoders of `storage::record` and the producer-batch
//! validator on arbitrary bytes, and on structurally valid batches whose records section is
//! fuzzed.
//!
//! Input: a flags byte, then
//!
//! - flags bit 0 clear: the rest is handed to the decoders as it is. Without a valid CRC that
//!   mostly exercises header parsing: `for_each_record` does not check the CRC, but a real
//!   caller only ever decodes a validated batch, hence the second mode.
//! - flags bit 0 set: a valid batch is built around the rest, so the fuzzer's bytes reach the
//!   record decoder (and the decompressors) behind a correct CRC:
//!
//!   ```text
//!   [0]       flags: bit 1 the harness compresses the records section with the codec (else
//!             the bytes are the codec's payload as they are), bit 2 LogAppendTime,
//!             bit 3 transactional, bit 4 control
//!   [1]       codec (none, gzip, snappy, lz4, zstd; wraps around)
//!   [2..6]    recordsCount, big-endian i32 (lastOffsetDelta is recordsCount - 1)
//!   [6..14]   baseOffset, [14..22] baseTimestamp, [22..30] maxTimestamp, big-endian i64
//!   [30..]    the records section (missing header bytes count as zeros)
//!   ```
//!
//! In both modes flags bits 5–7 pick the topic codec the validator recompresses to: 0 keeps
//! the producer's, 1–5 name none, gzip, snappy, lz4, zstd, 6–7 keep it.
//!
//! Checks:
//!
//! - `for_each_record` (one record at a time, memory bounded by the decompressed section;
//!   run on sections up to 4 MiB, for time) fails only where parsing, framing or
//!   decompressing does, or with `MalformedRecord`; when it succeeds it yields as many records
//!   as the header declares, each at the base offset plus an `i32` delta, LogAppendTime
//!   records carrying `maxTimestamp`, their key, value and header bytes within the section;
//! - for sections up to 1 MiB, `decode_records` returns the same records (or error), and the
//!   records rebuilt with `BatchBuilder` decode to the same records again; a rebuilt batch
//!   with consecutive offsets (what a producer writes) passes the producer validator;
//! - `validate_producer_batches` (the produce path) on every batch `validate(_, true)`
//!   accepts, with a 64 MiB inflation bound: it refuses only with `InvalidBatch`; what it
//!   accepts decodes, inflates within the bound and has consecutive offsets; a batch it
//!   recompresses is valid, has the topic's codec, the same header otherwise, and the same
//!   records.

use std::hash::{DefaultHasher, Hash, Hasher};

use fjord_log_core::storage::{
    compute_crc, decode_records, for_each_record, validate, validate_producer_batches, BatchBuilder, BatchDefect, BatchHeader,
    Compression, ProducerBatchRules, Record, StorageError, TimestampType, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
};

use super::codecs::{self, DECOMPRESS_LIMIT};
use super::{storable_last_offset, Depth};

const BUILD: u8 = 1 << 0;
const COMPRESS: u8 = 1 << 1;
const LOG_APPEND_TIME: u8 = 1 << 2;
const TRANSACTIONAL: u8 = 1 << 3;
const CONTROL: u8 = 1 << 4;
/// Where the topic codec's bits start in the flags byte.
const TARGET_SHIFT: u8 = 5;
/// Bytes of the built mode's header before the records section.
const PARAMS_LEN: usize = 30;
/// Largest decompressed section whose records are kept: compared with `decode_records`,
/// rebuilt, and recompressed by the validator (all slow, or memory-hungry, for big ones).
const ROUND_TRIP_MAX: usize = 1 << 20;
/// Largest decompressed section whose records are walked. A time budget, not a memory one:
/// `for_each_record` holds one record at a time, but 64 MiB of 7-byte records (from a 5.7 KB
/// zstd batch) take ~0.6 s to walk in a release build and ~20 s under ASan. Bigger sections
/// are only decompressed and put through the (streaming) producer validator.
const WALK_MAX: usize = 4 << 20;

/// Runs one input: deep when records were decoded.
pub fn run(data: &[u8]) -> Depth {
    let Some(&flags) = data.first() else { return Depth::Shallow };
    let target = match flags >> TARGET_SHIFT {
        t @ 1..=5 => Some(codecs::ALL[usize::from(t) - 1]),
        _ => None,
    };
    if flags & BUILD == 0 {
        return check(&data[1..], target);
    }
    let batch = build(data);
    let header = validate(&batch, false);
    let params = params(data);
    let count = i32::from_be_bytes(params[2..6].try_into().expect("4 bytes"));
    let base = i64::from_be_bytes(params[6..14].try_into().expect("8 bytes"));
    // The harness's own claim: what it built is valid whenever the count is and the offsets
    // it spans can be stored.
    let expected = if count < 0 {
        Err("a negative count")
    } else if storable_last_offset(base, count - 1).is_none() {
        assert_eq!(header, Err(BatchDefect::OffsetOverflow { base_offset: base, last_offset_delta: count - 1 }));
        Err("offsets out of range")
    } else {
        Ok(())
    };
    assert_eq!(header.is_ok(), expected.is_ok(), "harness: built batch ({expected:?}) validates as {header:?}");
    check(&batch, target)
}

/// The built mode's header bytes, missing ones as zeros.
fn params(data: &[u8]) -> [u8; PARAMS_LEN] {
    let mut params = [0u8; PARAMS_LEN];
    let n = data.len().min(PARAMS_LEN);
    params[..n].copy_from_slice(&data[..n]);
    params
}

/// A valid batch (when the count is not negative) from the built mode's input.
pub fn build(data: &[u8]) -> Vec<u8> {
    let params = params(data);
    let section = data.get(PARAMS_LEN..).unwrap_or_default();
    let flags = params[0];
    let codec = codecs::pick(params[1]);
    let payload = if flags & COMPRESS != 0 { codecs::compress(codec, section) } else { section.to_vec() };
    let records_count = i32::from_be_bytes(params[2..6].try_into().expect("4 bytes"));
    let mut attributes = codecs::ALL.iter().position(|c| *c == codec).unwrap_or(0) as i16;
    for (flag, bit) in [(LOG_APPEND_TIME, 3), (TRANSACTIONAL, 4), (CONTROL, 5)] {
        if flags & flag != 0 {
            attributes |= 1 << bit;
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&params[6..14]); // baseOffset
    out.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + payload.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]); // crc, set below
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&records_count.wrapping_sub(1).to_be_bytes()); // lastOffsetDelta
    out.extend_from_slice(&params[14..30]); // baseTimestamp, maxTimestamp
    out.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    out.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    out.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    out.extend_from_slice(&records_count.to_be_bytes());
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&payload);
    let crc = compute_crc(&out);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Decodes `batch` every way the storage engine does and checks what comes back.
fn check(batch: &[u8], target: Option<Compression>) -> Depth {
    let walked = walk(batch);
    if let Some(Ok(w)) = &walked {
        assert_eq!(BatchHeader::parse(batch), Ok(w.header), "for_each_record returned another header");
        assert!(w.header.total_len() <= batch.len());
    }
    if let Ok(header) = validate(batch, true) {
        check_producer_path(batch, &header, &walked, target);
    }
    let Some(walked) = walked else { return Depth::Shallow };
    let section_len = walked.as_ref().map(|w| Some(w.section_len)).unwrap_or_else(|(_, len)| *len);
    // decode_records keeps every record (~100 bytes each, however small the record): compare
    // it on sections small enough for that.
    if section_len.is_none_or(|n| n <= ROUND_TRIP_MAX) {
        let decoded = decode_records(batch);
        match (&walked, &decoded) {
            (Ok(w), Ok((header, records))) => {
                assert_eq!(*header, w.header);
                assert!(w.records.as_ref().is_some_and(|kept| kept == records), "decode_records disagrees with for_each_record");
            }
            (Err((defect, _)), Err(other)) => assert_eq!(defect, other, "decode_records and for_each_record fail differently"),
            _ => panic!(
                "decode_records returned {:?}, for_each_record {:?}",
                decoded.as_ref().map(|(_, r)| r.len()),
                walked.as_ref().map(|w| w.count)
            ),
        }
    }
    let Ok(walked) = walked else { return Depth::Shallow };
    if walked.count == 0 {
        return Depth::Shallow;
    }
    if let Some(records) = &walked.records {
        round_trip(&walked.header, records);
    }
    Depth::Deep
}

/// What walking a batch's records one at a time found.
#[derive(Debug)]
struct Walked {
    header: BatchHeader,
    count: usize,
    section_len: usize,
    /// A digest of every record's offset, timestamp, key, value and headers.
    digest: u64,
    /// Every record had the offset `base + i`.
    consecutive: bool,
    /// The records, when the section is small enough to keep them.
    records: Option<Vec<Record>>,
}

/// What walking a batch found: `Ok` with the records, `Err` with the defect and the section's
/// length when it decompressed, or `None` when the section is too big to walk.
type WalkResult = Option<Result<Walked, (BatchDefect, Option<usize>)>>;

/// Walks the records with `for_each_record`, checking each.
fn walk(batch: &[u8]) -> WalkResult {
    // The steps before the first record, as for_each_record takes them.
    let before_records = BatchHeader::parse(batch).and_then(|h| {
        let body = batch.get(HEADER_LEN..h.total_len()).ok_or(BatchDefect::Truncated { needed: h.total_len(), available: batch.len() })?;
        let section = codecs::decompress(h.compression()?, body)?;
        Ok((h, section.len()))
    });
    let section_len = before_records.as_ref().ok().map(|(_, len)| *len);
    if section_len.is_some_and(|n| n > WALK_MAX) {
        return None;
    }
    let keep = section_len.is_some_and(|n| n <= ROUND_TRIP_MAX);
    let (mut count, mut carried, mut consecutive) = (0usize, 0usize, true);
    let mut digest = DefaultHasher::new();
    let mut kept = Vec::new();
    let result = for_each_record(batch, DECOMPRESS_LIMIT, |r: Record| {
        let (header, _) = before_records.as_ref().expect("records only come after the header and section");
        let delta = i128::from(r.offset) - i128::from(header.base_offset);
        assert!(i32::try_from(delta).is_ok(), "offset {} is not the base {} plus an i32 delta", r.offset, header.base_offset);
        consecutive &= delta == count as i128;
        if header.timestamp_type() == TimestampType::LogAppendTime {
            assert_eq!(r.timestamp, header.max_timestamp, "a LogAppendTime record's timestamp is the batch's");
        }
        carried += r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
        carried += r.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len())).sum::<usize>();
        (r.offset, r.timestamp, &r.key, &r.value, r.headers.len()).hash(&mut digest);
        r.headers.iter().for_each(|h| (&h.key, &h.value).hash(&mut digest));
        count += 1;
        if keep {
            kept.push(r);
        }
        Ok::<(), BatchDefect>(())
    });
    match (result, before_records) {
        (Ok(header), Ok((parsed, section_len))) => {
            assert_eq!(header, parsed);
            assert_eq!(count, usize::try_from(header.records_count).unwrap_or(0), "record count disagrees with the header");
            assert!(carried <= section_len, "records carry {carried} bytes out of a {section_len}-byte section");
            let records = keep.then_some(kept);
            Some(Ok(Walked { header, count, section_len, digest: digest.finish(), consecutive, records }))
        }
        (Ok(_), Err(defect)) => panic!("for_each_record succeeded where its first steps fail: {defect}"),
        (Err(defect), Err(first)) => {
            assert_eq!(defect, first, "for_each_record fails otherwise than its first steps");
            Some(Err((defect, None)))
        }
        (Err(defect), Ok(_)) => {
            assert!(matches!(defect, BatchDefect::MalformedRecord(_)), "a record failed with {defect:?}");
            Some(Err((defect, section_len)))
        }
    }
}

/// The produce path on a batch that passes `validate(_, true)`.
fn check_producer_path(batch: &[u8], header: &BatchHeader, walked: &WalkResult, target: Option<Compression>) {
    // Recompression only of sections small enough to recompress quickly.
    let walked = walked.as_ref().map(|w| w.as_ref().map_err(|(e, _)| e));
    let small = matches!(walked, Some(Ok(w)) if w.section_len <= ROUND_TRIP_MAX);
    let rules = producer_rules(target.filter(|_| small));
    let validated = match validate_producer_batches(batch, &rules) {
        Ok(validated) => validated,
        Err(StorageError::InvalidBatch { .. }) => return,
        Err(e) => panic!("the producer validator refused with {e:?}, not InvalidBatch"),
    };
    assert_eq!(validated.headers, [*header]);
    let codec = header.compression().expect("valid");
    let expect_recompressed = rules.target_compression.is_some_and(|t| t != codec) && !header.is_control();
    let target = rules.target_compression;
    assert_eq!(validated.recompressed.is_some(), expect_recompressed, "recompression to {target:?} of a {codec:?} batch");
    // Sections too big to walk are only checked to inflate within the bound.
    let Some(walked) = walked else {
        let section = codecs::decompress(codec, &batch[HEADER_LEN..]).expect("the validator inflated it");
        assert!(section.len() <= rules.max_inflated_bytes, "the producer validator accepted {} inflated bytes", section.len());
        return;
    };
    let walked = walked.unwrap_or_else(|e| panic!("the producer validator accepted a batch whose records do not decode: {e}"));
    assert!(walked.consecutive, "the producer validator accepted records at other offsets than base + 0, 1, 2, ...");
    assert!(walked.section_len <= rules.max_inflated_bytes, "the producer validator accepted {} inflated bytes", walked.section_len);
    if let (Some(out), Some(to)) = (validated.recompressed, rules.target_compression) {
        let rewritten = validate(&out, true).unwrap_or_else(|e| panic!("a recompressed batch is invalid: {e}"));
        assert_eq!(rewritten.compression(), Ok(to));
        let same = BatchHeader { attributes: header.attributes, crc: header.crc, batch_length: header.batch_length, ..rewritten };
        assert_eq!(same, *header, "recompression changed the header");
        assert_eq!(rewritten.attributes & !0x07, header.attributes & !0x07);
        let again = walk(&out).expect("as small as the original");
        let again = again.unwrap_or_else(|(e, _)| panic!("a recompressed batch does not decode: {e}"));
        assert_eq!((again.count, again.digest), (walked.count, walked.digest), "recompression changed the records");
    }
}

/// The rules of a topic with Kafka's default max.message.bytes that checks nothing else.
fn producer_rules(target_compression: Option<Compression>) -> ProducerBatchRules {
    ProducerBatchRules {
        max_message_bytes: 8 << 20,
        max_inflated_bytes: ProducerBatchRules::inflation_bound(1 << 20),
        require_keys: false,
        timestamps: None,
        target_compression,
        target_level: None,
    }
}

/// Rebuilding the records with `BatchBuilder` and decoding them again changes nothing.
fn round_trip(header: &BatchHeader, records: &[Record]) {
    let codec = header.compression().expect("checked by the caller");
    let mut builder = BatchBuilder::new(header.base_offset, codec, header.timestamp_type());
    for r in records {
        builder.push_record(r);
    }
    let rebuilt = builder.build().expect("a rebuilt batch compresses");
    let last = records.last().expect("not empty").offset;
    if last == i64::MAX {
        // Decoded (the offset is in i64), but no batch may end there: the rebuilt header says
        // it does.
        let refused = decode_records(&rebuilt).map(|(_, r)| r.len());
        assert!(matches!(refused, Err(BatchDefect::OffsetOverflow { .. })), "a rebuilt batch ending at i64::MAX: {refused:?}");
        return;
    }
    let (_, again) = decode_records(&rebuilt).expect("a rebuilt batch decodes");
    assert_eq!(again.len(), records.len());
    for (a, b) in again.iter().zip(records) {
        assert_eq!((a.offset, &a.key, &a.value, &a.headers), (b.offset, &b.key, &b.value, &b.headers), "round trip changed a record");
        if header.timestamp_type() == TimestampType::CreateTime {
            assert_eq!(a.timestamp, b.timestamp, "round trip changed a timestamp");
        }
    }
    let consecutive = records.iter().enumerate().all(|(i, r)| i128::from(r.offset) == i128::from(header.base_offset) + i as i128);
    if consecutive && records.len() <= i32::MAX as usize {
        // What a producer writes: the produce path must take it.
        if let Err(e) = validate_producer_batches(&rebuilt, &producer_rules(None)) {
            panic!("the producer validator refused a well-formed batch of {} records: {e}", records.len());
        }
    }
}

/// Both modes: valid batches as they are (also with another topic codec), and built-mode
/// inputs whose records section is a batch's records (plain for the harness to compress, or
/// already compressed).
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for batch in super::record_batch::sample_batches() {
        let header = validate(&batch, false).expect("sample batches are valid");
        let codec = header.compression().expect("valid");
        let codec_id = codecs::ALL.iter().position(|c| *c == codec).unwrap_or(0) as u8;
        let plain = codecs::decompress(codec, &batch[HEADER_LEN..]).expect("sample batches decompress");
        let log_append = if header.timestamp_type() == TimestampType::LogAppendTime { LOG_APPEND_TIME } else { 0 };
        // As it is, and with a topic codec other than its own for the validator to recompress to.
        let other = (codec_id + 1) % 5 + 1;
        for target in [0, other] {
            seeds.push([&[target << TARGET_SHIFT][..], &batch].concat());
        }
        for (flags, section) in [(BUILD | COMPRESS, &plain[..]), (BUILD, &batch[HEADER_LEN..])] {
            let mut input = vec![flags | log_append, codec_id];
            input.extend_from_slice(&header.records_count.to_be_bytes());
            input.extend_from_slice(&header.base_offset.to_be_bytes());
            input.extend_from_slice(&header.base_timestamp.to_be_bytes());
            input.extend_from_slice(&header.max_timestamp.to_be_bytes());
            input.extend_from_slice(section);
            seeds.push(input);
        }
    }
    // The first batch's records at the bottom of the offset range (base offset i64::MIN).
    let mut bottom = seeds[2].clone();
    bottom[6..14].copy_from_slice(&i64::MIN.to_be_bytes());
    seeds.push(bottom);
    seeds
}
