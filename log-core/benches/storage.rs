//! Storage throughput beside the machine's own limits, measured in the same run:
//!
//! - `append/partition_log`: `PartitionLog::append` of 64 KiB batches of 1 KiB records
//!   (validation, CRC-32C check, offset assignment, index upkeep, one `pwrite` per batch);
//!   `append/raw_buffered_write`: the same bytes written through a 1 MiB `BufWriter`;
//!   `append/raw_write_per_batch`: one plain `write` per batch, the syscall pattern an
//!   append must have (each acknowledged batch reaches the page cache before the ack).
//! - `read/partition_log`: 1 MiB reads of whole batches from the page cache;
//!   `read/raw_pread`: 1 MiB `pread`s of the same file.
//!
//! Ratios, not absolute numbers, go into docs/benchmarks.md.
//! Run: `cargo bench -p fjord-log-core --bench storage`.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fjord_log_core::storage::{AppendOptions, BatchBuilder, Compression, LogConfig, PartitionLog, TimestampType};

const RECORD_BYTES: usize = 1024;
const RECORDS_PER_BATCH: usize = 63; // with record and batch overhead: just under 64 KiB
const READ_BYTES: usize = 1 << 20;

fn one_batch() -> Vec<u8> {
    let mut b = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
    let value: Vec<u8> = (0..RECORD_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    for i in 0..RECORDS_PER_BATCH {
        b.push(i as i64, 1_700_000_000_000 + i as i64, Some(format!("key-{i}").as_bytes()), Some(&value), &[]);
    }
    b.build().expect("uncompressed batches always build")
}

fn bench_dir() -> tempfile::TempDir {
    // Under the target dir rather than /tmp, which may be a RAM disk.
    let base = std::env::var_os("FJORD_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    tempfile::tempdir_in(base).expect("bench directory")
}

fn append(c: &mut Criterion) {
    let batch = one_batch();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    group.bench_function("raw_buffered_write", |b| {
        b.iter_custom(|iters| {
            let dir = bench_dir();
            let file = File::create(dir.path().join("raw")).expect("create");
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let start = Instant::now();
            for _ in 0..iters {
                out.write_all(black_box(&batch)).expect("write");
            }
            out.flush().expect("flush");
            start.elapsed()
        })
    });
    group.bench_function("raw_write_per_batch", |b| {
        b.iter_custom(|iters| {
            let dir = bench_dir();
            let mut file = File::create(dir.path().join("raw")).expect("create");
            let start = Instant::now();
            for _ in 0..iters {
                file.write_all(black_box(&batch)).expect("write");
            }
            start.elapsed()
        })
    });
    let batch_options = AppendOptions { leader_epoch: 0, now_ms: 0 };
    for (name, preallocate) in [("partition_log", true), ("partition_log_no_preallocate", false)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let dir = bench_dir();
                let config = LogConfig { preallocate, ..LogConfig::default() };
                let (mut log, _) = PartitionLog::open(dir.path(), config).expect("open");
                let mut buf = batch.clone();
                let start = Instant::now();
                for _ in 0..iters {
                    log.append(black_box(&mut buf), batch_options).expect("append");
                }
                start.elapsed()
            })
        });
    }
    // Sixteen batches per append call (1 MiB), as when a broker appends several produce
    // requests for one partition at once. Throughput is still counted per batch.
    group.bench_function("partition_log_16_batches_per_append", |b| {
        b.iter_custom(|iters| {
            let dir = bench_dir();
            let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
            let mut buf: Vec<u8> = batch.repeat(16);
            let start = Instant::now();
            for _ in 0..iters.div_ceil(16) {
                log.append(black_box(&mut buf), batch_options).expect("append");
            }
            start.elapsed()
        })
    });
    group.finish();
}

fn read(c: &mut Criterion) {
    let dir = bench_dir();
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let mut batch = one_batch();
    for _ in 0..(256 << 20) / batch.len() {
        log.append(&mut batch, AppendOptions { leader_epoch: 0, now_ms: 0 }).expect("append");
    }
    let end = log.log_end_offset();
    let raw = File::open(dir.path().join(fjord_log_core::storage::file_name(0, ".log"))).expect("open segment");
    let size = raw.metadata().expect("stat").len();

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(READ_BYTES as u64));
    group.bench_function("raw_pread", |b| {
        let mut buf = vec![0u8; READ_BYTES];
        let mut pos = 0u64;
        b.iter(|| {
            if pos + READ_BYTES as u64 > size {
                pos = 0;
            }
            raw.read_exact_at(&mut buf, pos).expect("pread");
            pos += READ_BYTES as u64;
            black_box(&buf);
        })
    });
    // A read returns whole batches only, so slightly less than READ_BYTES.
    let per_read = log.read(0, READ_BYTES, None).expect("read").records.len();
    group.throughput(Throughput::Bytes(per_read as u64));
    group.bench_function("partition_log", |b| {
        let mut offset = 0u64;
        b.iter(|| {
            let read = log.read(offset, READ_BYTES, None).expect("read");
            offset += (read.records.len() / batch.len() * RECORDS_PER_BATCH) as u64;
            if offset >= end {
                offset = 0;
            }
            black_box(read.records)
        })
    });
    group.finish();
}

/// The one unavoidable CPU cost of an append: checking the batch's CRC-32C.
fn crc(c: &mut Criterion) {
    let batch = one_batch();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("crc32c_64k_batch", |b| b.iter(|| fjord_log_core::storage::validate(black_box(&batch), true)));
    group.finish();
}

criterion_group!(benches, crc, append, read);
criterion_main!(benches);
