//! Record-batch compression codecs as Kafka defines them (attribute bits 0–2).
//!
//! The log never recompresses on append; it only needs codecs where it must look inside a
//! batch: compaction (which rewrites batches) and timestamp lookups. Decompression is bounded
//! so a hostile batch cannot inflate without limit.

use std::io::{Read, Write};

use super::batch::BatchDefect;

/// A Kafka compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// Snappy (id 2), raw or in the xerial framing the Java client writes.
    Snappy,
    /// LZ4 frame format (id 3).
    Lz4,
    /// Zstandard (id 4).
    Zstd,
}

/// Largest decompressed size of one batch when the caller has no limit of its own (reading
/// stored batches: compaction, timestamp lookups). Producer batches are bounded by their
/// topic's `max.message.bytes` instead (see `validator`).
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// Largest zstd window a batch may ask for (2^24 = 16 MiB). The decoder allocates the window
/// up front, so without a cap a tiny hostile frame could make it reserve 128 MiB or more;
/// Kafka clients' zstd frames use windows of a few MiB at most.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_BLOCK: usize = 32 * 1024;
/// More than the largest expansion a snappy block can encode (a 64-byte copy in 3 bytes).
const SNAPPY_MAX_RATIO: usize = 24;

/// Compressing a batch failed: the batch is not written (nothing is ever stored half-built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codec:?} compression failed: {reason}")]
pub struct CompressionError {
    /// The codec.
    pub codec: Compression,
    /// What the encoder reported.
    pub reason: String,
}

impl Compression {
    /// The codec encoded in a batch's attributes.
    pub fn from_attributes(attributes: i16) -> Result<Self, BatchDefect> {
        match attributes & 0x07 {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            other => Err(BatchDefect::UnknownCompression(other as u8)),
        }
    }

    /// The codec named by a `compression.type` value (`none` and `uncompressed` alike).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" | "uncompressed" => Some(Self::None),
            "gzip" => Some(Self::Gzip),
            "snappy" => Some(Self::Snappy),
            "lz4" => Some(Self::Lz4),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The codec's `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "uncompressed",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    pub(crate) fn attribute_bits(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// A reader of `data` inflated: bytes come out as they are decompressed, so a caller that
    /// walks them needs no buffer for the whole batch. It does not bound the output; wrap it
    /// in [`Read::take`] (or count) to refuse batches that inflate too far.
    pub fn reader<'a>(self, data: &'a [u8]) -> Result<Box<dyn Read + Send + 'a>, BatchDefect> {
        Ok(match self {
            Self::None => Box::new(data),
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
            Self::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(data)),
            Self::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt("zstd", &e))?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(|e| corrupt("zstd", &e))?;
                Box::new(decoder)
            }
            Self::Snappy => Box::new(SnappyReader::new(data)?),
        })
    }

    /// Inflates `data`, refusing output larger than `limit` bytes
    /// ([`BatchDefect::InflatesPastLimit`]) without producing more than that.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Vec<u8>, BatchDefect> {
        let mut out = Vec::new();
        self.reader(data)?
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| decompression_failed(self, &e))?;
        if out.len() > limit {
            return Err(BatchDefect::InflatesPastLimit { limit });
        }
        Ok(out)
    }

    /// Compresses `data` with this codec at its default level.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        self.compress_at(data, None)
    }

    /// Compresses `data` at `level` (the topic's `compression.<codec>.level`; gzip -1 and
    /// `None` mean the codec's default; LZ4 and Snappy have no levels here).
    pub fn compress_at(self, data: &[u8], level: Option<i32>) -> Result<Vec<u8>, CompressionError> {
        // Reading a slice cannot fail and the output is unbounded: only the codec can.
        self.compress_from(&mut &data[..], level, usize::MAX).map_err(|e| match e {
            StreamCompressError::Codec(e) => e,
            other => CompressionError { codec: self, reason: other.to_string() },
        })
    }
}

/// Why [`Compression::compress_from`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamCompressError {
    /// Reading the input failed (for an inflating reader: the data is corrupt).
    #[error("reading the input failed: {0}")]
    Input(std::io::Error),
    /// The output passed the cap.
    #[error("compressed output passes {0} bytes")]
    TooLarge(usize),
    /// The codec failed.
    #[error(transparent)]
    Codec(#[from] CompressionError),
}

impl Compression {
    /// Compresses everything `source` yields, at `level`, without holding the input: memory
    /// is the output (at most `max_output` bytes, refused as soon as it would pass) and the
    /// codec's window. Recompression to a topic's codec streams a batch through this.
    pub fn compress_from(self, source: &mut dyn Read, level: Option<i32>, max_output: usize) -> Result<Vec<u8>, StreamCompressError> {
        let failed = |e: &dyn std::fmt::Display| StreamCompressError::Codec(CompressionError { codec: self, reason: e.to_string() });
        let mut out = CappedOutput { out: Vec::new(), max: max_output, passed: false };
        let mut input = ReadErrors { inner: source, error: None };
        let copied = match self {
            Self::None => std::io::copy(&mut input, &mut out).map(|_| ()),
            Self::Gzip => {
                let level = match level {
                    Some(l @ 1..=9) => flate2::Compression::new(l as u32),
                    _ => flate2::Compression::default(),
                };
                let mut enc = flate2::write::GzEncoder::new(&mut out, level);
                std::io::copy(&mut input, &mut enc).and_then(|_| enc.finish().map(|_| ()))
            }
            Self::Lz4 => {
                let mut enc = lz4_flex::frame::FrameEncoder::new(&mut out);
                std::io::copy(&mut input, &mut enc).and_then(|_| enc.finish().map(|_| ()).map_err(std::io::Error::other))
            }
            Self::Zstd => match zstd::stream::write::Encoder::new(&mut out, level.unwrap_or(3)) {
                Ok(mut enc) => std::io::copy(&mut input, &mut enc).and_then(|_| enc.finish().map(|_| ())),
                Err(e) => return Err(failed(&e)),
            },
            Self::Snappy => snappy_compress_xerial(&mut input, &mut out),
        };
        if let Some(e) = input.error.take() {
            return Err(StreamCompressError::Input(e));
        }
        if out.passed {
            return Err(StreamCompressError::TooLarge(max_output));
        }
        copied.map_err(|e| failed(&e))?;
        Ok(out.out)
    }
}

/// A `Vec` that refuses to grow past `max` bytes.
struct CappedOutput {
    out: Vec<u8>,
    max: usize,
    passed: bool,
}

impl Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.max {
            self.passed = true;
            return Err(std::io::Error::other("output too large"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A reader that remembers its own error, so that a failed read of the input is told apart
/// from a failed write of the output.
struct ReadErrors<'a> {
    inner: &'a mut dyn Read,
    error: Option<std::io::Error>,
}

impl Read for ReadErrors<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| self.error = Some(std::io::Error::new(e.kind(), e.to_string())))
    }
}

/// Snappy in the xerial framing the Java client writes (magic, versions, then
/// length-prefixed raw blocks of 32 KiB of input), from a reader, block by block.
fn snappy_compress_xerial(input: &mut dyn Read, out: &mut CappedOutput) -> std::io::Result<()> {
    out.write_all(XERIAL_MAGIC)?;
    out.write_all(&1i32.to_be_bytes())?;
    out.write_all(&1i32.to_be_bytes())?;
    let mut encoder = snap::raw::Encoder::new();
    let mut chunk = vec![0u8; XERIAL_BLOCK];
    loop {
        let mut filled = 0;
        while filled < chunk.len() {
            match input.read(&mut chunk[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(());
        }
        let block = encoder.compress_vec(&chunk[..filled]).map_err(std::io::Error::other)?;
        out.write_all(&(block.len() as u32).to_be_bytes())?;
        out.write_all(&block)?;
        if filled < chunk.len() {
            return Ok(());
        }
    }
}

fn corrupt(what: &str, e: &dyn std::fmt::Display) -> BatchDefect {
    BatchDefect::Decompression(format!("{what}: {e}"))
}

/// A read error of a decompressor: the bound's own error passes through, anything else is
/// corrupt data.
fn decompression_failed(codec: Compression, e: &std::io::Error) -> BatchDefect {
    corrupt(codec.name(), e)
}

/// Snappy as Kafka clients write it: the xerial framing (magic, versions, then
/// length-prefixed raw blocks, what the Java client writes), or one raw block (what
/// librdkafka writes). Blocks are inflated one at a time.
struct SnappyReader<'a> {
    /// Raw blocks not inflated yet (xerial), or the single raw block.
    rest: &'a [u8],
    xerial: bool,
    block: Vec<u8>,
    at: usize,
}

impl<'a> SnappyReader<'a> {
    fn new(data: &'a [u8]) -> Result<Self, BatchDefect> {
        if data.starts_with(XERIAL_MAGIC) {
            let rest = data.get(16..).ok_or_else(|| corrupt("snappy", &"xerial header cut short"))?;
            Ok(Self { rest, xerial: true, block: Vec::new(), at: 0 })
        } else {
            Ok(Self { rest: data, xerial: false, block: Vec::new(), at: 0 })
        }
    }

    /// Inflates the next block into `block`; false at the end.
    fn next_block(&mut self) -> std::io::Result<bool> {
        if self.rest.is_empty() {
            return Ok(false);
        }
        let raw = if self.xerial {
            let len_bytes: [u8; 4] = self
                .rest
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| std::io::Error::other("snappy block length cut short"))?;
            let len = u32::from_be_bytes(len_bytes) as usize;
            let block = self.rest.get(4..4 + len).ok_or_else(|| std::io::Error::other("snappy block cut short"))?;
            self.rest = &self.rest[4 + len..];
            block
        } else {
            std::mem::take(&mut self.rest)
        };
        let len = snap::raw::decompress_len(raw).map_err(std::io::Error::other)?;
        // A raw block says how large it inflates; refuse absurd claims before allocating. No
        // snappy element expands more than 64 bytes out of 3, so no honest block claims more
        // than ~22 times its own size.
        if len > MAX_DECOMPRESSED_BYTES || len > raw.len().saturating_mul(SNAPPY_MAX_RATIO) + 64 {
            return Err(std::io::Error::other(format!("snappy block of {} bytes claims {len} bytes", raw.len())));
        }
        self.block.resize(len, 0);
        let n = snap::raw::Decoder::new().decompress(raw, &mut self.block).map_err(std::io::Error::other)?;
        self.block.truncate(n);
        self.at = 0;
        Ok(true)
    }
}

impl Read for SnappyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = codec.compress(&data).unwrap();
            assert_eq!(codec.decompress(&packed, data.len()).unwrap(), data, "{codec:?}");
        }
    }

    #[test]
    fn output_past_the_limit_is_refused_without_inflating_it_all() {
        // 64 MiB of zeros packs into a few KiB with every codec.
        let zeros = vec![0u8; 64 << 20];
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = codec.compress(&zeros).unwrap();
            assert!(packed.len() < 4 << 20, "{codec:?} packs zeros small");
            assert_eq!(codec.decompress(&packed, 1 << 20).unwrap_err(), BatchDefect::InflatesPastLimit { limit: 1 << 20 }, "{codec:?}");
        }
    }

    #[test]
    fn a_snappy_block_claiming_more_than_it_can_hold_is_refused_before_allocating() {
        // A varint claiming 256 MiB and two bytes of "data".
        let claim = [0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00];
        assert!(Compression::Snappy.decompress(&claim, 1 << 30).is_err());
        let zeros = vec![0u8; 1 << 20];
        let packed = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert_eq!(Compression::Snappy.decompress(&packed, 1 << 20).unwrap(), zeros, "real blocks stay within the ratio");
    }

    #[test]
    fn raw_snappy_is_accepted_too() {
        let data = b"hello hello hello hello".repeat(10);
        let packed = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(Compression::Snappy.decompress(&packed, 1 << 20).unwrap(), data);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            assert!(codec.decompress(b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\xff\xff\xff\xffxx", 1 << 20).is_err() || codec != Compression::Snappy);
            assert!(codec.decompress(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3], 1 << 20).is_err(), "{codec:?}");
        }
    }
}
