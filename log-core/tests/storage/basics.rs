//! Append, read, lookups, validation and persistence of a partition log.

use fjord_log_core::storage::{
    validate, BatchDefect, BatchHeader, Batches, Compression, FlushPolicy, LogConfig, PartitionLog, StorageError,
    TimestampOffset, TimestampType,
};

use crate::support::*;

#[test]
fn append_assigns_offsets_and_reads_return_the_stored_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut first = batch_of(&[b"a", b"b", b"c"], 1_000, Compression::None);
    let info = log.append(&mut first, opts(5)).unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.records), (0, 2, 3));
    let mut second = batch_of(&[b"d", b"e"], 2_000, Compression::Lz4);
    let info = log.append(&mut second, opts(5)).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);

    let read = log.read(0, 1 << 20, None).unwrap();
    let mut expected = first.clone();
    expected.extend_from_slice(&second);
    assert_eq!(&read.records[..], &expected[..], "stored bytes are served byte for byte");
    assert_eq!(BatchHeader::parse(&second).unwrap().base_offset, 3, "append rewrote the caller's buffer");
    validate(&read.records[first.len()..], false).unwrap();
}

#[test]
fn a_fetch_inside_a_batch_returns_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut b = batch_of(&[b"a", b"b", b"c", b"d"], 1, Compression::None);
    log.append(&mut b, opts(0)).unwrap();
    let read = log.read(2, 1 << 20, None).unwrap();
    assert_eq!(&read.records[..], &b[..]);
}

#[test]
fn the_first_batch_is_returned_whole_even_past_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let big = vec![7u8; 10_000];
    let mut first = batch_of(&[&big], 1, Compression::None);
    let mut second = batch_of(&[b"small"], 1, Compression::None);
    log.append(&mut first, opts(0)).unwrap();
    log.append(&mut second, opts(0)).unwrap();
    let read = log.read(0, 100, None).unwrap();
    assert_eq!(&read.records[..], &first[..], "exactly the first batch, never a partial one");
    let both = log.read(0, first.len() + second.len(), None).unwrap();
    assert_eq!(both.records.len(), first.len() + second.len());
    let one = log.read(0, first.len() + second.len() - 1, None).unwrap();
    assert_eq!(one.records.len(), first.len(), "a batch that does not fit is left for the next read");
}

#[test]
fn reads_at_the_end_are_empty_and_past_it_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    append_self_describing(&mut log, 3, 0, 0);
    assert!(log.read(3, 1000, None).unwrap().records.is_empty());
    assert!(matches!(log.read(4, 1000, None), Err(StorageError::OffsetOutOfRange { requested: 4, .. })));
}

#[test]
fn an_upper_bound_such_as_the_high_watermark_hides_later_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    append_self_describing(&mut log, 2, 0, 0); // 0..=1
    append_self_describing(&mut log, 2, 0, 0); // 2..=3
    let read = log.read(0, 1 << 20, Some(2)).unwrap();
    let batches: Vec<_> = Batches::new(&read.records).map(|b| BatchHeader::parse(b.unwrap().1).unwrap()).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].last_offset(), 1);
    assert!(log.read(2, 1 << 20, Some(2)).unwrap().records.is_empty());
}

#[test]
fn invalid_batches_are_rejected_and_nothing_of_the_request_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { max_message_bytes: 2_000, ..LogConfig::default() };
    let mut log = open(dir.path(), config);
    let good = batch_of(&[b"ok"], 1, Compression::None);

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    let mut request = good.clone();
    request.extend_from_slice(&bad_crc);
    let err = log.append(&mut request, opts(0)).unwrap_err();
    assert!(matches!(err, StorageError::InvalidBatch { defect: BatchDefect::CrcMismatch { .. }, position } if position == good.len()));

    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    assert!(matches!(log.append(&mut bad_magic, opts(0)), Err(StorageError::InvalidBatch { defect: BatchDefect::UnsupportedMagic(1), .. })));

    let mut cut = good[..good.len() - 3].to_vec();
    assert!(matches!(log.append(&mut cut, opts(0)), Err(StorageError::InvalidBatch { defect: BatchDefect::Truncated { .. }, .. })));

    let mut huge = batch_of(&[&[0u8; 3_000]], 1, Compression::None);
    assert!(matches!(log.append(&mut huge, opts(0)), Err(StorageError::BatchTooLarge { max: 2_000, .. })));

    assert!(log.append(&mut [], opts(0)).is_err());
    let mut garbage = vec![0xffu8; 100];
    assert!(log.append(&mut garbage, opts(0)).is_err());

    assert_eq!(log.log_end_offset(), 0, "no rejected request appended anything");
    let mut ok = good.clone();
    assert_eq!(log.append(&mut ok, opts(0)).unwrap().first_offset, 0);
}

#[test]
fn log_append_time_stamps_the_batch_and_keeps_its_crc_valid() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..LogConfig::default() };
    let mut log = open(dir.path(), config);
    let mut b = batch_of(&[b"a", b"b"], 10, Compression::Gzip);
    let info = log.append(&mut b, opts(777_000)).unwrap();
    assert_eq!(info.log_append_time, Some(777_000));
    let read = log.read(0, 1 << 20, None).unwrap();
    let header = validate(&read.records, false).unwrap();
    assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(header.max_timestamp, 777_000);
    let records = read_all(&log);
    assert!(records.iter().all(|r| r.timestamp == 777_000));
}

#[test]
fn timestamp_lookups_find_the_first_record_at_or_after_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    // 40 batches of 5 records with timestamps 1000, 1001, ... (one per record), across segments.
    for i in 0..40 {
        let values: Vec<Vec<u8>> = (0..5).map(|j| vec![b'v'; 150 + j]).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let mut b = batch_of(&refs, 1_000 + i * 5, if i % 2 == 0 { Compression::None } else { Compression::Snappy });
        log.append(&mut b, opts(0)).unwrap();
    }
    assert!(log.segment_count() > 3);
    for target in [0, 1_000, 1_001, 1_057, 1_123, 1_199] {
        let expected = (target.max(1_000) - 1_000) as u64;
        assert_eq!(log.offset_for_timestamp(target).unwrap(), Some(TimestampOffset { offset: expected, timestamp: target.max(1_000) }), "target {target}");
    }
    assert_eq!(log.offset_for_timestamp(1_200).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), Some(TimestampOffset { offset: 199, timestamp: 1_199 }));

    log.close().unwrap();
    let log = open(dir.path(), small_config());
    assert_eq!(log.offset_for_timestamp(1_123).unwrap().map(|t| t.offset), Some(123), "the time index survives a reopen");
    assert_eq!(log.max_timestamp_offset().unwrap().map(|t| t.offset), Some(199));
}

#[test]
fn max_timestamp_lookup_names_the_exact_record_inside_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut b = fjord_log_core::storage::BatchBuilder::new(0, Compression::Zstd, TimestampType::CreateTime);
    for (i, ts) in [100, 500, 300].into_iter().enumerate() {
        b.push(i as i64, ts, None, Some(b"v"), &[]);
    }
    log.append(&mut b.build().unwrap(), opts(0)).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), Some(TimestampOffset { offset: 1, timestamp: 500 }));
    assert_eq!(log.offset_for_timestamp(200).unwrap(), Some(TimestampOffset { offset: 1, timestamp: 500 }));
}

#[test]
fn segments_roll_by_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..20 {
        append_self_describing(&mut log, 4, 300, 0);
    }
    // Each batch is ~1.3 KiB, so a 4 KiB segment holds three.
    let by_size = log.segment_count();
    assert_eq!(by_size, 7, "20 batches, three to a segment");
    let bases = log.segment_bases();
    assert_eq!(bases[0], 0);
    assert!(bases.windows(2).all(|w| w[0] < w[1]));

    let config = LogConfig { segment_ms: 1_000, ..LogConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config);
    append_self_describing(&mut log, 1, 0, 10_000);
    append_self_describing(&mut log, 1, 0, 10_500);
    assert_eq!(log.segment_count(), 1);
    append_self_describing(&mut log, 1, 0, 11_000);
    assert_eq!(log.segment_bases(), vec![0, 2], "segment.ms rolls once the first append is that old");
}

#[test]
fn segments_roll_early_by_jitter_and_when_the_offset_index_is_full() {
    // segment.jitter.ms takes up to that much off segment.ms, per segment.
    let config = LogConfig { segment_ms: 1_000, segment_jitter_ms: 999, ..LogConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config);
    append_self_describing(&mut log, 1, 0, 10_000);
    append_self_describing(&mut log, 1, 0, 11_000);
    assert_eq!(log.segment_count(), 2, "rolled by 1 s at the latest");
    // segment.index.bytes: 2 entries of 8 bytes; an entry every batch (index.interval.bytes 0).
    let config = LogConfig { segment_index_bytes: 16, index_interval_bytes: 0, ..LogConfig::default() };
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), config);
    for _ in 0..9 {
        append_self_describing(&mut log, 1, 10, 0);
    }
    assert_eq!(log.segment_bases(), vec![0, 3, 6], "three batches (two index entries) to a segment");
}

#[test]
fn data_and_lookups_survive_clean_and_unclean_reopen() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config());
        for i in 0..30 {
            append_self_describing(&mut log, 3, 40, i);
        }
        let before = read_all(&log);
        if clean { log.close().unwrap() } else { drop(log) }
        let (log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
        assert_eq!(report.clean_shutdown, clean);
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(log.log_end_offset(), 90);
        assert_eq!(read_all(&log), before);
    }
}

#[test]
fn missing_or_garbled_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for i in 0..40 {
        append_self_describing(&mut log, 3, 40, i);
    }
    let before = read_all(&log);
    log.close().unwrap();
    for (n, entry) in std::fs::read_dir(dir.path()).unwrap().enumerate() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("index") if n % 2 == 0 => std::fs::remove_file(&path).unwrap(),
            Some("index") => std::fs::write(&path, [0xabu8; 24]).unwrap(),
            Some("timeindex") => std::fs::write(&path, [0x01u8; 7]).unwrap(),
            _ => {}
        }
    }
    let log = open(dir.path(), small_config());
    assert_eq!(read_all(&log), before);
    for offset in (0..120).step_by(7) {
        let read = log.read(offset, 1, None).unwrap();
        let header = BatchHeader::parse(&read.records).unwrap();
        assert!(header.base_offset as u64 <= offset && offset <= header.last_offset() as u64);
    }
    // Batch i holds timestamps i, i+1, i+2: the first record at 20 is the last of batch 18.
    assert_eq!(log.offset_for_timestamp(20).unwrap().map(|t| t.offset), Some(56));
}

#[test]
fn leader_epochs_are_recorded_answered_truncated_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let append = |log: &mut PartitionLog, epoch: i32| {
        let mut b = batch_of(&[b"x", b"y"], 0, Compression::None);
        log.append(&mut b, fjord_log_core::storage::AppendOptions { leader_epoch: epoch, now_ms: 0 }).unwrap()
    };
    append(&mut log, 1); // 0..=1
    append(&mut log, 1); // 2..=3
    append(&mut log, 4); // 4..=5
    assert_eq!(log.latest_epoch(), Some(4));
    assert_eq!(log.end_offset_for_epoch(1).end_offset, 4);
    assert_eq!(log.end_offset_for_epoch(4).end_offset, 6);
    let read = log.read(4, 1 << 20, None).unwrap();
    assert_eq!(BatchHeader::parse(&read.records).unwrap().partition_leader_epoch, 4);

    log.truncate_to(4).unwrap();
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.latest_epoch(), Some(1));
    drop(log);
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.latest_epoch(), Some(1));
    assert_eq!(log.end_offset_for_epoch(1).end_offset, 4);
}

#[test]
fn truncation_inside_a_batch_removes_the_whole_batch_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..30 {
        append_self_describing(&mut log, 3, 60, 0);
    }
    log.truncate_to(40).unwrap(); // batch 39..=41 goes
    assert_eq!(log.log_end_offset(), 39);
    let info = append_self_describing(&mut log, 3, 60, 0);
    assert_eq!(info.first_offset, 39);
    drop(log);
    let log = open(dir.path(), small_config());
    let records = read_all(&log);
    assert_eq!(records.len(), 42);
    for r in &records {
        assert_eq!(r.value.as_deref().unwrap()[..format!("offset-{}-", r.offset).len()], *format!("offset-{}-", r.offset).as_bytes());
    }
}

#[test]
fn replicated_appends_keep_the_leaders_offsets_and_epochs() {
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = open(leader_dir.path(), small_config());
    for epoch in [2, 2, 5] {
        let mut b = batch_of(&[b"a", b"b"], 0, Compression::None);
        leader.append(&mut b, fjord_log_core::storage::AppendOptions { leader_epoch: epoch, now_ms: 0 }).unwrap();
    }
    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower = open(follower_dir.path(), small_config());
    let fetched = leader.read(0, 1 << 20, None).unwrap();
    follower.append_replicated(&fetched.records, 0).unwrap();
    assert_eq!(follower.log_end_offset(), 6);
    assert_eq!(follower.latest_epoch(), Some(5));
    assert_eq!(follower.end_offset_for_epoch(2).end_offset, 4);
    assert_eq!(read_all(&follower), read_all(&leader));
    assert!(matches!(follower.append_replicated(&fetched.records, 0), Err(StorageError::NonMonotonicOffset { .. })));
}

#[test]
fn flush_policy_decides_when_appends_are_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert!(!append_self_describing(&mut log, 1, 0, 0).synced, "default relies on replication");
    assert_eq!(log.recovery_point(), 0);

    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { flush: FlushPolicy::every_append(), ..LogConfig::default() });
    assert!(append_self_describing(&mut log, 1, 0, 0).synced);
    assert_eq!(log.recovery_point(), 1);

    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig { flush: FlushPolicy { messages: Some(5), ms: Some(1_000) }, ..LogConfig::default() });
    assert!(!append_self_describing(&mut log, 3, 0, 0).synced);
    assert!(append_self_describing(&mut log, 3, 0, 0).synced, "6 unflushed messages ≥ flush.messages");
    assert!(!append_self_describing(&mut log, 1, 0, 10).synced);
    assert!(log.maybe_flush(1_010).unwrap(), "flush.ms elapsed");
    assert_eq!(log.recovery_point(), 7);
}

#[test]
fn a_deferred_sync_moves_the_recovery_point_unless_the_log_was_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert!(log.pending_sync().unwrap().is_none(), "an empty log has nothing to sync");

    append_self_describing(&mut log, 3, 0, 0);
    let pending = log.pending_sync().unwrap().expect("3 unsynced records");
    assert_eq!(pending.end(), 3);
    append_self_describing(&mut log, 2, 0, 0); // appended while the fsync runs
    pending.run().unwrap();
    log.mark_synced(&pending);
    assert_eq!(log.recovery_point(), 3, "only what the sync covered is durable");

    let rest = log.pending_sync().unwrap().expect("2 more");
    assert_eq!(rest.end(), 5);
    rest.run().unwrap();
    log.mark_synced(&rest);
    assert_eq!(log.recovery_point(), 5);
    assert!(log.pending_sync().unwrap().is_none());

    // A truncation between taking and marking voids the sync.
    append_self_describing(&mut log, 4, 0, 0);
    let stale = log.pending_sync().unwrap().expect("4 unsynced");
    log.truncate_to(6).unwrap();
    stale.run().unwrap();
    log.mark_synced(&stale);
    assert_eq!(log.recovery_point(), 5, "a sync taken before a truncation does not count");
}

#[test]
fn a_roll_leaves_the_sealed_segments_fsync_for_later_and_recovery_checks_them_until_then() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..7 {
        append_self_describing(&mut log, 4, 300, 0);
    }
    let active = *log.segment_bases().last().unwrap();
    assert_eq!(log.segment_count(), 3, "three batches to a 4 KiB segment");
    assert_eq!(log.recovery_point(), 0, "a roll does not fsync, so nothing is durable yet");

    // An unclean stop now: recovery checks every segment from the recovery point on.
    drop(log);
    let (mut log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert!(!report.clean_shutdown);
    assert_eq!(report.segments_recovered, 3);
    assert_eq!(log.log_end_offset(), 28);

    let pending = log.pending_sealed_sync().unwrap().expect("two sealed segments to fsync");
    assert_eq!(pending.end(), active, "up to the active segment");
    append_self_describing(&mut log, 1, 0, 0); // appends go on meanwhile
    pending.run().unwrap();
    log.mark_synced(&pending); // and writes the recovery point checkpoint
    assert_eq!(log.recovery_point(), active);
    assert!(log.pending_sealed_sync().unwrap().is_none(), "nothing sealed is left unsynced");
    assert_eq!(log.pending_sync().unwrap().map(|p| p.end()), Some(29), "the active segment's records still are");

    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), small_config()).unwrap();
    assert_eq!(report.segments_recovered, 1, "only the active segment is checked after the sync");
    assert_eq!(read_all(&log).len(), 29);
}

#[test]
fn fsyncs_that_pass_a_segment_write_the_recovery_point_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { flush: FlushPolicy::every_append(), ..small_config() };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..10 {
        append_self_describing(&mut log, 4, 300, 0);
    }
    assert!(log.segment_count() >= 4);
    drop(log); // unclean: no close
    let (_, report) = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(report.segments_recovered, 1, "only the active segment is past the checkpoint");
}

#[test]
fn a_sync_taken_before_a_roll_does_not_pass_the_segment_it_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for _ in 0..3 {
        append_self_describing(&mut log, 4, 300, 0);
    }
    assert_eq!(log.segment_count(), 1, "full, not rolled yet");
    let pending = log.pending_sync().unwrap().expect("12 records");
    assert_eq!(pending.end(), 12);
    append_self_describing(&mut log, 1, 0, 0); // rolls at 12: the segment's indexes are written, not fsynced
    assert_eq!(log.segment_bases(), vec![0, 12]);
    pending.run().unwrap();
    log.mark_synced(&pending);
    assert_eq!(log.recovery_point(), 0, "the sealed segment's indexes are not durable yet");
    let sealed = log.pending_sealed_sync().unwrap().expect("the sealed segment");
    sealed.run().unwrap();
    log.mark_synced(&sealed);
    assert_eq!(log.recovery_point(), 12);
}
