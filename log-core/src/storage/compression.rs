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

/// Largest decompressed size accepted for one batch.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_BLOCK: usize = 32 * 1024;

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

    pub(crate) fn attribute_bits(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// Inflates `data`, refusing output larger than [`MAX_DECOMPRESSED_BYTES`].
    pub fn decompress(self, data: &[u8]) -> Result<Vec<u8>, BatchDefect> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            BatchDefect::MalformedRecord(format!("{what} decompression failed: {e}"))
        };
        let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
        let mut out = Vec::new();
        match self {
            Self::None => out.extend_from_slice(data),
            Self::Gzip => {
                flate2::read::MultiGzDecoder::new(data)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| bad("gzip", &e))?;
            }
            Self::Lz4 => {
                lz4_flex::frame::FrameDecoder::new(data)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| bad("lz4", &e))?;
            }
            Self::Zstd => {
                zstd::stream::read::Decoder::new(data)
                    .map_err(|e| bad("zstd", &e))?
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|e| bad("zstd", &e))?;
            }
            Self::Snappy => out = snappy_decompress(data)?,
        }
        if out.len() > MAX_DECOMPRESSED_BYTES {
            return Err(BatchDefect::MalformedRecord(format!(
                "batch inflates past {MAX_DECOMPRESSED_BYTES} bytes"
            )));
        }
        Ok(out)
    }

    /// Compresses `data` with this codec.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        // Writing into a Vec cannot fail; the fallbacks only satisfy the types.
        match self {
            Self::None => data.to_vec(),
            Self::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                let _ = enc.write_all(data);
                enc.finish().unwrap_or_default()
            }
            Self::Lz4 => {
                let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
                let _ = enc.write_all(data);
                enc.finish().unwrap_or_default()
            }
            Self::Zstd => zstd::bulk::compress(data, 3).unwrap_or_default(),
            Self::Snappy => snappy_compress_xerial(data),
        }
    }
}

fn snappy_decompress(data: &[u8]) -> Result<Vec<u8>, BatchDefect> {
    let raw = |block: &[u8]| -> Result<Vec<u8>, BatchDefect> {
        let len = snap::raw::decompress_len(block)
            .map_err(|e| BatchDefect::MalformedRecord(format!("snappy: {e}")))?;
        if len > MAX_DECOMPRESSED_BYTES {
            return Err(BatchDefect::MalformedRecord("snappy block too large".into()));
        }
        snap::raw::Decoder::new()
            .decompress_vec(block)
            .map_err(|e| BatchDefect::MalformedRecord(format!("snappy: {e}")))
    };
    if !data.starts_with(XERIAL_MAGIC) {
        return raw(data);
    }
    // xerial framing: magic, version (4), compatible version (4), then length-prefixed blocks.
    let mut rest = data.get(16..).unwrap_or_default();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some(len_bytes) = rest.get(..4) else {
            return Err(BatchDefect::MalformedRecord("snappy block length cut short".into()));
        };
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let Some(block) = rest.get(4..4 + len) else {
            return Err(BatchDefect::MalformedRecord("snappy block cut short".into()));
        };
        out.extend_from_slice(&raw(block)?);
        if out.len() > MAX_DECOMPRESSED_BYTES {
            return Err(BatchDefect::MalformedRecord("snappy output too large".into()));
        }
        rest = &rest[4 + len..];
    }
    Ok(out)
}

fn snappy_compress_xerial(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in data.chunks(XERIAL_BLOCK) {
        let block = encoder.compress_vec(chunk).unwrap_or_default();
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for codec in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            let packed = codec.compress(&data);
            assert_eq!(codec.decompress(&packed).unwrap(), data, "{codec:?}");
        }
    }

    #[test]
    fn raw_snappy_is_accepted_too() {
        let data = b"hello hello hello hello".repeat(10);
        let packed = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(Compression::Snappy.decompress(&packed).unwrap(), data);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            assert!(codec.decompress(b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\xff\xff\xff\xffxx").is_err() || codec != Compression::Snappy);
            assert!(codec.decompress(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).is_err(), "{codec:?}");
        }
    }
}
