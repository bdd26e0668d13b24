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

/// Bugs in log-core that the targets found, are reported, and are not fixed yet. Each check
/// that one of them breaks is skipped (`known(...)`) so that fuzzing and the smoke run go on
/// past it; `FJORD_FUZZ_STRICT=1` checks them all again. Remove an entry, and its `known`
/// call, with the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// `PartitionLog::open` clamps a log-start checkpoint past the recovered log end down to
    /// that end, and appends then get offsets below the checkpoint: after the next restart the
    /// start is recomputed from the checkpoint and those records are below it (Kafka instead
    /// starts the log afresh at the checkpoint).
    LogStartPastEnd,
    /// `decode_records` computes a record's offset as `base + offsetDelta`, and
    /// `BatchHeader::last_offset` (with the segment scan's twin) `base + lastOffsetDelta`,
    /// unchecked: a base offset within an `i32` of `i64`'s ends — from a producer (the field
    /// is not covered by the CRC) or a segment file — panics with overflow checks on (debug
    /// builds, tests) and wraps in release builds.
    OffsetOverflow,
    /// `PartitionLog::open` accepts segment files named with a base offset past `i64::MAX`
    /// (only a crafted name can be) and then compares offsets through `as i64` casts: such a
    /// segment's batches pass as following its base, so it can end below its own base and
    /// below earlier segments, and the log start then moves between restarts; recovery
    /// overflows computing the next offset after a batch ending at -1 (`segment.rs`
    /// `track_batch`), and an append to a log ending at `u64::MAX` overflows (`log.rs`).
    BaseBeyondI64,
    /// `decode_records` keeps every record of a batch as a 104-byte `Record`: 7-byte records
    /// inflated from a small zstd batch take ~15 times the decompressed size (a 5.7 KB batch,
    /// 64 MiB decompressed: 2 GB), and the produce path decodes every batch. The targets skip
    /// decoding sections that inflate past [`RECORDS_SECTION_LIMIT`].
    RecordAmplification,
}

/// Decompressed records sections larger than this are not decoded while
/// [`Known::RecordAmplification`] stands.
pub const RECORDS_SECTION_LIMIT: usize = 4 << 20;

/// True when `issue` is to be tolerated (not `FJORD_FUZZ_STRICT=1`).
pub fn known(issue: Known) -> bool {
    static STRICT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let strict = *STRICT.get_or_init(|| std::env::var_os("FJORD_FUZZ_STRICT").is_some_and(|v| v == "1"));
    let _ = issue;
    !strict
}

/// True when `base + delta` leaves `i64` for some `i32` delta: the inputs
/// [`Known::OffsetOverflow`] is about.
pub fn near_offset_edge(base: i64) -> bool {
    base.checked_add(i64::from(i32::MAX)).is_none() || base.checked_add(i64::from(i32::MIN)).is_none()
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
