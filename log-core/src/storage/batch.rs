//! Kafka RecordBatch v2 ("magic 2") framing: the header layout, validation and the few
//! in-place edits the broker makes on append (base offset, leader epoch, LogAppendTime).
//!
//! The log stores batches byte for byte as they are served, so this module is the whole of
//! the on-disk format below the segment level. It never decodes individual records (see
//! [`super::record`]) and never panics on any input: every accessor checks lengths first.
//!
//! ```text
//! offset  size  field                  covered by CRC
//!  0       8    baseOffset             no
//!  8       4    batchLength            no   (bytes after this field)
//! 12       4    partitionLeaderEpoch   no
//! 16       1    magic (= 2)            no
//! 17       4    crc (CRC-32C)          no
//! 21       2    attributes             yes  (compression, timestamp type, txn, control)
//! 23       4    lastOffsetDelta        yes
//! 27       8    baseTimestamp          yes
//! 35       8    maxTimestamp           yes
//! 43       8    producerId             yes
//! 51       2    producerEpoch          yes
//! 53       4    baseSequence           yes
//! 57       4    recordsCount           yes
//! 61       …    records                yes
//! ```

use super::compression::Compression;

/// Bytes before `batchLength`'s payload starts: base offset (8) + length (4).
pub const LOG_OVERHEAD: usize = 12;
/// Size of a v2 batch header, up to and including `recordsCount`.
pub const HEADER_LEN: usize = 61;
/// The only message format this engine stores.
pub const MAGIC_V2: i8 = 2;
/// Smallest batch header a segment scan needs: through `maxTimestamp`.
pub(crate) const SCAN_HEADER_LEN: usize = 43;

const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORDS_COUNT_AT: usize = 57;

const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// How a batch's timestamps are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Each record carries the time its producer created it.
    #[default]
    CreateTime,
    /// The broker stamped the batch on append; every record's timestamp is `maxTimestamp`.
    LogAppendTime,
}

/// What is wrong with a batch. The broker maps these to Kafka error codes
/// (`CrcMismatch` → CORRUPT_MESSAGE, the rest → CORRUPT_MESSAGE or INVALID_RECORD).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchDefect {
    /// Fewer bytes than a header or than the declared length.
    #[error("batch is cut short: {available} bytes present, {needed} needed")]
    Truncated {
        /// Bytes needed to go on.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// `batchLength` is negative or too small to hold a header.
    #[error("batch length {0} is invalid")]
    BadLength(i32),
    /// Magic byte other than 2.
    #[error("unsupported message format (magic {0}); only record batch v2 is stored")]
    UnsupportedMagic(i8),
    /// Stored CRC-32C does not match the bytes.
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the covered bytes.
        computed: u32,
    },
    /// `recordsCount` disagrees with `lastOffsetDelta`.
    #[error("record count {count} does not match last offset delta {last_offset_delta}")]
    RecordCountMismatch {
        /// Declared number of records.
        count: i32,
        /// Declared last offset delta.
        last_offset_delta: i32,
    },
    /// A producer sent a batch with no records.
    #[error("batch holds no records")]
    Empty,
    /// Compression codec id 5–7.
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// A record inside the batch could not be decoded.
    #[error("malformed record: {0}")]
    MalformedRecord(String),
    /// `baseOffset + lastOffsetDelta` leaves the range of offsets.
    #[error("base offset {base_offset} plus last offset delta {last_offset_delta} is out of range")]
    OffsetOverflow {
        /// The batch's base offset.
        base_offset: i64,
        /// Its last offset delta.
        last_offset_delta: i32,
    },
    /// The compressed records do not decompress (CORRUPT_MESSAGE).
    #[error("records do not decompress: {0}")]
    Decompression(String),
    /// The records inflate past what the topic accepts (MESSAGE_TOO_LARGE): refused without
    /// inflating them all.
    #[error("records inflate past {limit} bytes")]
    InflatesPastLimit {
        /// The bound.
        limit: usize,
    },
}

/// The parsed fixed-size header of one record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes following the length field.
    pub batch_length: i32,
    /// Leader epoch of the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// Message format (2).
    pub magic: i8,
    /// CRC-32C over attributes..end.
    pub crc: u32,
    /// Compression, timestamp type, transactional and control bits.
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (CreateTime).
    pub base_timestamp: i64,
    /// Largest record timestamp, or the append time for LogAppendTime.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub records_count: i32,
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}
fn be_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

/// Reads the base offset, length and last offset delta from the first
/// [`SCAN_HEADER_LEN`] bytes: all the segment scan needs to step from batch to batch.
pub(crate) fn scan_header(buf: &[u8]) -> Result<ScanHeader, BatchDefect> {
    if buf.len() < SCAN_HEADER_LEN {
        return Err(BatchDefect::Truncated { needed: SCAN_HEADER_LEN, available: buf.len() });
    }
    let batch_length = be_i32(buf, BATCH_LENGTH_AT);
    if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(BatchDefect::BadLength(batch_length));
    }
    let magic = buf[MAGIC_AT] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchDefect::UnsupportedMagic(magic));
    }
    let (base, delta) = (be_i64(buf, 0), be_i32(buf, LAST_OFFSET_DELTA_AT));
    if base.checked_add(i64::from(delta)).is_none_or(|last| last == i64::MAX) {
        // Offsets near i64's ends cannot be stored or followed by another record.
        return Err(BatchDefect::OffsetOverflow { base_offset: base, last_offset_delta: delta });
    }
    Ok(ScanHeader {
        base_offset: be_i64(buf, 0),
        total_len: LOG_OVERHEAD + batch_length as usize,
        last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_AT),
        max_timestamp: be_i64(buf, MAX_TIMESTAMP_AT),
    })
}

/// The part of a header needed to walk a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanHeader {
    pub base_offset: i64,
    pub total_len: usize,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
}

impl ScanHeader {
    /// Cannot overflow: `scan_header` refuses headers whose last offset would.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Checks the length field and magic, not the CRC.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchDefect> {
        if buf.len() < HEADER_LEN {
            return Err(BatchDefect::Truncated { needed: HEADER_LEN, available: buf.len() });
        }
        scan_header(buf)?;
        Ok(Self {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, BATCH_LENGTH_AT),
            partition_leader_epoch: be_i32(buf, LEADER_EPOCH_AT),
            magic: buf[MAGIC_AT] as i8,
            crc: u32::from_be_bytes([buf[CRC_AT], buf[CRC_AT + 1], buf[CRC_AT + 2], buf[CRC_AT + 3]]),
            attributes: be_i16(buf, ATTRIBUTES_AT),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_AT),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_AT),
            producer_id: be_i64(buf, PRODUCER_ID_AT),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_AT),
            base_sequence: be_i32(buf, BASE_SEQUENCE_AT),
            records_count: be_i32(buf, RECORDS_COUNT_AT),
        })
    }

    /// Whole size of the batch on disk and on the wire.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// Offset of the batch's last record (`parse` refuses headers where this overflows).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    /// The batch's compression codec.
    pub fn compression(&self) -> Result<Compression, BatchDefect> {
        Compression::from_attributes(self.attributes)
    }

    /// How the batch's timestamps are to be read.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// A control batch (transaction markers), not user data.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }
}

/// Computes the CRC-32C a batch's header should carry.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_AT..).unwrap_or_default())
}

/// Checks one complete batch (exactly `batch.len()` bytes): length, magic, CRC and — for
/// batches from producers (`from_producer`) — that it is non-empty and its record count
/// matches its offset span.
pub fn validate(batch: &[u8], from_producer: bool) -> Result<BatchHeader, BatchDefect> {
    let header = BatchHeader::parse(batch)?;
    if header.total_len() != batch.len() {
        return Err(BatchDefect::Truncated { needed: header.total_len(), available: batch.len() });
    }
    let computed = compute_crc(batch);
    if computed != header.crc {
        return Err(BatchDefect::CrcMismatch { stored: header.crc, computed });
    }
    header.compression()?;
    if header.records_count < 0 || header.last_offset_delta < -1 {
        return Err(BatchDefect::RecordCountMismatch {
            count: header.records_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    if from_producer {
        if header.records_count == 0 {
            return Err(BatchDefect::Empty);
        }
        if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
            return Err(BatchDefect::RecordCountMismatch {
                count: header.records_count,
                last_offset_delta: header.last_offset_delta,
            });
        }
    }
    Ok(header)
}

/// Splits a buffer of concatenated batches, checking only that each declared length fits.
#[derive(Debug)]
pub struct Batches<'a> {
    buf: &'a [u8],
    position: usize,
}

impl<'a> Batches<'a> {
    /// Walks `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, position: 0 }
    }
}

impl<'a> Iterator for Batches<'a> {
    /// Position of the batch in the buffer and its bytes.
    type Item = Result<(usize, &'a [u8]), BatchDefect>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.position..];
        if rest.is_empty() {
            return None;
        }
        let result = scan_header(rest).and_then(|h| {
            if h.total_len > rest.len() {
                Err(BatchDefect::Truncated { needed: h.total_len, available: rest.len() })
            } else {
                Ok((self.position, &rest[..h.total_len]))
            }
        });
        match result {
            Ok((at, bytes)) => {
                self.position += bytes.len();
                Some(Ok((at, bytes)))
            }
            Err(e) => {
                self.position = self.buf.len();
                Some(Err(e))
            }
        }
    }
}

/// Writes the broker-assigned base offset (not covered by the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if batch.len() >= 8 {
        batch[..8].copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Writes the appending leader's epoch (not covered by the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    if batch.len() >= LEADER_EPOCH_AT + 4 {
        batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Stamps the batch with LogAppendTime: sets the timestamp-type bit and `maxTimestamp`,
/// then recomputes the CRC (both fields are covered by it).
pub fn set_log_append_time(batch: &mut [u8], timestamp: i64) {
    if batch.len() < HEADER_LEN {
        return;
    }
    let attributes = be_i16(batch, ATTRIBUTES_AT) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Writes a complete header for `records` (already encoded, possibly compressed) into `out`.
pub(crate) fn write_header(out: &mut Vec<u8>, h: &BatchHeader, records: &[u8]) {
    let start = out.len();
    let batch_length = (HEADER_LEN - LOG_OVERHEAD + records.len()) as i32;
    out.extend_from_slice(&h.base_offset.to_be_bytes());
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&h.partition_leader_epoch.to_be_bytes());
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&h.attributes.to_be_bytes());
    out.extend_from_slice(&h.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&h.base_timestamp.to_be_bytes());
    out.extend_from_slice(&h.max_timestamp.to_be_bytes());
    out.extend_from_slice(&h.producer_id.to_be_bytes());
    out.extend_from_slice(&h.producer_epoch.to_be_bytes());
    out.extend_from_slice(&h.base_sequence.to_be_bytes());
    out.extend_from_slice(&h.records_count.to_be_bytes());
    out.extend_from_slice(records);
    let crc = compute_crc(&out[start..]);
    out[start + CRC_AT..start + CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Attribute bits for a codec and timestamp type.
pub(crate) fn attributes_for(compression: Compression, timestamp_type: TimestampType) -> i16 {
    let ts = match timestamp_type {
        TimestampType::CreateTime => 0,
        TimestampType::LogAppendTime => TIMESTAMP_TYPE_BIT,
    };
    compression.attribute_bits() | ts
}
