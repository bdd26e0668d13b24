//! Property test: the log against an in-memory model under random appends, reads at random
//! offsets, truncations and (clean or crashing) reopenings.

use fjord_log_core::storage::{BatchHeader, Batches, Compression, LogConfig, PartitionLog, StorageError};
use proptest::prelude::*;

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_len: usize, compression: u8 },
    Read { pick: u64, max_bytes: usize },
    Truncate { pick: u64 },
    Reopen { clean: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1usize..6, 0usize..300, 0u8..5).prop_map(|(records, value_len, compression)| Op::Append { records, value_len, compression }),
        4 => (any::<u64>(), 0usize..3_000).prop_map(|(pick, max_bytes)| Op::Read { pick, max_bytes }),
        1 => any::<u64>().prop_map(|pick| Op::Truncate { pick }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// What the log must hold: batches as stored (offsets assigned), in order.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<(u64, u64, Vec<u8>)>,
    start: u64,
}

impl Model {
    fn end(&self) -> u64 {
        self.batches.last().map_or(self.start, |b| b.1 + 1)
    }
}

fn codec(n: u8) -> Compression {
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd][n as usize % 5]
}

fn config() -> LogConfig {
    LogConfig { segment_bytes: 1_500, index_interval_bytes: 100, retention_ms: None, ..LogConfig::default() }
}

fn check_read(log: &PartitionLog, model: &Model, offset: u64, max_bytes: usize) {
    let read = log.read(offset, max_bytes, None).unwrap();
    let Some(first) = model.batches.iter().position(|b| b.1 >= offset) else {
        assert!(read.records.is_empty(), "nothing after the end");
        return;
    };
    assert!(!read.records.is_empty(), "offset {offset} below the end must return data");
    let mut at = 0;
    for (i, item) in Batches::new(&read.records).enumerate() {
        let (_, bytes) = item.expect("reads return whole batches");
        let expected = &model.batches[first + i].2;
        assert_eq!(bytes, &expected[..], "batch {i} of read at {offset}");
        at += bytes.len();
    }
    assert_eq!(at, read.records.len());
    assert!(read.records.len() <= max_bytes.max(model.batches[first].2.len()), "respects max_bytes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 500, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Some(open(dir.path(), config()));
        let mut model = Model::default();
        for op in ops {
            let l = log.as_mut().unwrap();
            match op {
                Op::Append { records, value_len, compression } => {
                    let values: Vec<Vec<u8>> = (0..records).map(|i| vec![b'a' + i as u8; value_len]).collect();
                    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
                    let mut bytes = batch_of(&refs, 1_000, codec(compression));
                    let info = l.append(&mut bytes, opts(0)).unwrap();
                    prop_assert_eq!(info.first_offset, model.end());
                    let header = BatchHeader::parse(&bytes).unwrap();
                    model.batches.push((header.base_offset as u64, header.last_offset() as u64, bytes));
                }
                Op::Read { pick, max_bytes } => {
                    let span = model.end() - model.start + 1;
                    let offset = model.start + pick % span;
                    check_read(l, &model, offset, max_bytes);
                    let past = l.read(model.end() + 1, max_bytes, None);
                    let out_of_range = matches!(past, Err(StorageError::OffsetOutOfRange { .. }));
                    prop_assert!(out_of_range);
                }
                Op::Truncate { pick } => {
                    let span = model.end() - model.start + 1;
                    let offset = model.start + pick % span;
                    l.truncate_to(offset).unwrap();
                    if offset <= model.start && offset < model.end() {
                        model.batches.clear();
                        model.start = offset;
                    } else {
                        model.batches.retain(|b| b.1 < offset);
                    }
                }
                Op::Reopen { clean } => {
                    let l = log.take().unwrap();
                    if clean { l.close().unwrap() } else { drop(l) }
                    let (reopened, report) = PartitionLog::open(dir.path(), config()).unwrap();
                    prop_assert_eq!(report.truncated_bytes, 0);
                    log = Some(reopened);
                }
            }
            let l = log.as_ref().unwrap();
            prop_assert_eq!(l.log_end_offset(), model.end());
            prop_assert_eq!(l.log_start_offset(), model.start);
        }
        let l = log.as_ref().unwrap();
        for offset in model.start..=model.end() {
            check_read(l, &model, offset, 1 << 20);
        }
    }
}
