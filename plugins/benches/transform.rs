//! Plugin calls against the same logic in native Rust, in one run: records per second of the
//! `identity` and `mask-pii` plugins on batches of 1,000 records of 200 B and 2 KiB, beside the
//! same work in native Rust on the same records: for identity, each input record copied into
//! an output record; for the masker, the plugin's own masking code (`mask_pii`) over each
//! value, making the same output records the host returns.
//!
//! `./scripts/build-plugins` first, then `cargo bench -p fjord-plugins --bench transform`.
//! Results and ratios: docs/benchmarks.md, "WebAssembly plugins".

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use bytes::Bytes;
use mask_pii::{Kinds, MaskPii};
use fjord_plugins::{Header, InputBatch, InputRecord, OutputRecord, Plugin, PluginHost, PluginInstance, PluginLimits};

/// The allocator the broker runs with (cli/src/main.rs): batches of 2 KiB records are
/// megabytes, which the system allocator would map and unmap on every call.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1_000;

fn plugin(host: &PluginHost, name: &str) -> PluginInstance {
    let dir = std::env::var_os("FJORD_PLUGINS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins"));
    let path = dir.join(format!("{name}.wasm"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run ./scripts/build-plugins first", path.display()));
    PluginInstance::new(Arc::new(Plugin::compile(host, name, &bytes, PluginLimits::default()).unwrap()), vec![]).unwrap()
}

/// A JSON-ish value of `size` bytes with an email address and a card number in it.
fn value(size: usize, i: usize) -> Vec<u8> {
    let head = format!(r#"{{"id":{i},"email":"user{i}@example.com","card":"4111 1111 1111 1111","note":""#);
    let mut text = head.into_bytes();
    while text.len() + 2 < size {
        text.extend_from_slice(b"lorem ipsum dolor sit amet ");
    }
    text.truncate(size - 2);
    text.extend_from_slice(b"\"}");
    text
}

fn batch(size: usize) -> InputBatch {
    let records = (0..BATCH)
        .map(|i| InputRecord {
            key: Some(Bytes::from(format!("key-{i}").into_bytes())),
            value: Some(Bytes::from(value(size, i))),
            headers: vec![Header { key: "source".into(), value: Some(Bytes::from_static(b"bench")) }],
            timestamp: 1_700_000_000_000 + i as i64,
            offset: i as i64,
        })
        .collect();
    InputBatch { topic: "in".into(), partition: 0, records }
}

/// What a native identity does for a batch: every record copied into an output record.
fn native_identity(records: &[InputRecord]) -> Vec<OutputRecord> {
    records.iter().map(|r| OutputRecord { key: r.key.clone(), value: r.value.clone(), headers: r.headers.clone(), timestamp: None, topic: None }).collect()
}

/// What a native masker does for a batch: every value masked (or copied when there is nothing
/// to mask), with the record's key and headers, into an output record.
fn native_masker(masker: &mut MaskPii, records: &[InputRecord]) -> Vec<OutputRecord> {
    records
        .iter()
        .map(|r| OutputRecord {
            key: r.key.clone(),
            value: r.value.as_ref().map(|v| masker.mask_value(v).map_or_else(|| v.clone(), Bytes::from)),
            headers: r.headers.clone(),
            timestamp: None,
            topic: None,
        })
        .collect()
}

fn transforms(c: &mut Criterion) {
    let host = PluginHost::new().unwrap();
    let mut identity = plugin(&host, "identity");
    let mut masker = plugin(&host, "mask-pii");
    let mut native = MaskPii::new(Kinds { emails: true, cards: true, phones: true });
    for size in [200usize, 2_048] {
        let records = batch(size);
        let mut group = c.benchmark_group(format!("transform_{size}B"));
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(BenchmarkId::new("identity", "wasm"), |b| b.iter(|| identity.process(&records).unwrap()));
        group.bench_function(BenchmarkId::new("identity", "native"), |b| b.iter(|| native_identity(&records.records)));
        group.bench_function(BenchmarkId::new("mask-pii", "wasm"), |b| b.iter(|| masker.process(&records).unwrap()));
        group.bench_function(BenchmarkId::new("mask-pii", "native"), |b| b.iter(|| native_masker(&mut native, &records.records)));
        group.finish();
    }
}

criterion_group!(benches, transforms);
criterion_main!(benches);
