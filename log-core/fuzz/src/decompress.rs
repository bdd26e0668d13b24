//! Target `decompress`: every codec of `storage::Compression` on arbitrary bytes, and the
//! round trip compress → decompress.
//!
//! Input: one selector byte, then the data. Bits 0–2 of the selector pick the codec (none,
//! gzip, snappy, lz4, zstd; 5–7 wrap around), bit 3 picks the mode:
//!
//! - clear: decompress the data. `Ok` or `Err`, never a panic, never more than the limit,
//!   `None` returns the data unchanged, and snappy never more than its elements can encode.
//!   (A snappy block claiming more, or a zstd frame asking for a window past 16 MiB, is refused
//!   before anything is allocated: only `-malloc_limit_mb` can see that.)
//! - set: compress the data, then decompress it: the result must be the data.

use super::{codecs, Depth};
use fjord_log_core::storage::Compression;

const ROUND_TRIP: u8 = 1 << 3;
/// The most a snappy element inflates, per input byte (64 bytes from a 3-byte copy, rounded up).
const SNAPPY_RATIO: usize = 22;

/// Runs one input: deep when something decompressed (the round trip always does).
pub fn run(data: &[u8]) -> Depth {
    let Some((&selector, data)) = data.split_first() else { return Depth::Shallow };
    let codec = codecs::pick(selector & 0x07);
    if selector & ROUND_TRIP != 0 {
        let packed = codecs::compress(codec, data);
        match codecs::decompress(codec, &packed) {
            Ok(unpacked) => assert!(unpacked == data, "{codec:?}: the round trip changed {} bytes into {}", data.len(), unpacked.len()),
            Err(e) => panic!("{codec:?}: cannot decompress its own output of {} bytes: {e}", data.len()),
        }
        Depth::Deep
    } else {
        let result = codecs::decompress(codec, data);
        if codec == Compression::None {
            assert_eq!(result.as_deref(), Ok(data), "no compression must return the input");
        }
        if let (Compression::Snappy, Ok(out)) = (codec, &result) {
            // No snappy element inflates more than ~21 times (a 64-byte copy in 3 bytes), raw
            // or in xerial blocks.
            assert!(out.len() <= data.len() * SNAPPY_RATIO, "{} snappy bytes inflated to {}", data.len(), out.len());
        }
        if result.is_ok() && codec != Compression::None { Depth::Deep } else { Depth::Shallow }
    }
}

/// Each codec's output for a few plain texts, in both modes.
pub fn seeds() -> Vec<Vec<u8>> {
    let texts: [&[u8]; 4] = [
        b"",
        b"hello, fjord",
        &[0u8; 600],
        b"key-0 value-0 key-1 value-1 key-2 value-2 key-3 value-3 key-4 value-4 key-5 value-5",
    ];
    let mut seeds = Vec::new();
    for (id, codec) in codecs::ALL.iter().enumerate() {
        for text in texts {
            let mut decompress = vec![id as u8];
            decompress.extend(codecs::compress(*codec, text));
            seeds.push(decompress);
            let mut round_trip = vec![id as u8 | ROUND_TRIP];
            round_trip.extend_from_slice(text);
            seeds.push(round_trip);
        }
    }
    // Snappy without the xerial framing the Java client writes: the raw format is accepted too.
    // (Raw snappy of a 5-byte literal: length varint, literal tag, bytes.)
    seeds.push([&[2u8, 5, 4 << 2][..], b"fjord"].concat());
    seeds
}
