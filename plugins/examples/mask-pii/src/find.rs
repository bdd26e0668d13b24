//! The masker's hot loop: finding the next byte of interest, 16 bytes at a time. Most of a
//! record's text is ordinary words the masker only has to step over, so it tests a whole
//! 16-byte block per step: with WebAssembly's 128-bit SIMD in the plugin, with SSE2 when the
//! same code is built natively (the benchmark's baseline), byte by byte elsewhere.

/// What a search stops at: its `hits` of a block of 16 bytes (bit `i` for byte `i`), and the
/// same test for one byte.
pub trait Stops {
    fn hits(block: Block) -> u32;
    fn stops_at(byte: u8) -> bool;
}

/// The position of the first byte at or after `from` that `S` stops at, or `bytes.len()`.
pub fn find<S: Stops>(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(block) = bytes.get(at..at + 16) {
        let hits = S::hits(Block::load(block));
        if hits != 0 {
            return at + hits.trailing_zeros() as usize;
        }
        at += 16;
    }
    if at >= bytes.len() {
        return bytes.len();
    }
    // Fewer than 16 bytes left: the last 16 of the slice, when it has them, without the ones
    // already seen.
    if let Some(last) = bytes.len().checked_sub(16) {
        let hits = S::hits(Block::load(&bytes[last..])) >> (at - last);
        return if hits == 0 { bytes.len() } else { at + hits.trailing_zeros() as usize };
    }
    bytes[at..].iter().position(|&b| S::stops_at(b)).map_or(bytes.len(), |p| at + p)
}

/// Stops at `@`.
pub struct AtSign;

impl Stops for AtSign {
    fn hits(block: Block) -> u32 {
        block.eq(b'@').bits()
    }
    fn stops_at(byte: u8) -> bool {
        byte == b'@'
    }
}

/// Stops where a card or phone number may start: a digit, `+` or `(`.
pub struct NumberStart;

impl Stops for NumberStart {
    fn hits(block: Block) -> u32 {
        block.digits().or(block.eq(b'+')).or(block.eq(b'(')).bits()
    }
    fn stops_at(byte: u8) -> bool {
        byte.is_ascii_digit() || matches!(byte, b'+' | b'(')
    }
}

/// Inside a JSON string: stops at what ends it or needs a look (`"`, `\`, a control
/// character), and — as chosen — at what may start personal data (`@` or a digit) and at
/// bytes that are not ASCII.
pub struct InString<const CANDIDATES: bool, const NON_ASCII: bool>;

impl<const CANDIDATES: bool, const NON_ASCII: bool> Stops for InString<CANDIDATES, NON_ASCII> {
    fn hits(block: Block) -> u32 {
        let mut hits = block.eq(b'"').or(block.eq(b'\\')).or(block.below(0x20));
        if CANDIDATES {
            hits = hits.or(block.eq(b'@')).or(block.digits());
        }
        let mut bits = hits.bits();
        if NON_ASCII {
            bits |= block.high_bits();
        }
        bits
    }
    fn stops_at(byte: u8) -> bool {
        matches!(byte, b'"' | b'\\') || byte < 0x20 || (CANDIDATES && (byte == b'@' || byte.is_ascii_digit())) || (NON_ASCII && byte >= 0x80)
    }
}

pub use lanes::Block;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
    use core::arch::wasm32::{u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, u8x16_sub, v128, v128_load, v128_or};

    /// 16 bytes in one WebAssembly SIMD register.
    #[derive(Clone, Copy)]
    pub struct Block(v128);

    /// A lane mask: all ones where a byte matched.
    #[derive(Clone, Copy)]
    pub struct Lanes(v128);

    impl Block {
        /// The first 16 bytes of `bytes`, which has at least 16.
        #[inline(always)]
        pub fn load(bytes: &[u8]) -> Self {
            assert!(bytes.len() >= 16);
            // SAFETY: 16 bytes are readable from the start of `bytes` (checked above); the
            // load has no alignment requirement.
            Self(unsafe { v128_load(bytes.as_ptr().cast::<v128>()) })
        }
        #[inline(always)]
        pub fn eq(self, byte: u8) -> Lanes {
            Lanes(u8x16_eq(self.0, u8x16_splat(byte)))
        }
        /// Bytes below `limit`.
        #[inline(always)]
        pub fn below(self, limit: u8) -> Lanes {
            Lanes(u8x16_lt(self.0, u8x16_splat(limit)))
        }
        /// ASCII digits.
        #[inline(always)]
        pub fn digits(self) -> Lanes {
            Lanes(u8x16_lt(u8x16_sub(self.0, u8x16_splat(b'0')), u8x16_splat(10)))
        }
        /// A bit per byte of 0x80 or above.
        #[inline(always)]
        pub fn high_bits(self) -> u32 {
            u32::from(u8x16_bitmask(self.0))
        }
    }

    impl Lanes {
        #[inline(always)]
        pub fn or(self, other: Lanes) -> Lanes {
            Lanes(v128_or(self.0, other.0))
        }
        #[inline(always)]
        pub fn bits(self) -> u32 {
            u32::from(u8x16_bitmask(self.0))
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    //! Every x86_64 CPU has SSE2, so its intrinsics are always safe to run here; Rust still
    //! asks for `unsafe` around them outside a `#[target_feature]` function.

    use core::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_sub_epi8};

    /// 16 bytes in one SSE2 register.
    #[derive(Clone, Copy)]
    pub struct Block(__m128i);

    /// A lane mask: all ones where a byte matched.
    #[derive(Clone, Copy)]
    pub struct Lanes(__m128i);

    #[inline(always)]
    fn splat(byte: u8) -> __m128i {
        // SAFETY: SSE2 (see above).
        unsafe { _mm_set1_epi8(byte as i8) }
    }

    /// Lanes where `v` ≤ `max` (unsigned): min(v, max) == v.
    #[inline(always)]
    fn at_most(v: __m128i, max: u8) -> Lanes {
        // SAFETY: SSE2 (see above).
        Lanes(unsafe { _mm_cmpeq_epi8(_mm_min_epu8(v, splat(max)), v) })
    }

    impl Block {
        /// The first 16 bytes of `bytes`, which has at least 16.
        #[inline(always)]
        pub fn load(bytes: &[u8]) -> Self {
            assert!(bytes.len() >= 16);
            // SAFETY: SSE2 (see above); 16 bytes are readable from the start of `bytes`
            // (checked above), and the load has no alignment requirement.
            Self(unsafe { _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()) })
        }
        #[inline(always)]
        pub fn eq(self, byte: u8) -> Lanes {
            // SAFETY: SSE2 (see above).
            Lanes(unsafe { _mm_cmpeq_epi8(self.0, splat(byte)) })
        }
        /// Bytes below `limit` (which is above 0).
        #[inline(always)]
        pub fn below(self, limit: u8) -> Lanes {
            at_most(self.0, limit - 1)
        }
        /// ASCII digits.
        #[inline(always)]
        pub fn digits(self) -> Lanes {
            // SAFETY: SSE2 (see above).
            at_most(unsafe { _mm_sub_epi8(self.0, splat(b'0')) }, 9)
        }
        /// A bit per byte of 0x80 or above.
        #[inline(always)]
        pub fn high_bits(self) -> u32 {
            // SAFETY: SSE2 (see above).
            unsafe { _mm_movemask_epi8(self.0) as u32 }
        }
    }

    impl Lanes {
        #[inline(always)]
        pub fn or(self, other: Lanes) -> Lanes {
            // SAFETY: SSE2 (see above).
            Lanes(unsafe { _mm_or_si128(self.0, other.0) })
        }
        #[inline(always)]
        pub fn bits(self) -> u32 {
            // SAFETY: SSE2 (see above).
            unsafe { _mm_movemask_epi8(self.0) as u32 }
        }
    }
}

#[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
mod lanes {
    /// 16 bytes, tested one at a time (no SIMD on this target).
    #[derive(Clone, Copy)]
    pub struct Block([u8; 16]);

    /// A bit per byte that matched.
    #[derive(Clone, Copy)]
    pub struct Lanes(u32);

    impl Block {
        /// The first 16 bytes of `bytes`, which has at least 16.
        pub fn load(bytes: &[u8]) -> Self {
            let mut block = [0; 16];
            block.copy_from_slice(&bytes[..16]);
            Self(block)
        }
        fn lanes(self, test: impl Fn(u8) -> bool) -> Lanes {
            Lanes(self.0.iter().enumerate().fold(0, |bits, (i, &b)| bits | (u32::from(test(b)) << i)))
        }
        pub fn eq(self, byte: u8) -> Lanes {
            self.lanes(|b| b == byte)
        }
        pub fn below(self, limit: u8) -> Lanes {
            self.lanes(|b| b < limit)
        }
        pub fn digits(self) -> Lanes {
            self.lanes(|b| b.is_ascii_digit())
        }
        pub fn high_bits(self) -> u32 {
            self.lanes(|b| b >= 0x80).0
        }
    }

    impl Lanes {
        pub fn or(self, other: Lanes) -> Lanes {
            Lanes(self.0 | other.0)
        }
        pub fn bits(self) -> u32 {
            self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search, checked against the one-byte test at every start of many lengths.
    fn agrees<S: Stops>(bytes: &[u8]) {
        for from in 0..=bytes.len() {
            let want = bytes[from..].iter().position(|&b| S::stops_at(b)).map_or(bytes.len(), |p| from + p);
            assert_eq!(find::<S>(bytes, from), want, "from {from} in {:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn every_search_finds_what_the_byte_test_finds() {
        let text = "plain words, then ann@example.com and +1 (415) 555-0100; \"quoted\\n\" \u{7f}\u{e9}\t end";
        for len in 0..=text.len() {
            let bytes = &text.as_bytes()[..len];
            agrees::<AtSign>(bytes);
            agrees::<NumberStart>(bytes);
            agrees::<InString<true, true>>(bytes);
            agrees::<InString<false, true>>(bytes);
            agrees::<InString<true, false>>(bytes);
            agrees::<InString<false, false>>(bytes);
        }
    }

    #[test]
    fn every_byte_value_is_classified_as_the_byte_test_says() {
        let all: Vec<u8> = (0..=255).collect();
        agrees::<NumberStart>(&all);
        agrees::<InString<true, true>>(&all);
        let mut no_stops: Vec<u8> = (0..=255u8).filter(|&b| !InString::<true, true>::stops_at(b)).collect();
        no_stops.push(b'"');
        assert_eq!(find::<InString<true, true>>(&no_stops, 0), no_stops.len() - 1);
    }
}
