//! Records inside a v2 batch: decoding (after decompression) and building whole batches.
//!
//! The append path never comes here — batches are stored as received. Records are decoded
//! only where the log must look inside a batch: compaction, timestamp lookups and tests.
//! Building is used by compaction (rewriting a batch with fewer records, same offsets) and
//! by callers that write their own batches (tests, internal topics).

use bytes::Bytes;

use super::batch::{self, BatchDefect, BatchHeader, TimestampType, HEADER_LEN};
use super::compression::{Compression, CompressionError, StreamCompressError};

/// A header of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Header key (UTF-8 by convention, not enforced).
    pub key: Bytes,
    /// Header value; `None` is a null value.
    pub value: Option<Bytes>,
}

/// One record of a batch, with its offset and timestamp already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset (batch base offset + offset delta).
    pub offset: i64,
    /// Absolute timestamp, as the batch's timestamp type defines it.
    pub timestamp: i64,
    /// Record key; `None` is a null key.
    pub key: Option<Bytes>,
    /// Record value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Record headers.
    pub headers: Vec<RecordHeader>,
}

/// Decodes every record of one complete batch, decompressing if needed (up to
/// [`MAX_DECOMPRESSED_BYTES`](super::compression::MAX_DECOMPRESSED_BYTES)).
pub fn decode_records(batch_bytes: &[u8]) -> Result<(BatchHeader, Vec<Record>), BatchDefect> {
    decode_records_within(batch_bytes, super::compression::MAX_DECOMPRESSED_BYTES)
}

/// Rewrites one batch with its records compressed by `codec` (at `level`): same records,
/// offsets, timestamps and producer fields; only the attributes' codec bits, the length and
/// the CRC change. The records section streams from the old codec into the new one (the
/// records do not depend on the codec, so none is decoded): memory is the new batch, at most
/// `max_batch` bytes, and the records may inflate to at most `limit` bytes on the way.
pub fn recompress_batch(batch_bytes: &[u8], codec: Compression, level: Option<i32>, limit: usize, max_batch: usize) -> Result<Vec<u8>, RecompressError> {
    let header = BatchHeader::parse(batch_bytes)?;
    let body = batch_bytes
        .get(HEADER_LEN..header.total_len())
        .ok_or(BatchDefect::Truncated { needed: header.total_len(), available: batch_bytes.len() })?;
    let mut inflating = std::io::Read::take(header.compression()?.reader(body)?, limit as u64 + 1);
    let mut counted = Counted { inner: &mut inflating, read: 0 };
    let packed = codec
        .compress_from(&mut counted, level, max_batch.saturating_sub(HEADER_LEN))
        .map_err(|e| match e {
            StreamCompressError::Input(e) => RecompressError::Defect(BatchDefect::Decompression(e.to_string())),
            StreamCompressError::TooLarge(_) => RecompressError::TooLarge,
            StreamCompressError::Codec(e) => RecompressError::Compression(e),
        })?;
    if counted.read > limit as u64 {
        return Err(BatchDefect::InflatesPastLimit { limit }.into());
    }
    let mut rewritten = header;
    rewritten.attributes = (header.attributes & !0x07) | codec.attribute_bits();
    let mut out = Vec::with_capacity(HEADER_LEN + packed.len());
    batch::write_header(&mut out, &rewritten, &packed);
    Ok(out)
}

/// Counts the bytes read through it.
struct Counted<'a, R> {
    inner: &'a mut R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Why [`recompress_batch`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RecompressError {
    /// The batch itself.
    #[error(transparent)]
    Defect(#[from] BatchDefect),
    /// The codec.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// The rewritten batch would pass the size it may have.
    #[error("the recompressed batch passes the size limit")]
    TooLarge,
}

/// [`decode_records`], refusing records that inflate past `limit` bytes.
pub fn decode_records_within(batch_bytes: &[u8], limit: usize) -> Result<(BatchHeader, Vec<Record>), BatchDefect> {
    let mut records = Vec::new();
    let header = for_each_record(batch_bytes, limit, |r| {
        records.push(r);
        Ok::<(), BatchDefect>(())
    })?;
    Ok((header, records))
}

/// Hands every record of one complete batch to `f`, one at a time, decompressing (up to
/// `limit` bytes) first. Memory stays at the decompressed records plus one [`Record`], however
/// many records the batch holds: the path for code that looks at each record and keeps few
/// (compaction, timestamp lookups).
pub fn for_each_record<E: From<BatchDefect>>(
    batch_bytes: &[u8],
    limit: usize,
    mut f: impl FnMut(Record) -> Result<(), E>,
) -> Result<BatchHeader, E> {
    let header = BatchHeader::parse(batch_bytes)?;
    let body = batch_bytes
        .get(HEADER_LEN..header.total_len())
        .ok_or(BatchDefect::Truncated { needed: header.total_len(), available: batch_bytes.len() })?;
    let plain = header.compression()?.decompress(body, limit)?;
    let data = Bytes::from(plain);
    let mut reader = Reader { data: &data, at: 0, owner: &data };
    let count = usize::try_from(header.records_count).unwrap_or(0);
    for _ in 0..count {
        f(reader.record(&header)?)?;
    }
    Ok(header)
}

/// A zigzag varlong (Kafka's record encoding) from the bytes `next` yields.
pub(super) fn decode_varlong(mut next: impl FnMut() -> Result<u8, BatchDefect>) -> Result<i64, BatchDefect> {
    let mut raw: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = next()?;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    Err(BatchDefect::MalformedRecord("varint longer than 10 bytes".into()))
}

/// A varlong that must fit a varint.
pub(super) fn varint_of(value: i64) -> Result<i32, BatchDefect> {
    i32::try_from(value).map_err(|_| BatchDefect::MalformedRecord("varint out of range".into()))
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    owner: &'a Bytes,
}

impl Reader<'_> {
    fn malformed(what: &str) -> BatchDefect {
        BatchDefect::MalformedRecord(what.to_string())
    }

    fn varlong(&mut self) -> Result<i64, BatchDefect> {
        decode_varlong(|| {
            let byte = *self.data.get(self.at).ok_or_else(|| Self::malformed("varint cut short"))?;
            self.at += 1;
            Ok(byte)
        })
    }

    fn varint(&mut self) -> Result<i32, BatchDefect> {
        varint_of(self.varlong()?)
    }

    fn bytes(&mut self, len: i32) -> Result<Option<Bytes>, BatchDefect> {
        if len < 0 {
            return Ok(None);
        }
        let end = self.at.checked_add(len as usize).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| Self::malformed("field runs past the record"))?;
        let slice = self.owner.slice(self.at..end);
        self.at = end;
        Ok(Some(slice))
    }

    fn record(&mut self, header: &BatchHeader) -> Result<Record, BatchDefect> {
        let length = self.varint()?;
        if length < 0 {
            return Err(Self::malformed("negative record length"));
        }
        let start = self.at;
        let end = start.checked_add(length as usize).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| Self::malformed("record runs past the batch"))?;
        self.at += 1; // attributes, unused in v2
        let timestamp_delta = self.varlong()?;
        let offset_delta = self.varint()?;
        let key_len = self.varint()?;
        let key = self.bytes(key_len)?;
        let value_len = self.varint()?;
        let value = self.bytes(value_len)?;
        let header_count = self.varint()?;
        let mut headers = Vec::with_capacity(usize::try_from(header_count).unwrap_or(0).min(64));
        for _ in 0..header_count.max(0) {
            let key_len = self.varint()?;
            let key = self.bytes(key_len)?.ok_or_else(|| Self::malformed("null header key"))?;
            let value_len = self.varint()?;
            headers.push(RecordHeader { key, value: self.bytes(value_len)? });
        }
        if self.at != end {
            return Err(Self::malformed("record length disagrees with its fields"));
        }
        let timestamp = match header.timestamp_type() {
            TimestampType::LogAppendTime => header.max_timestamp,
            TimestampType::CreateTime => header.base_timestamp.wrapping_add(timestamp_delta),
        };
        Ok(Record {
            offset: header.base_offset.checked_add(i64::from(offset_delta)).ok_or_else(|| Self::malformed("record offset out of range"))?,
            timestamp,
            key,
            value,
            headers,
        })
    }
}

fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

fn put_bytes(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => put_varlong(out, -1),
        Some(v) => {
            put_varlong(out, v.len() as i64);
            out.extend_from_slice(v);
        }
    }
}

/// Builds one v2 batch. Offsets and timestamps of added records are absolute; the builder
/// turns them into deltas against the batch's base offset and base timestamp.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    header: BatchHeader,
    compression: Compression,
    level: Option<i32>,
    records: Vec<u8>,
    first_timestamp: Option<i64>,
    last_offset: Option<i64>,
}

impl BatchBuilder {
    /// A batch for a non-idempotent producer, starting at `base_offset`.
    pub fn new(base_offset: i64, compression: Compression, timestamp_type: TimestampType) -> Self {
        Self {
            header: BatchHeader {
                base_offset,
                batch_length: 0,
                partition_leader_epoch: -1,
                magic: batch::MAGIC_V2,
                crc: 0,
                attributes: batch::attributes_for(compression, timestamp_type),
                last_offset_delta: -1,
                base_timestamp: -1,
                max_timestamp: -1,
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                records_count: 0,
            },
            compression,
            level: None,
            records: Vec::new(),
            first_timestamp: None,
            last_offset: None,
        }
    }

    /// Rebuilds a batch like `original` (same base offset, producer fields, attributes and
    /// base timestamp) to be filled with a subset of its records.
    pub fn like(original: &BatchHeader) -> Result<Self, BatchDefect> {
        let compression = original.compression()?;
        let mut header = *original;
        header.records_count = 0;
        Ok(Self {
            header,
            compression,
            level: None,
            records: Vec::new(),
            first_timestamp: Some(original.base_timestamp),
            last_offset: None,
        })
    }

    /// Compresses the records with `compression` instead (recompression to a topic's
    /// `compression.type`).
    pub fn with_compression(mut self, compression: Compression, level: Option<i32>) -> Self {
        self.header.attributes = (self.header.attributes & !0x07) | compression.attribute_bits();
        self.compression = compression;
        self.level = level;
        self
    }

    /// Marks the batch as written by an idempotent producer.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.header.producer_id = producer_id;
        self.header.producer_epoch = producer_epoch;
        self.header.base_sequence = base_sequence;
        self
    }

    /// Number of records added so far.
    pub fn len(&self) -> usize {
        self.header.records_count as usize
    }

    /// No record added yet.
    pub fn is_empty(&self) -> bool {
        self.header.records_count == 0
    }

    /// Adds a record at absolute `offset` (not below the base, increasing).
    pub fn push(&mut self, offset: i64, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[RecordHeader]) {
        let base_ts = *self.first_timestamp.get_or_insert(timestamp);
        let mut body = Vec::with_capacity(16 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len));
        body.push(0);
        put_varlong(&mut body, timestamp.wrapping_sub(base_ts));
        put_varlong(&mut body, offset - self.header.base_offset);
        put_bytes(&mut body, key);
        put_bytes(&mut body, value);
        put_varlong(&mut body, headers.len() as i64);
        for h in headers {
            put_bytes(&mut body, Some(&h.key));
            put_bytes(&mut body, h.value.as_deref());
        }
        put_varlong(&mut self.records, body.len() as i64);
        self.records.extend_from_slice(&body);
        self.header.records_count += 1;
        self.header.max_timestamp = self.header.max_timestamp.max(timestamp);
        self.last_offset = Some(offset);
    }

    /// Adds a decoded record, keeping its offset and timestamp.
    pub fn push_record(&mut self, r: &Record) {
        self.push(r.offset, r.timestamp, r.key.as_deref(), r.value.as_deref(), &r.headers);
    }

    /// Encodes the batch. `last_offset_delta` is kept from the original for rebuilt batches
    /// (compaction must not change a batch's offset span) and derived otherwise. Fails only
    /// when the codec does, and then builds nothing.
    pub fn build(mut self) -> Result<Vec<u8>, CompressionError> {
        self.header.base_timestamp = self.first_timestamp.unwrap_or(-1);
        if self.header.last_offset_delta < 0 {
            let last = self.last_offset.unwrap_or_else(|| self.header.base_offset.saturating_sub(1));
            self.header.last_offset_delta = (last - self.header.base_offset) as i32;
        }
        let payload = self.compression.compress_at(&self.records, self.level)?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        batch::write_header(&mut out, &self.header, &payload);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_batches_decode_to_what_was_put_in() {
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let mut b = BatchBuilder::new(100, codec, TimestampType::CreateTime).producer(7, 1, 42);
            b.push(100, 1_000, Some(b"k1"), Some(b"v1"), &[]);
            b.push(101, 990, None, None, &[RecordHeader { key: Bytes::from_static(b"h"), value: None }]);
            b.push(102, 1_050, Some(b""), Some(&[0u8; 300]), &[]);
            let bytes = b.build().unwrap();
            let header = batch::validate(&bytes, true).unwrap();
            assert_eq!(header.base_sequence, 42);
            assert_eq!(header.max_timestamp, 1_050);
            let (_, records) = decode_records(&bytes).unwrap();
            assert_eq!(records.len(), 3);
            assert_eq!(records[1].offset, 101);
            assert_eq!(records[1].timestamp, 990);
            assert_eq!(records[1].key, None);
            assert_eq!(records[1].headers.len(), 1);
            assert_eq!(records[2].value.as_deref(), Some(&[0u8; 300][..]));
        }
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0i64, 1, -1, 63, -64, 64, i32::MAX as i64, i32::MIN as i64, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            let owner = Bytes::from(out);
            let mut r = Reader { data: &owner, at: 0, owner: &owner };
            assert_eq!(r.varlong().unwrap(), v);
        }
    }
}
