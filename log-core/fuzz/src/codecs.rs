//! The only place the harness calls `Compression::compress` and `Compression::decompress`.

use fjord_log_core::storage::{BatchDefect, Compression, MAX_DECOMPRESSED_BYTES};

/// Every codec, in attribute-bit order.
pub const ALL: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

/// The largest output a successful decompression may return.
pub const DECOMPRESS_LIMIT: usize = MAX_DECOMPRESSED_BYTES;

/// The codec an input byte selects.
pub fn pick(selector: u8) -> Compression {
    ALL[usize::from(selector) % ALL.len()]
}

/// Compresses `data` with `codec`.
pub fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    codec.compress(data).expect("compressing into memory cannot fail")
}

/// Decompresses `data` with `codec`, checking the size bound every caller relies on.
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, BatchDefect> {
    let out = codec.decompress(data, DECOMPRESS_LIMIT)?;
    assert!(out.len() <= DECOMPRESS_LIMIT, "{codec:?} returned {} bytes, past the limit {DECOMPRESS_LIMIT}", out.len());
    Ok(out)
}
