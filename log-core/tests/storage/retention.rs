//! Retention deletes whole old segments, never the active one, and moves the log start.

use fjord_log_core::storage::{CleanupPolicy, Compression, LogConfig, StorageError};

use crate::support::*;

fn config() -> LogConfig {
    LogConfig { segment_bytes: 2_000, retention_ms: None, ..LogConfig::default() }
}

/// Appends 30 batches; batch `i` has timestamp `i * 1000`. Returns the segment bases.
fn fill(log: &mut fjord_log_core::storage::PartitionLog) -> Vec<u64> {
    for i in 0..30 {
        let values: Vec<Vec<u8>> = (0..2).map(|j| self_describing_value(log.log_end_offset() + j, 200)).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let mut b = batch_of(&refs, i * 1_000, Compression::None);
        log.append(&mut b, opts(0)).unwrap();
    }
    log.segment_bases()
}

#[test]
fn time_retention_deletes_segments_whose_newest_record_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { retention_ms: Some(10_000), ..config() });
    let bases = fill(&mut log);
    assert!(bases.len() >= 5);
    let end = log.log_end_offset();
    // now = 25_000: records older than 15_000 are past retention.
    let outcome = log.enforce_retention(25_000).unwrap();
    assert!(outcome.deleted_segments >= 1);
    let first = log.segment_bases()[0];
    assert_eq!(log.log_start_offset(), first);
    assert_eq!(outcome.log_start_offset, first);
    assert_eq!(log.log_end_offset(), end, "retention never touches the end");
    let records = read_all(&log);
    assert_eq!(records.first().unwrap().offset as u64, first, "offsets are kept, not renumbered");
    assert!(records.iter().all(|r| r.value.as_deref().unwrap().starts_with(format!("offset-{}-", r.offset).as_bytes())));
    // Every deleted record was older than the cutoff; the first kept segment has newer ones.
    assert!(records.iter().any(|r| r.timestamp >= 15_000));
    assert!(matches!(log.read(0, 100, None), Err(StorageError::OffsetOutOfRange { .. })));

    // Far in the future everything is expired, but the active segment stays.
    log.enforce_retention(1_000_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_end_offset(), end);
    let active_base = log.segment_bases()[0];
    assert_eq!(log.log_start_offset(), active_base);

    drop(log);
    let log = open(dir.path(), LogConfig { retention_ms: Some(10_000), ..config() });
    assert_eq!(log.log_start_offset(), active_base, "the log start is recovered from the first segment");
}

#[test]
fn size_retention_keeps_the_log_under_retention_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { retention_bytes: Some(6_000), ..config() });
    fill(&mut log);
    let before = log.size_bytes();
    let outcome = log.enforce_retention(0).unwrap();
    assert!(outcome.deleted_segments > 0);
    assert_eq!(log.size_bytes(), before - outcome.deleted_bytes);
    assert!(log.size_bytes() <= 6_000 + 2_000, "at most one segment over the limit");
    assert!(log.size_bytes() > 6_000 - 2_000 || log.segment_count() == 1);
}

#[test]
fn delete_records_moves_the_log_start_and_retention_removes_whole_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    let bases = fill(&mut log);
    let target = bases[2] + 1;
    assert_eq!(log.delete_records_before(target).unwrap(), target);
    assert!(matches!(log.read(target - 1, 100, None), Err(StorageError::OffsetOutOfRange { .. })));
    let read = log.read(target, 100, None).unwrap();
    assert!(!read.records.is_empty(), "a read at the new start returns its batch");
    let outcome = log.enforce_retention(0).unwrap();
    assert_eq!(outcome.deleted_segments, 2, "segments wholly below the start go");
    assert_eq!(log.log_start_offset(), target, "the start stays inside the third segment");
    drop(log);
    let mut log = open(dir.path(), config());
    assert_eq!(log.log_start_offset(), target, "the start survives a restart");
    let past_end = log.log_end_offset() + 1;
    assert!(matches!(log.delete_records_before(past_end), Err(StorageError::OffsetOutOfRange { .. })));
    assert_eq!(log.delete_records_before(1).unwrap(), target, "the start never moves back");
}

#[test]
fn a_compact_only_log_ignores_time_and_size_retention() {
    let dir = tempfile::tempdir().unwrap();
    let policy = CleanupPolicy { delete: false, compact: true };
    let mut log = open(dir.path(), LogConfig { retention_ms: Some(1), retention_bytes: Some(1), cleanup_policy: policy, ..config() });
    let bases = fill(&mut log);
    assert_eq!(log.enforce_retention(i64::MAX / 2).unwrap().deleted_segments, 0);
    assert_eq!(log.segment_bases(), bases);
}
