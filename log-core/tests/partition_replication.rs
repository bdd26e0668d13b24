//! Replication between real partitions on disk, with the fetches carried by hand: a leader
//! and a follower copy records, the high watermark follows the follower, acks=all waits for
//! it, and after a leader change the old leader truncates its unreplicated tail.

use fjord_log_core::broker::{Isolation, Partition, TopicSettings};
use fjord_log_core::replication::{AckState, FetchAnswer, FollowerAction, FollowerFetchOutcome, LeaderAndIsr};
use fjord_log_core::storage::{decode_records, BatchBuilder, Batches, Compression, LogConfig, TimestampType};

fn settings(min_insync: i32) -> TopicSettings {
    TopicSettings { log: LogConfig::default(), min_insync_replicas: min_insync, replica_lag_time_max_ms: 30_000 }
}

fn batch(value: &str) -> Vec<u8> {
    let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
    builder.push(0, 1_700_000_000_000, None, Some(value.as_bytes()), &[]);
    builder.build().expect("batch")
}

fn state(leader: i32, leader_epoch: i32, partition_epoch: i32, isr: &[i32]) -> LeaderAndIsr {
    LeaderAndIsr { leader, leader_epoch, partition_epoch, replicas: vec![1, 2], isr: isr.to_vec() }
}

/// One fetch from `follower` to `leader`, answered and applied; returns what the follower did.
fn replicate_once(leader: &Partition, follower: &Partition) -> FollowerAction {
    let (leader_id, fetch) = follower.next_follower_fetch().expect("the follower fetches");
    assert!(leader_id > 0);
    let served = leader.serve_follower_fetch(fetch, 1 << 20).expect("served");
    let answer = match served.outcome {
        FollowerFetchOutcome::Read { high_watermark } => FetchAnswer::Records { high_watermark },
        FollowerFetchOutcome::Diverging(end) => FetchAnswer::Diverging(end),
        FollowerFetchOutcome::OutOfRange { log_start, log_end } => FetchAnswer::OutOfRange { log_start, log_end },
        other => panic!("unexpected {other:?}"),
    };
    follower.apply_follower_answer(fetch, answer, &served.records).expect("applied")
}

fn values(partition: &Partition, end: u64) -> Vec<String> {
    let read = partition.read(0, 1 << 20, Isolation::ReadUncommitted).expect("read");
    let mut out = Vec::new();
    for item in Batches::new(&read.records) {
        let (_, bytes) = item.expect("batch");
        let (_, records) = decode_records(bytes).expect("records");
        out.extend(records.iter().map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()));
    }
    out.truncate(end as usize);
    out
}

#[test]
fn the_high_watermark_waits_for_the_follower_and_a_new_leader_truncates_the_old_ones_tail() {
    let (dir1, dir2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let initial = state(1, 0, 0, &[1, 2]);
    let node1 = Partition::open("t", 0, dir1.path(), &settings(2), 1, &initial).expect("open");
    let node2 = Partition::open("t", 0, dir2.path(), &settings(2), 2, &initial).expect("open");
    assert!(node1.is_leader() && !node2.is_leader());

    // acks=all to the leader: written, but not acknowledged until the follower has it.
    let (appended, _) = node1.append_deferred(&mut batch("a"), true, false).expect("append");
    assert_eq!(node1.ack_state(appended.end_offset).expect("state"), AckState::Pending);
    assert_eq!(node1.high_watermark(), 0);
    // The follower refuses produce and consumer reads.
    assert!(node2.append_deferred(&mut batch("x"), false, false).is_err());
    assert!(node2.read(0, 1024, Isolation::ReadUncommitted).is_err());

    assert!(matches!(replicate_once(&node1, &node2), FollowerAction::Append { .. }));
    // Its next fetch tells the leader it has the record: the high watermark moves.
    replicate_once(&node1, &node2);
    assert_eq!(node1.high_watermark(), 1);
    assert_eq!(node1.ack_state(appended.end_offset).expect("state"), AckState::Acknowledged);
    assert_eq!(node2.high_watermark(), 1);

    // The leader takes two more records the follower never gets; then node 2 is elected.
    node1.append_deferred(&mut batch("lost-1"), false, false).expect("append");
    node1.append_deferred(&mut batch("lost-2"), false, false).expect("append");
    let elected = state(2, 1, 1, &[2]);
    node2.apply_state(&elected).expect("become leader");
    node1.apply_state(&elected).expect("become follower");
    assert!(node2.is_leader() && !node1.is_leader());
    node2.append_deferred(&mut batch("b"), false, false).expect("append");

    // Node 1's fetch diverges at offset 1: it truncates its tail, then copies "b".
    assert_eq!(replicate_once(&node2, &node1), FollowerAction::TruncateTo(1));
    replicate_once(&node2, &node1);
    replicate_once(&node2, &node1);
    assert_eq!(node1.log_end_offset().expect("end"), 2);
    node1.apply_state(&state(1, 2, 2, &[1, 2])).expect("lead again");
    assert_eq!(values(&node1, 2), vec!["a", "b"]);
}

#[test]
fn a_single_replica_commits_at_once_and_min_insync_refuses_acks_all() {
    let dir = tempfile::tempdir().expect("dir");
    let alone = LeaderAndIsr { leader: 1, leader_epoch: 0, partition_epoch: 0, replicas: vec![1], isr: vec![1] };
    let partition = Partition::open("t", 0, dir.path(), &settings(1), 1, &alone).expect("open");
    let (appended, _) = partition.append_deferred(&mut batch("a"), true, false).expect("append");
    assert_eq!(partition.high_watermark(), 1);
    assert_eq!(partition.ack_state(appended.end_offset).expect("state"), AckState::Acknowledged);
    partition.apply_settings(&settings(2)).expect("settings");
    let refused = partition.append_deferred(&mut batch("b"), true, false).expect_err("refused");
    assert_eq!(refused.code, kafka_protocol::ResponseError::NotEnoughReplicas);
}

#[test]
fn a_leader_that_wrote_nothing_in_its_epoch_follows_the_next_one_without_looping() {
    let (dir1, dir2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let initial = state(1, 0, 0, &[1, 2]);
    let node1 = Partition::open("t", 0, dir1.path(), &settings(1), 1, &initial).expect("open");
    let node2 = Partition::open("t", 0, dir2.path(), &settings(1), 2, &initial).expect("open");
    node1.append_deferred(&mut batch("a"), false, false).expect("append");
    replicate_once(&node1, &node2);
    replicate_once(&node1, &node2);
    // Node 1 is re-elected (epoch 1) and writes nothing; then node 2 leads in epoch 2.
    node1.apply_state(&state(1, 1, 1, &[1, 2])).expect("lead again");
    let elected = state(2, 2, 2, &[2, 1]);
    node2.apply_state(&elected).expect("lead");
    node1.apply_state(&elected).expect("follow");
    node2.append_deferred(&mut batch("b"), false, false).expect("append");
    // Node 1's empty epoch 1 diverges once; then it copies "b" instead of truncating forever.
    let mut actions = Vec::new();
    for _ in 0..4 {
        actions.push(replicate_once(&node2, &node1));
    }
    assert_eq!(actions[0], FollowerAction::TruncateTo(1), "{actions:?}");
    assert!(matches!(actions[1], FollowerAction::Append { .. }), "{actions:?}");
    assert_eq!(node1.log_end_offset().expect("end"), 2);
}
