//! Target `decode_records`: `storage::decode_records` on arbitrary bytes, and on structurally
//! valid batches whose records section is fuzzed.
//!
//! Input: a flags byte, then
//!
//! - flags bit 0 clear: the rest is handed to `decode_records` as it is. Without a valid
//!   CRC that mostly exercises header parsing: `decode_records` does not check the CRC, but a
//!   real caller only ever decodes a validated batch, hence the second mode.
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
//! Checks: no panic; `Ok` only with as many records as the header declares; every record's
//! key, value and headers lie inside the decompressed section; LogAppendTime records carry
//! `maxTimestamp`; a decoded batch rebuilt with `BatchBuilder` decodes to the same records.

use fjord_log_core::storage::{
    compute_crc, decode_records, validate, BatchBuilder, BatchHeader, Compression, Record, TimestampType, HEADER_LEN,
    LOG_OVERHEAD, MAGIC_V2,
};

use super::{codecs, known, near_offset_edge, Depth, Known, RECORDS_SECTION_LIMIT};

const BUILD: u8 = 1 << 0;
const COMPRESS: u8 = 1 << 1;
const LOG_APPEND_TIME: u8 = 1 << 2;
const TRANSACTIONAL: u8 = 1 << 3;
const CONTROL: u8 = 1 << 4;
/// Bytes of the built mode's header before the records section.
const PARAMS_LEN: usize = 30;
/// Largest decoded batch the round trip rebuilds (it is slow for big ones).
const ROUND_TRIP_MAX: usize = 1 << 20;

/// Runs one input: deep when records were decoded.
pub fn run(data: &[u8]) -> Depth {
    let Some(&flags) = data.first() else { return Depth::Shallow };
    if flags & BUILD == 0 {
        return check(&data[1..]);
    }
    let batch = build(data);
    let header = validate(&batch, false);
    let count = i32::from_be_bytes([data_at(data, 2), data_at(data, 3), data_at(data, 4), data_at(data, 5)]);
    // The harness's own claim: what it built is valid whenever the count is.
    assert_eq!(header.is_ok(), count >= 0, "harness: built batch validates as {header:?}");
    check(&batch)
}

fn data_at(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

/// A valid batch (when the count is not negative) from the built mode's input.
pub fn build(data: &[u8]) -> Vec<u8> {
    let mut params = [0u8; PARAMS_LEN];
    let n = data.len().min(PARAMS_LEN);
    params[..n].copy_from_slice(&data[..n]);
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

/// Decodes `batch` and checks what comes back.
fn check(batch: &[u8]) -> Depth {
    if BatchHeader::parse(batch).is_ok_and(|h| near_offset_edge(h.base_offset)) && known(Known::OffsetOverflow) {
        return Depth::Shallow;
    }
    if known(Known::RecordAmplification) && inflates_past_limit(batch) {
        return Depth::Shallow;
    }
    let Ok((header, records)) = decode_records(batch) else { return Depth::Shallow };
    assert_eq!(BatchHeader::parse(batch), Ok(header), "decode_records returned another header");
    assert!(header.total_len() <= batch.len());
    assert_eq!(records.len(), usize::try_from(header.records_count).unwrap_or(0), "record count disagrees with the header");
    let codec = header.compression().expect("a decoded batch has a known codec");
    let section = codecs::decompress(codec, &batch[HEADER_LEN..header.total_len()]).expect("it decompressed once");
    let mut carried = 0usize;
    for r in &records {
        let delta = i128::from(r.offset) - i128::from(header.base_offset);
        assert!(i32::try_from(delta).is_ok(), "offset {} is not the base {} plus an i32 delta", r.offset, header.base_offset);
        if header.timestamp_type() == TimestampType::LogAppendTime {
            assert_eq!(r.timestamp, header.max_timestamp, "a LogAppendTime record's timestamp is the batch's");
        }
        carried += r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len());
        carried += r.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len())).sum::<usize>();
    }
    assert!(carried <= section.len(), "records carry {carried} bytes out of a {}-byte section", section.len());
    if records.is_empty() {
        return Depth::Shallow;
    }
    if section.len() <= ROUND_TRIP_MAX {
        round_trip(&header, &records);
    }
    Depth::Deep
}

/// True when the batch's records section decompresses to more than the limit of
/// [`Known::RecordAmplification`].
fn inflates_past_limit(batch: &[u8]) -> bool {
    let Ok(header) = BatchHeader::parse(batch) else { return false };
    let Ok(codec) = header.compression() else { return false };
    let section = batch.get(HEADER_LEN..header.total_len()).unwrap_or_default();
    codec != Compression::None && codecs::decompress(codec, section).is_ok_and(|plain| plain.len() > RECORDS_SECTION_LIMIT)
}

/// Rebuilding the records with `BatchBuilder` and decoding them again changes nothing.
fn round_trip(header: &BatchHeader, records: &[Record]) {
    let codec = header.compression().expect("checked by the caller");
    let mut builder = BatchBuilder::new(header.base_offset, codec, header.timestamp_type());
    for r in records {
        builder.push_record(r);
    }
    let rebuilt = builder.build().expect("a rebuilt batch compresses");
    let (_, again) = decode_records(&rebuilt).expect("a rebuilt batch decodes");
    assert_eq!(again.len(), records.len());
    for (a, b) in again.iter().zip(records) {
        assert_eq!((a.offset, &a.key, &a.value, &a.headers), (b.offset, &b.key, &b.value, &b.headers), "round trip changed a record");
        if header.timestamp_type() == TimestampType::CreateTime {
            assert_eq!(a.timestamp, b.timestamp, "round trip changed a timestamp");
        }
    }
}

/// Both modes: valid batches as they are, and built-mode inputs whose records section is a
/// batch's records (plain for the harness to compress, or already compressed).
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for batch in super::record_batch::sample_batches() {
        let header = validate(&batch, false).expect("sample batches are valid");
        let codec = header.compression().expect("valid");
        let codec_id = codecs::ALL.iter().position(|c| *c == codec).unwrap_or(0) as u8;
        seeds.push([&[0u8][..], &batch].concat());
        let plain = codecs::decompress(codec, &batch[HEADER_LEN..]).expect("sample batches decompress");
        let log_append = if header.timestamp_type() == TimestampType::LogAppendTime { LOG_APPEND_TIME } else { 0 };
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
    seeds
}
