//! A segment cut at every byte of its last batch (and, separately, with each CRC-covered
//! byte of that batch flipped) recovers to exactly the batches before it.

use std::fs::OpenOptions;
use std::path::Path;

use fjord_log_core::storage::{file_name, Batches, LogConfig, PartitionLog, LOG_SUFFIX};

use crate::support::*;

fn build_log(dir: &Path) -> (u64, u64, u64) {
    let mut log = open(dir, LogConfig { index_interval_bytes: 64, ..LogConfig::default() });
    for i in 0..8 {
        append_self_describing(&mut log, 3, 20 + i, 0);
    }
    // Data sizes, not file lengths: the active segment's file is preallocated past its data.
    let before_last = log.size_bytes();
    let last = append_self_describing(&mut log, 4, 300, 0);
    let size = log.size_bytes();
    assert!(size - before_last > 1_000, "the last batch is over a kilobyte");
    // Close (which trims preallocated space, keeping copies small), then remove the
    // clean-shutdown marker: the next open treats it as a crash and recovers the tail.
    log.close().unwrap();
    std::fs::remove_file(dir.join(fjord_log_core::storage::CLEAN_SHUTDOWN_FILE)).unwrap();
    (before_last, size, last.first_offset)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn check_recovers_to(dir: &Path, expected_end: u64) {
    let (mut log, _) = PartitionLog::open(dir, LogConfig::default()).unwrap();
    assert_eq!(log.log_end_offset(), expected_end);
    let records = read_all(&log);
    assert_eq!(records.len() as u64, expected_end);
    assert!(records.iter().all(|r| r.value.as_deref().unwrap().starts_with(format!("offset-{}-", r.offset).as_bytes())));
    // The log stays writable right after the cut.
    let info = append_self_describing(&mut log, 2, 5, 0);
    assert_eq!(info.first_offset, expected_end);
    assert_eq!(read_all(&log).len() as u64, expected_end + 2);
}

#[test]
fn a_segment_cut_at_every_byte_of_its_last_batch_recovers_the_batches_before_it() {
    let original = tempfile::tempdir().unwrap();
    let (last_start, size, last_base) = build_log(original.path());
    for cut in last_start..size {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(original.path(), dir.path());
        let file = OpenOptions::new().write(true).open(dir.path().join(file_name(0, LOG_SUFFIX))).unwrap();
        file.set_len(cut).unwrap();
        drop(file);
        check_recovers_to(dir.path(), last_base);
    }
    // And the uncut log keeps everything.
    let (log, report) = PartitionLog::open(original.path(), LogConfig::default()).unwrap();
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(log.log_end_offset(), last_base + 4);
}

#[test]
fn a_flipped_byte_in_the_last_batch_is_caught_by_its_crc() {
    let original = tempfile::tempdir().unwrap();
    let (last_start, size, last_base) = build_log(original.path());
    // Bytes 17.. of a batch (CRC and everything it covers), and the magic byte at 16.
    for at in (last_start + 16)..size {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(original.path(), dir.path());
        let path = dir.path().join(file_name(0, LOG_SUFFIX));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize] ^= 0x5a;
        std::fs::write(&path, bytes).unwrap();
        check_recovers_to(dir.path(), last_base);
    }
}

#[test]
fn garbage_appended_after_the_last_batch_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_, size, last_base) = build_log(dir.path());
    let path = dir.path().join(file_name(0, LOG_SUFFIX));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(size as usize);
    bytes.extend_from_slice(&[0xabu8; 4096]);
    std::fs::write(&path, &bytes).unwrap();
    let (_, report) = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(report.truncated_bytes, 4096);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    check_recovers_to(dir.path(), last_base + 4);
}

#[test]
fn preallocated_space_is_trimmed_on_close_and_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name(0, LOG_SUFFIX));
    let mut log = open(dir.path(), LogConfig::default());
    append_self_describing(&mut log, 3, 10, 0);
    let data = log.size_bytes();
    assert!(std::fs::metadata(&path).unwrap().len() > data, "the active segment is preallocated");
    drop(log); // crash: the zero tail is still on disk
    let (mut log, report) = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(report.truncated_bytes, 0, "unwritten preallocated space is not damage");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), data);
    append_self_describing(&mut log, 3, 10, 0);
    log.close().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * data, "a clean close trims the file to its data");
}

#[test]
fn segments_after_a_corrupt_one_are_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 2_000, ..LogConfig::default() };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..20 {
        append_self_describing(&mut log, 2, 200, 0);
    }
    let bases = log.segment_bases();
    assert!(bases.len() >= 4);
    drop(log);
    // Corrupt the second segment's last byte; with no recovery point checkpoint (rolls
    // leave it to a later fsync) the recovery point is 0, so all are scanned.
    assert!(!dir.path().join(fjord_log_core::storage::RECOVERY_POINT_FILE).exists());
    let path = dir.path().join(file_name(bases[1], LOG_SUFFIX));
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), config).unwrap();
    assert!(report.truncated_bytes > 0);
    assert_eq!(report.segments_dropped, bases.len() - 2);
    assert_eq!(log.segment_count(), 2);
    let records = read_all(&log);
    assert_eq!(records.len() as u64, log.log_end_offset());
    assert!(log.log_end_offset() < bases[2]);
}

#[test]
fn a_rolled_segment_whose_tail_never_reached_the_disk_hides_the_segments_after_it() {
    // A power loss after a roll, before the rolled segment was fsynced, with later data on
    // disk: the segment's last pages read back as zeros (file length kept).
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 2_000, ..LogConfig::default() };
    let mut log = open(dir.path(), config.clone());
    for _ in 0..12 {
        append_self_describing(&mut log, 2, 200, 0);
    }
    let bases = log.segment_bases();
    assert!(bases.len() >= 3);
    drop(log);
    let path = dir.path().join(file_name(bases[0], LOG_SUFFIX));
    let mut bytes = std::fs::read(&path).unwrap();
    let last_batch = Batches::new(&bytes).map(|b| b.unwrap().0).last().unwrap();
    assert!(last_batch > 0);
    bytes[last_batch..].fill(0); // the whole last batch: zeros to the end, as unwritten space reads
    std::fs::write(&path, bytes).unwrap();

    let (log, report) = PartitionLog::open(dir.path(), config).unwrap();
    assert!(report.truncated_bytes > 0, "zeros before the next segment's base are damage, not preallocation");
    assert_eq!(report.segments_dropped, bases.len() - 1);
    assert_eq!(log.segment_count(), 1);
    assert!(log.log_end_offset() < bases[1], "nothing past the hole is served");
    assert_eq!(read_all(&log).len() as u64, log.log_end_offset());
}
