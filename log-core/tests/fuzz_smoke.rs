//! Smoke runs of the storage fuzz targets in the ordinary test suite.
//!
//! The targets' bodies (`log-core/fuzz/src/`) are compiled here as a module, without libFuzzer
//! or sanitizers, and each runs over its seeds plus a few thousand deterministic mutations of
//! them (bit flips, interesting values, insertions, deletions, splices). No coverage feedback:
//! this keeps the harnesses compiling and their invariants true on every change, in seconds,
//! and finds shallow regressions; finding deep bugs is for `cargo fuzz run` (see
//! `log-core/fuzz/README.md`). A failing input is saved under the build's tmp directory, with
//! the command that replays it.
//!
//! `write_seed_corpora` (ignored) writes each target's seeds to `log-core/fuzz/corpus/<target>/`
//! to start a fuzzer from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::time::Instant;

use harness::{Depth, Rng, Target, TARGETS};

/// Runs `target` over its seeds and `mutations` mutants; fails unless at least
/// `min_deep_percent` of the inputs got deep.
fn smoke(name: &str, mutations: usize, min_deep_percent: usize) {
    let target = TARGETS.iter().find(|t| t.name == name).expect("a known target");
    let seeds = (target.seeds)();
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let started = Instant::now();
    let mut deep = 0;
    for (i, seed) in seeds.iter().enumerate() {
        deep += usize::from(run_one(target, &format!("seed-{i}"), seed) == Depth::Deep);
    }
    // Half the mutants descend from a seed, half from a recent mutant, so mutations stack.
    let mut rng = Rng::new(0xf10d_5eed ^ name.len() as u64);
    let mut recent: Vec<Vec<u8>> = Vec::new();
    for i in 0..mutations {
        let mut input = if recent.is_empty() || rng.below(2) == 0 {
            seeds[rng.below(seeds.len())].clone()
        } else {
            recent[rng.below(recent.len())].clone()
        };
        mutate(&mut rng, &mut input, target.max_len, &seeds);
        deep += usize::from(run_one(target, &format!("mutant-{i}"), &input) == Depth::Deep);
        if recent.len() < 64 {
            recent.push(input);
        } else {
            recent[i % 64] = input;
        }
    }
    let total = seeds.len() + mutations;
    println!("{name}: {total} inputs ({deep} deep) in {:.2?}", started.elapsed());
    assert!(deep * 100 >= total * min_deep_percent, "{name}: only {deep} of {total} inputs got deep; is the harness broken?");
}

/// Runs one input, saving it when it fails.
fn run_one(target: &Target, label: &str, input: &[u8]) -> Depth {
    match std::panic::catch_unwind(|| (target.run)(input)) {
        Ok(depth) => depth,
        Err(panic) => {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke").join(target.name);
            std::fs::create_dir_all(&dir).expect("create the directory for failing inputs");
            let path = dir.join(label);
            std::fs::write(&path, input).expect("save the failing input");
            eprintln!(
                "{}: {label} failed; input saved to {} ({} bytes). Replay: cd log-core/fuzz && cargo fuzz run {} {}",
                target.name,
                path.display(),
                input.len(),
                target.name,
                path.display()
            );
            std::panic::resume_unwind(panic)
        }
    }
}

/// Values that tend to sit on boundaries, written big-endian as the formats are.
const INTERESTING: [i64; 12] = [0, 1, -1, 2, 0x7f, 0x80, 0xff, 0x7fff, i32::MAX as i64, i32::MIN as i64, i64::MAX, i64::MIN];

/// One to four random edits of `input`, kept within `max_len`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, max_len: usize, donors: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => input[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => input[rng.below(len)] = rng.next_u64() as u8,
            2 => {
                let width = [1, 2, 4, 8][rng.below(4)];
                if len >= width {
                    let value = INTERESTING[rng.below(INTERESTING.len())].to_be_bytes();
                    let at = rng.below(len - width + 1);
                    input[at..at + width].copy_from_slice(&value[8 - width..]);
                }
            }
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes = rng.bytes(n);
                input.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(32)).min(len);
                input.drain(at..end);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                let copy = input[at..end].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, copy);
            }
            6 => input.truncate(rng.below(len + 1)),
            7 => {
                let donor = &donors[rng.below(donors.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(donor.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&donor[from..]);
            }
            _ => {
                // An arithmetic nudge of one byte, as libFuzzer's "ChangeByte" does.
                if len > 0 {
                    let at = rng.below(len);
                    input[at] = input[at].wrapping_add(1 + rng.below(8) as u8);
                }
            }
        }
    }
    input.truncate(max_len);
}

#[test]
fn record_batch() {
    smoke("record_batch", 20_000, 25);
}

#[test]
fn decode_records() {
    smoke("decode_records", 30_000, 3);
}

#[test]
fn decompress() {
    smoke("decompress", 10_000, 30);
}

#[test]
fn segment_recovery() {
    smoke("segment_recovery", 1000, 20);
}

#[test]
#[ignore = "writes log-core/fuzz/corpus/: run by hand before fuzzing"]
fn write_seed_corpora() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for target in TARGETS {
        let dir = root.join(target.name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in (target.seeds)().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
        println!("{}: seeds in {}", target.name, dir.display());
    }
}
