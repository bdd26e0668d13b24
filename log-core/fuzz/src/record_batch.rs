//! Target `record_batch`: the RecordBatch v2 framing of `storage::batch` on arbitrary bytes —
//! `BatchHeader::parse`, `validate`, `Batches` and the in-place edits.
//!
//! Input: bytes as a producer or a segment file would hold them, one batch or several
//! concatenated. Checks, against an independent reading of the layout drawn in
//! `storage/batch.rs`:
//!
//! - `BatchHeader::parse` and `validate` (both modes) return exactly the header or the first
//!   defect the layout implies, and when `validate` passes its claims hold: the length is the
//!   input's, the CRC is the bytes', the codec is known, the counts agree, the last offset is
//!   one a log can hold (`baseOffset + lastOffsetDelta` inside `i64` and below `i64::MAX`, else
//!   `OffsetOverflow`);
//! - `Batches` splits into contiguous pieces inside the input, each a parsable header whose
//!   length is the piece's, stops after its first error (exactly the one the segment scan's
//!   reading of the first 43 header bytes implies), and covers the input when none;
//! - each piece is validated as it is, and again with its CRC recomputed (to get past the CRC
//!   check); a valid piece stays valid, with the new values, after `set_base_offset`,
//!   `set_partition_leader_epoch` and `set_log_append_time`.

use super::{storable_last_offset, Depth};
use fjord_log_core::storage::{
    compute_crc, set_base_offset, set_log_append_time, set_partition_leader_epoch, validate, BatchDefect,
    BatchHeader, Batches, TimestampType, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
};

/// Where the CRC field lies (`storage/batch.rs`).
const CRC_AT: usize = 17;
/// Header bytes the segment scan (and so `Batches`) reads: through `maxTimestamp`.
const SCAN_HEADER_LEN: usize = 43;

/// Runs one input: deep when a piece was valid, as it is or with its CRC fixed.
pub fn run(data: &[u8]) -> Depth {
    let mut depth = Depth::Shallow;
    check_parse(data);
    check_validate(data);
    let mut end = 0;
    let mut failed = false;
    for (i, item) in Batches::new(data).enumerate() {
        assert!(!failed, "Batches yielded an item after an error");
        assert!(i <= data.len() / HEADER_LEN, "Batches yielded more pieces than fit");
        match item {
            Ok((position, piece)) => {
                assert_eq!(position, end, "pieces must be contiguous");
                assert!(piece.len() >= HEADER_LEN, "a piece of {} bytes cannot hold a header", piece.len());
                assert!(std::ptr::eq(piece.as_ptr(), data[position..].as_ptr()), "the piece is not the input's bytes");
                end += piece.len();
                assert!(end <= data.len(), "piece runs past the input");
                let header = BatchHeader::parse(piece).expect("Batches yields only parsable headers");
                assert_eq!(header.total_len(), piece.len(), "piece length disagrees with its header");
                if check_piece(piece) {
                    depth = Depth::Deep;
                }
            }
            Err(defect) => {
                failed = true;
                let rest = &data[end..];
                assert!(!rest.is_empty(), "error past the end");
                assert_eq!(Err(defect), expected_piece(rest), "Batches disagrees with the layout");
            }
        }
    }
    if !failed {
        assert_eq!(end, data.len(), "Batches stopped early without an error");
    }
    check_edits_never_panic(data);
    depth
}

/// One piece from `Batches`: validated as it is, then with its CRC fixed. True when the fixed
/// piece is valid.
fn check_piece(piece: &[u8]) -> bool {
    check_validate(piece);
    let mut fixed = piece.to_vec();
    let crc = compute_crc(&fixed);
    fixed[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    check_validate(&fixed);
    let valid = validate(&fixed, false).is_ok();
    if valid {
        check_edits(&fixed);
    }
    valid
}

fn be(buf: &[u8], at: usize, len: usize) -> i64 {
    buf[at..at + len].iter().fold(0i64, |acc, &b| (acc << 8) | i64::from(b))
}

/// The framing checks common to a header and a segment scan's step, on at least
/// [`SCAN_HEADER_LEN`] bytes: length, magic, offset range. Returns the batch length.
fn expected_framing(buf: &[u8]) -> Result<i32, BatchDefect> {
    let batch_length = be(buf, 8, 4) as i32;
    if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(BatchDefect::BadLength(batch_length));
    }
    let magic = buf[16] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchDefect::UnsupportedMagic(magic));
    }
    let (base_offset, last_offset_delta) = (be(buf, 0, 8), be(buf, 23, 4) as i32);
    if storable_last_offset(base_offset, last_offset_delta).is_none() {
        return Err(BatchDefect::OffsetOverflow { base_offset, last_offset_delta });
    }
    Ok(batch_length)
}

/// What `Batches` must yield for the rest of a buffer: its first piece, or the error.
fn expected_piece(rest: &[u8]) -> Result<(usize, &[u8]), BatchDefect> {
    if rest.len() < SCAN_HEADER_LEN {
        return Err(BatchDefect::Truncated { needed: SCAN_HEADER_LEN, available: rest.len() });
    }
    let total = LOG_OVERHEAD + expected_framing(rest)? as usize;
    if total > rest.len() {
        return Err(BatchDefect::Truncated { needed: total, available: rest.len() });
    }
    Ok((0, &rest[..total]))
}

/// The header as the drawn layout reads it, without looking at the CRC.
fn expected_header(buf: &[u8]) -> Result<BatchHeader, BatchDefect> {
    if buf.len() < HEADER_LEN {
        return Err(BatchDefect::Truncated { needed: HEADER_LEN, available: buf.len() });
    }
    let batch_length = expected_framing(buf)?;
    Ok(BatchHeader {
        base_offset: be(buf, 0, 8),
        batch_length,
        partition_leader_epoch: be(buf, 12, 4) as i32,
        magic: MAGIC_V2,
        crc: be(buf, 17, 4) as u32,
        attributes: be(buf, 21, 2) as i16,
        last_offset_delta: be(buf, 23, 4) as i32,
        base_timestamp: be(buf, 27, 8),
        max_timestamp: be(buf, 35, 8),
        producer_id: be(buf, 43, 8),
        producer_epoch: be(buf, 51, 2) as i16,
        base_sequence: be(buf, 53, 4) as i32,
        records_count: be(buf, 57, 4) as i32,
    })
}

/// What `validate` must answer, from the layout and Kafka's rules.
fn expected_validation(buf: &[u8], from_producer: bool) -> Result<BatchHeader, BatchDefect> {
    let h = expected_header(buf)?;
    let total = LOG_OVERHEAD + h.batch_length as usize;
    if total != buf.len() {
        return Err(BatchDefect::Truncated { needed: total, available: buf.len() });
    }
    let computed = crc32c_of(&buf[21..]);
    if computed != h.crc {
        return Err(BatchDefect::CrcMismatch { stored: h.crc, computed });
    }
    let codec = h.attributes & 0x07;
    if codec > 4 {
        return Err(BatchDefect::UnknownCompression(codec as u8));
    }
    let mismatch = BatchDefect::RecordCountMismatch { count: h.records_count, last_offset_delta: h.last_offset_delta };
    if h.records_count < 0 || h.last_offset_delta < -1 {
        return Err(mismatch);
    }
    if from_producer {
        if h.records_count == 0 {
            return Err(BatchDefect::Empty);
        }
        if i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1 {
            return Err(mismatch);
        }
    }
    Ok(h)
}

/// CRC-32C (Castagnoli), bit by bit: independent of the `crc32c` crate log-core uses.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

fn check_parse(buf: &[u8]) {
    let parsed = BatchHeader::parse(buf);
    assert_eq!(parsed, expected_header(buf), "BatchHeader::parse disagrees with the layout");
    if let Ok(h) = parsed {
        assert_eq!(h.total_len(), LOG_OVERHEAD + h.batch_length as usize);
        assert_eq!(h.compression().is_ok(), h.attributes & 0x07 <= 4);
        let log_append = h.attributes & (1 << 3) != 0;
        assert_eq!(h.timestamp_type() == TimestampType::LogAppendTime, log_append);
        assert_eq!(h.is_transactional(), h.attributes & (1 << 4) != 0);
        assert_eq!(h.is_control(), h.attributes & (1 << 5) != 0);
        let last = storable_last_offset(h.base_offset, h.last_offset_delta).expect("parse refuses unstorable offsets");
        assert_eq!(h.last_offset(), last);
    }
}

fn check_validate(buf: &[u8]) {
    let as_stored = validate(buf, false);
    let from_producer = validate(buf, true);
    assert_eq!(as_stored, expected_validation(buf, false), "validate(_, false) disagrees with the layout");
    assert_eq!(from_producer, expected_validation(buf, true), "validate(_, true) disagrees with the layout");
    if let Ok(h) = &from_producer {
        assert!(as_stored.is_ok(), "a batch valid from a producer must be valid as stored");
        assert!(h.records_count >= 1);
    }
    if let Ok(h) = as_stored {
        // The claims of a valid header, restated on the bytes.
        assert_eq!(h.total_len(), buf.len(), "a valid batch's length is the input's");
        assert_eq!(compute_crc(buf), h.crc);
        assert!(h.compression().is_ok());
        assert!(h.records_count >= 0 && h.last_offset_delta >= -1);
        assert_eq!(BatchHeader::parse(buf), Ok(h));
        let mut pieces = Batches::new(buf);
        assert_eq!(pieces.next(), Some(Ok((0, buf))), "a valid batch is one piece");
        assert_eq!(pieces.next(), None);
    }
}

/// The in-place edits keep a valid batch valid and change only what they say.
fn check_edits(valid: &[u8]) {
    let original = validate(valid, false).expect("called on valid batches");
    // Values drawn from the batch itself, so that they vary with the input.
    let new_offset = (i64::from(original.crc) << 20) ^ original.max_timestamp;
    let new_epoch = original.crc as i32;
    let new_time = original.base_timestamp.rotate_left(7);

    let mut edited = valid.to_vec();
    set_base_offset(&mut edited, new_offset);
    let rebased = match storable_last_offset(new_offset, original.last_offset_delta) {
        Some(_) => Ok(BatchHeader { base_offset: new_offset, ..original }),
        None => Err(BatchDefect::OffsetOverflow { base_offset: new_offset, last_offset_delta: original.last_offset_delta }),
    };
    assert_eq!(validate(&edited, false), rebased, "set_base_offset({new_offset})");
    // The edge: the batch moved so that its last offset is the highest a log can hold
    // (i64::MAX - 1), and one further.
    let highest = i64::MAX - 1 - i64::from(original.last_offset_delta);
    for base in [Some(highest), highest.checked_add(1)].into_iter().flatten() {
        set_base_offset(&mut edited, base);
        let expected = if base == highest {
            Ok(BatchHeader { base_offset: base, ..original })
        } else {
            Err(BatchDefect::OffsetOverflow { base_offset: base, last_offset_delta: original.last_offset_delta })
        };
        assert_eq!(validate(&edited, false), expected, "set_base_offset({base}), at the edge of the offset range");
    }

    let mut edited = valid.to_vec();
    set_partition_leader_epoch(&mut edited, new_epoch);
    assert_eq!(validate(&edited, false), Ok(BatchHeader { partition_leader_epoch: new_epoch, ..original }));

    let mut edited = valid.to_vec();
    set_log_append_time(&mut edited, new_time);
    let stamped = validate(&edited, false).expect("set_log_append_time must keep the CRC right");
    assert_eq!(stamped.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(stamped.max_timestamp, new_time);
    assert_eq!(
        BatchHeader { attributes: original.attributes, max_timestamp: original.max_timestamp, crc: original.crc, ..stamped },
        original,
        "set_log_append_time changed more than the timestamp type and max timestamp",
    );
    assert_eq!(stamped.attributes, original.attributes | (1 << 3));
    assert_eq!(edited[HEADER_LEN..], valid[HEADER_LEN..], "the records must not change");
}

/// The edits check lengths themselves: any buffer, however short, is safe to pass.
fn check_edits_never_panic(data: &[u8]) {
    let mut copy = data.to_vec();
    set_base_offset(&mut copy, 1);
    set_partition_leader_epoch(&mut copy, 1);
    set_log_append_time(&mut copy, 1);
    assert_eq!(copy.len(), data.len());
    let _ = compute_crc(data);
}

/// Valid batches built with `BatchBuilder`: each codec, alone and concatenated, plus a torn
/// one.
pub fn seeds() -> Vec<Vec<u8>> {
    let batches = sample_batches();
    let mut seeds = batches.clone();
    seeds.push(batches.concat());
    let mut torn = batches[0].clone();
    torn.extend_from_slice(&batches[1][..HEADER_LEN + 3]);
    seeds.push(torn);
    seeds
}

/// A few valid batches covering the codecs, timestamp types and producer fields.
pub fn sample_batches() -> Vec<Vec<u8>> {
    use fjord_log_core::storage::{BatchBuilder, RecordHeader};
    let mut out = Vec::new();
    for (i, codec) in super::codecs::ALL.iter().enumerate() {
        let timestamp_type = if i % 2 == 0 { TimestampType::CreateTime } else { TimestampType::LogAppendTime };
        let mut b = BatchBuilder::new(10 * i as i64, *codec, timestamp_type);
        if i % 2 == 1 {
            b = b.producer(1000 + i as i64, 1, 7);
        }
        let base = 10 * i as i64;
        b.push(base, 1_700_000_000_000, Some(b"key-a"), Some(b"value-a"), &[]);
        let header = RecordHeader { key: bytes::Bytes::from_static(b"h"), value: Some(bytes::Bytes::from_static(b"v")) };
        b.push(base + 1, 1_700_000_000_005, None, Some(&[b'x'; 40]), &[header]);
        // The last batch leaves a gap, as compaction does: valid as stored, not from a producer.
        let last = if i == 4 { base + 3 } else { base + 2 };
        b.push(last, 1_699_999_999_990, Some(b"key-c"), None, &[]);
        out.push(b.build().expect("a sample batch builds"));
    }
    // At the top of the offset range: the last record at i64::MAX - 1, the highest a log holds.
    let base = i64::MAX - 3;
    let mut b = BatchBuilder::new(base, super::codecs::ALL[4], TimestampType::CreateTime);
    for i in 0..3 {
        b.push(base + i, 1_700_000_000_000 + i, Some(format!("edge-{i}").as_bytes()), Some(b"v"), &[]);
    }
    out.push(b.build().expect("a sample batch builds"));
    out
}
