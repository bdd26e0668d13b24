//! Compaction keeps the newest record per key, keeps offsets, drops old tombstones, and runs
//! beside appends without blocking them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use fjord_log_core::storage::{
    file_name, validate, Batches, CleanupPolicy, Compression, LogConfig, PartitionLog, Record, LOG_SUFFIX, STAGING_DIR,
};

use crate::support::*;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_500,
        retention_ms: None,
        cleanup_policy: CleanupPolicy { delete: false, compact: true },
        delete_retention_ms: 60_000,
        ..LogConfig::default()
    }
}

/// Appends `rounds` batches, each writing every key in `keys` once; values say round and key.
fn write_rounds(log: &mut PartitionLog, keys: usize, rounds: usize, compression: Compression) {
    for round in 0..rounds {
        let values: Vec<(String, String)> = (0..keys).map(|k| (format!("key-{k}"), format!("round-{round}-key-{k}"))).collect();
        let records: Vec<(&str, Option<&str>)> = values.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
        log.append(&mut keyed_batch(&records, 0, compression), opts(0)).unwrap();
    }
}

/// Key → (offset, value) of the newest record per key.
fn newest(records: &[Record]) -> HashMap<Vec<u8>, (i64, Option<Vec<u8>>)> {
    let mut m = HashMap::new();
    for r in records {
        m.insert(r.key.as_ref().unwrap().to_vec(), (r.offset, r.value.as_ref().map(|v| v.to_vec())));
    }
    m
}

fn assert_all_batches_valid(log: &PartitionLog) {
    let read = log.read(log.log_start_offset(), usize::MAX / 2, None).unwrap();
    for item in Batches::new(&read.records) {
        validate(item.unwrap().1, false).unwrap();
    }
}

#[test]
fn compaction_keeps_the_newest_record_per_key_at_its_original_offset() {
    for compression in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), config());
        write_rounds(&mut log, 10, 12, compression);
        let before = read_all(&log);
        let end = log.log_end_offset();
        let active_base = *log.segment_bases().last().unwrap();
        let outcome = log.compact(1_000).unwrap();
        assert!(outcome.installed);
        assert!(outcome.records_removed > 0, "{compression:?}");
        assert!(outcome.bytes_after < outcome.bytes_before);

        let after = read_all(&log);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(newest(&after), newest(&before), "{compression:?}: the newest value per key is kept");
        assert!(after.windows(2).all(|w| w[0].offset < w[1].offset), "order kept");
        let originals: HashMap<i64, &Record> = before.iter().map(|r| (r.offset, r)).collect();
        for r in &after {
            assert_eq!(originals[&r.offset].value, r.value, "no record is renumbered");
        }
        // Below the active segment, each key appears once.
        let mut seen = std::collections::HashSet::new();
        for r in after.iter().filter(|r| (r.offset as u64) < active_base) {
            assert!(seen.insert(r.key.clone()), "{compression:?}: duplicate key below the active segment");
        }
        assert_all_batches_valid(&log);

        drop(log);
        let log = open(dir.path(), config());
        assert_eq!(read_all(&log), after, "the compacted log survives an unclean reopen");
    }
}

#[test]
fn tombstones_are_kept_for_delete_retention_ms_then_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    write_rounds(&mut log, 4, 6, Compression::None);
    log.append(&mut keyed_batch(&[("key-1", None), ("key-2", None)], 0, Compression::None), opts(0)).unwrap();
    write_rounds(&mut log, 1, 10, Compression::None); // push the tombstones out of the active segment
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;

    log.compact(now).unwrap();
    let m = newest(&read_all(&log));
    assert_eq!(m[&b"key-1".to_vec()].1, None, "the tombstone is still there within delete.retention.ms");

    log.compact(now + 10 * 60_000).unwrap();
    let records = read_all(&log);
    assert!(records.iter().all(|r| r.key.as_deref() != Some(b"key-1") && r.key.as_deref() != Some(b"key-2")), "tombstone and its key are gone");
    assert!(records.iter().any(|r| r.key.as_deref() == Some(b"key-3")));
}

#[test]
fn compaction_runs_beside_appends_without_losing_any() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(RwLock::new(open(dir.path(), config())));
    let writer = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 0..300 {
                write_rounds(&mut log.write().unwrap(), 5, 1, Compression::None);
                if i % 10 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        })
    };
    let mut installed = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for _ in 0..100_000 {
        log.write().unwrap().flush().unwrap(); // only durable segments are compacted
        let plan = log.read().unwrap().plan_compaction(0).unwrap();
        if let Some(plan) = plan {
            let done = plan.execute().unwrap(); // no lock held: appends go on
            installed += usize::from(log.write().unwrap().install_compaction(done).unwrap().installed);
        }
        if (writer.is_finished() && installed > 0) || std::time::Instant::now() > deadline {
            break;
        }
    }
    writer.join().unwrap();
    assert!(installed > 0);
    let mut log = Arc::into_inner(log).unwrap().into_inner().unwrap();
    log.compact(0).unwrap();
    assert_eq!(log.log_end_offset(), 1_500);
    let records = read_all(&log);
    let m = newest(&records);
    for k in 0..5 {
        let (offset, value) = &m[format!("key-{k}").as_bytes()];
        assert_eq!(*offset, 1_495 + k, "the last write of key-{k} is the newest");
        assert_eq!(value.as_deref(), Some(format!("round-0-key-{k}").as_bytes()));
    }
    assert_all_batches_valid(&log);
}

#[test]
fn a_swap_interrupted_by_a_crash_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    write_rounds(&mut log, 6, 10, Compression::None);
    let expected = {
        // What a finished pass would leave, computed on a copy.
        let copy = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
            }
        }
        let mut other = open(copy.path(), config());
        other.compact(0).unwrap();
        read_all(&other)
    };
    log.flush().unwrap(); // only durable segments are compacted
    let plan = log.plan_compaction(0).unwrap().unwrap();
    let _staged = plan.execute().unwrap();
    drop(log); // crash after the commit point: the cleaned data file was renamed to .swap
    let first = 0u64;
    std::fs::rename(
        dir.path().join(STAGING_DIR).join(file_name(first, LOG_SUFFIX)),
        dir.path().join(format!("{}.log.swap", file_name(first, ""))),
    )
    .unwrap();
    std::fs::remove_file(dir.path().join(file_name(first, LOG_SUFFIX))).unwrap();
    let log = open(dir.path(), config());
    assert_eq!(read_all(&log), expected);
    assert!(!dir.path().join(STAGING_DIR).exists(), "staging is cleared");
}

#[test]
fn an_uncommitted_pass_is_discarded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config());
    write_rounds(&mut log, 6, 10, Compression::None);
    let before = read_all(&log);
    log.flush().unwrap(); // only durable segments are compacted
    let plan = log.plan_compaction(0).unwrap().unwrap();
    let _staged = plan.execute().unwrap();
    drop(log);
    let log = open(dir.path(), config());
    assert_eq!(read_all(&log), before);
    assert!(!dir.path().join(STAGING_DIR).exists());
}

#[test]
fn a_pass_planned_before_retention_changed_the_log_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let policy = CleanupPolicy { delete: true, compact: true };
    let mut log = open(dir.path(), LogConfig { cleanup_policy: policy, retention_bytes: Some(3_000), ..config() });
    write_rounds(&mut log, 10, 30, Compression::None);
    log.flush().unwrap(); // only durable segments are compacted
    let plan = log.plan_compaction(0).unwrap().unwrap();
    let done = plan.execute().unwrap();
    assert!(log.enforce_retention(0).unwrap().deleted_segments > 0);
    let before = read_all(&log);
    assert!(!log.install_compaction(done).unwrap().installed);
    assert_eq!(read_all(&log), before);
}
