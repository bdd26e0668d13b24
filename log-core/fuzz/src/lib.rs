//! Bodies of the storage fuzz targets, as plain functions.
//!
//! Each target module has `run(data)`, which panics when log-core panics or when one of the
//! invariants it checks does not hold, and `seeds()`, a few valid inputs to start from. The
//! binaries in `fuzz_targets/` hand libFuzzer's input to `run`; `log-core/tests/fuzz_smoke.rs`
//! includes this file as a module and runs every target over its seeds and a few thousand
//! deterministic mutations of them in the ordinary test suite. So this file and its modules
//! name each other with `super::`, never `crate::`, and depend only on `fjord_log_core`,
//! `arbitrary`, `bytes` and `tempfile`.

pub mod codecs;
pub mod decode_records;
pub mod decompress;
pub mod record_batch;
pub mod segment_recovery;

/// How far one input got into the code under test. libFuzzer ignores it; the smoke run checks
/// that enough of its inputs go [`Depth::Deep`], since without coverage feedback nothing else
/// would notice a harness whose inputs all bounce off the first check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Stopped at a first check (bad length, CRC, format, a directory refused).
    Shallow,
    /// Reached what the target is for: see each target's `run`.
    Deep,
}

/// One fuzz target: its cargo-fuzz name, its body, its seed inputs, and the largest input
/// worth trying (`-max_len`).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The `[[bin]]` name in `Cargo.toml`.
    pub name: &'static str,
    /// Runs one input; panics on a failure.
    pub run: fn(&[u8]) -> Depth,
    /// Valid inputs to start from.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Largest useful input.
    pub max_len: usize,
}

/// The storage targets.
pub const TARGETS: [Target; 4] = [
    Target { name: "record_batch", run: record_batch::run, seeds: record_batch::seeds, max_len: 4096 },
    Target { name: "decode_records", run: decode_records::run, seeds: decode_records::seeds, max_len: 4096 },
    Target { name: "decompress", run: decompress::run, seeds: decompress::seeds, max_len: 4096 },
    Target { name: "segment_recovery", run: segment_recovery::run, seeds: segment_recovery::seeds, max_len: 8192 },
];

/// The last offset of a batch whose header holds `base` and `last_offset_delta`, when it is
/// one a log can hold: `None` when the sum leaves `i64` or is `i64::MAX` (no offset could
/// follow it), the headers `BatchHeader::parse` refuses with `BatchDefect::OffsetOverflow`.
pub fn storable_last_offset(base: i64, last_offset_delta: i32) -> Option<i64> {
    base.checked_add(i64::from(last_offset_delta)).filter(|&last| last != i64::MAX)
}

/// A small deterministic pseudo-random generator (SplitMix64) for seeds and smoke runs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
