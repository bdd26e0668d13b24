use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use fjord_quorum::storage::{LogFile, LogStore};
use fjord_quorum::{Quorum, QuorumConfig, QuorumError};
use openraft::Vote;
use openraft::storage::RaftLogStorage;

use crate::cluster::{Recorder, entry, within};

/// Writes records `0..n` (`entry-{i}`) to a new log at `path`; returns the file's length
/// before the last record and after it.
fn write_log(path: &Path, n: u64) -> (u64, u64) {
    let (mut log, recovered) = LogFile::open(path, None).unwrap();
    assert!(recovered.records.is_empty());
    for i in 0..n - 1 {
        log.append(&[(i, &entry(i as usize))]).unwrap();
    }
    let before = log.len_bytes();
    log.append(&[(n - 1, &entry(n as usize - 1))]).unwrap();
    (before, log.len_bytes())
}

fn indexes(records: &[(u64, Vec<u8>)]) -> Vec<u64> {
    records.iter().map(|(i, _)| *i).collect()
}

#[test]
fn a_log_cut_at_any_byte_of_its_last_record_loses_just_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let (before, after) = write_log(&whole, 5);
    let contents = fs::read(&whole).unwrap();
    assert_eq!(contents.len() as u64, after);

    let torn = dir.path().join("torn");
    for cut in before..after {
        fs::write(&torn, &contents[..cut as usize]).unwrap();
        let (mut log, recovered) = LogFile::open(&torn, None).unwrap();
        assert_eq!(indexes(&recovered.records), [0, 1, 2, 3], "cut at {cut}");
        assert_eq!(recovered.cut_bytes, cut - before);
        assert_eq!(fs::metadata(&torn).unwrap().len(), before);
        // The log goes on from the last whole record.
        log.append(&[(4, b"again")]).unwrap();
        drop(log);
        let (_, recovered) = LogFile::open(&torn, None).unwrap();
        assert_eq!(recovered.records.last().unwrap(), &(4, b"again".to_vec()));
        assert_eq!(recovered.cut_bytes, 0);
    }
}

#[test]
fn garbage_after_the_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (_, end) = write_log(&path, 5);
    let clean = fs::read(&path).unwrap();
    // Arbitrary bytes; a header claiming 4 GiB; a header whose checksum does not match.
    let garbage: [Vec<u8>; 3] = [
        (0..=255u8).collect(),
        [u32::MAX.to_le_bytes(), [0; 4]].concat(),
        [8u32.to_le_bytes(), [1, 2, 3, 4], [0; 4], [0; 4]].concat(),
    ];
    for junk in garbage {
        fs::write(&path, [&clean[..], &junk[..]].concat()).unwrap();
        let (log, recovered) = LogFile::open(&path, None).unwrap();
        assert_eq!(indexes(&recovered.records), [0, 1, 2, 3, 4]);
        assert_eq!(recovered.cut_bytes, junk.len() as u64);
        assert_eq!(log.len_bytes(), end);
    }
}

#[test]
fn truncation_and_purging_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (_, full) = write_log(&path, 100);
    let (mut log, _) = LogFile::open(&path, None).unwrap();
    log.truncate(80).unwrap();
    assert_eq!(log.last_index(), Some(79));
    log.purge(59).unwrap();
    // The purged prefix is at least as large as the rest: the file was rewritten without it.
    assert!(
        log.len_bytes() < full / 2,
        "{} of {full} bytes left",
        log.len_bytes()
    );
    drop(log);

    let (mut log, recovered) = LogFile::open(&path, Some(59)).unwrap();
    assert_eq!(indexes(&recovered.records), (60..80).collect::<Vec<_>>());
    assert_eq!(recovered.records[0].1, entry(60));
    assert!(
        log.append(&[(81, b"gap")]).is_err(),
        "indexes must be consecutive"
    );
    log.purge(200).unwrap();
    assert_eq!(log.len_bytes(), 0);
    log.append(&[(201, b"after a snapshot")]).unwrap();
    drop(log);
    let (_, recovered) = LogFile::open(&path, Some(200)).unwrap();
    assert_eq!(recovered.records, [(201, b"after a snapshot".to_vec())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_survives_reopening_and_a_damaged_one_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let vote = Vote::new(7, 2);
    {
        let mut store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), None);
        store.save_vote(&vote).await.unwrap();
    }
    let mut store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(vote));
    drop(store);

    let path = dir.path().join("vote");
    let mut contents = fs::read(&path).unwrap();
    let last = contents.len() - 1;
    contents[last] ^= 0xff;
    fs::write(&path, contents).unwrap();
    let err = LogStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, QuorumError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("vote"), "{err}");
}

fn single_voter(dir: &Path) -> QuorumConfig {
    // Nothing listens on this address: one voter needs no peers.
    QuorumConfig::new(1, BTreeMap::from([(1, "127.0.0.1:9".to_string())]), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarts_over_a_torn_log_tail_with_its_state() {
    within(60, async {
        let dir = tempfile::tempdir().unwrap();
        let quorum = Quorum::start(single_voter(dir.path()), Arc::new(Recorder::default()))
            .await
            .unwrap();
        let mut last = 0;
        for i in 0..10 {
            last = loop {
                match quorum.propose(entry(i)).await {
                    Ok(index) => break index,
                    Err(QuorumError::NotLeader { .. }) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            };
        }
        quorum.shutdown().await.unwrap();
        drop(quorum);

        let log = dir.path().join("raft/log");
        let mut contents = fs::read(&log).unwrap();
        contents.extend_from_slice(b"\x20\x00\x00\x00torn");
        fs::write(&log, contents).unwrap();

        let machine = Arc::new(Recorder::default());
        let quorum = Quorum::start(single_voter(dir.path()), machine.clone())
            .await
            .unwrap();
        quorum.wait_applied(last).await.unwrap();
        assert_eq!(machine.entries(), (0..10).map(entry).collect::<Vec<_>>());
        quorum.shutdown().await.unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_fails_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("raft")).unwrap();
    let path = dir.path().join("raft/snapshot");
    fs::write(&path, b"not a snapshot").unwrap();
    let err = Quorum::start(single_voter(dir.path()), Arc::new(Recorder::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QuorumError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(err.to_string().contains("raft directory"), "{err}");
}
