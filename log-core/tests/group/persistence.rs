//! The offsets topic: what the coordinator writes is what a reloaded coordinator serves.

use fjord_log_core::group::records::{GroupRecord, RecordError};
use fjord_log_core::group::{GroupCoordinator, MemoryOffsetsTopic, OffsetsTopic};
use kafka_protocol::messages::OffsetFetchRequest;

use crate::membership::describe_request;
use crate::support::*;

async fn fetch_all(c: &Coordinator, group: &str) -> Vec<(String, i32, i64, i32)> {
    let mut r = OffsetFetchRequest::default();
    r.group_id = gid(group);
    r.topics = None;
    let response = c.offset_fetch(r, 7).await;
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index, p.committed_offset, p.committed_leader_epoch))
        })
        .collect()
}

#[tokio::test]
async fn a_reloaded_coordinator_has_the_same_groups_members_assignments_and_offsets() {
    let (c, topic) = coordinator().await;
    let a = join(&c, &Join::new("g").instance("ia"), 5).await;
    let a_id = a.member_id.to_string();
    sync(&c, "g", &a_id, 1, &[(&a_id, b"assignment-a")]).await;
    assert_eq!(commit(&c, "g", &a_id, 1, &[("t", 0, 100), ("t", 1, 101), ("u", 0, 7)]).await, vec![0, 0, 0]);
    assert_eq!(commit(&c, "g", &a_id, 1, &[("t", 0, 150)]).await, vec![0]);
    assert_eq!(commit(&c, "simple", "", -1, &[("t", 0, 1)]).await, vec![0]);

    // Every record of "g" is in its partition of the offsets topic.
    let partition = c.group_partition("g");
    let records = topic.records(partition);
    assert!(!records.is_empty());
    for (key, value) in &records {
        let record = GroupRecord::decode(Some(key), value.as_deref()).unwrap();
        if record.group() == "g" {
            continue;
        }
        assert_eq!(c.group_partition(record.group()), partition);
    }
    c.shutdown().await;
    drop(c);

    let c = GroupCoordinator::load(topic.clone(), config()).await.unwrap();
    assert_eq!(fetch_all(&c, "g").await, vec![("t".into(), 0, 150, 3), ("t".into(), 1, 101, 3), ("u".into(), 0, 7, 3)]);
    assert_eq!(fetch_all(&c, "simple").await, vec![("t".into(), 0, 1, 3)]);

    let described = c.describe_groups(describe_request(&["g"]), 5).await;
    let g = &described.groups[0];
    assert_eq!((g.group_state.as_str(), g.protocol_data.as_str()), ("Stable", "range"));
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_id.as_str(), a_id);
    assert_eq!(g.members[0].group_instance_id.as_deref(), Some("ia"));
    assert_eq!(&g.members[0].member_assignment[..], b"assignment-a");
    assert_eq!(g.members[0].member_metadata, subscription(&["t"]));

    // The member carries on in generation 1 with its assignment, without rejoining.
    assert_eq!(heartbeat_static(&c, "g", &a_id, Some("ia"), 1).await, 0);
    let again = sync(&c, "g", &a_id, 1, &[]).await;
    assert_eq!((again.error_code, &again.assignment[..]), (0, &b"assignment-a"[..]));
    assert_eq!(commit(&c, "g", &a_id, 1, &[("t", 0, 200)]).await, vec![0]);
    // A restarted static member gets its assignment back as well.
    let rejoin = join(&c, &Join::new("g").instance("ia"), 5).await;
    assert_eq!((rejoin.error_code, rejoin.generation_id), (0, 1));
    let resync = sync(&c, "g", &rejoin.member_id, 1, &[]).await;
    assert_eq!(&resync.assignment[..], b"assignment-a");
}

#[tokio::test]
async fn an_emptied_group_is_reloaded_empty_with_its_generation() {
    let (c, topic) = coordinator().await;
    let a = join_new(&c, Join::new("g")).await;
    sync(&c, "g", &a.member_id, 1, &[]).await;
    let mut leave = kafka_protocol::messages::LeaveGroupRequest::default();
    leave.group_id = gid("g");
    leave.member_id = a.member_id.clone();
    c.leave_group(leave, 0).await;
    c.shutdown().await;
    drop(c);
    let c = GroupCoordinator::load(topic, config()).await.unwrap();
    let described = c.describe_groups(describe_request(&["g"]), 5).await;
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
    assert!(described.groups[0].members.is_empty());
    // The next generation continues after the stored one (1 → emptied as 2 → 3).
    let b = join_new(&c, Join::new("g")).await;
    assert_eq!(b.generation_id, 3);
}

#[tokio::test]
async fn garbage_in_the_offsets_topic_is_skipped_not_fatal() {
    let topic = MemoryOffsetsTopic::new(PARTITIONS);
    let good = GroupRecord::Offset {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
        value: Some(fjord_log_core::group::records::OffsetValue {
            offset: 42,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
        }),
    }
    .encode();
    let garbage: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        (vec![], None),
        (vec![0xff, 0xff, 1, 2, 3], Some(vec![1])),
        (vec![0, 1, 0x7f, 0xff], Some(vec![0, 3])),
        (good.0.clone(), Some(vec![0, 3, 0, 0])),
        (vec![0, 2, 0, 1, b'h'], Some(vec![0, 3, 0, 8, b'c'])),
        (vec![0, 2, 0, 1, b'h'], Some(vec![0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff])),
    ];
    let mut records = garbage.clone();
    records.push(good);
    let partition =
        GroupCoordinator::load(MemoryOffsetsTopic::new(PARTITIONS), config()).await.unwrap().group_partition("g");
    topic.push_raw(partition, records).unwrap();
    for (key, value) in &garbage {
        assert!(GroupRecord::decode(Some(key), value.as_deref()).is_err());
    }
    assert_eq!(GroupRecord::decode(None, None), Err(RecordError::MissingKey));

    let c = GroupCoordinator::load(topic.clone(), config()).await.unwrap();
    assert_eq!(fetch_all(&c, "g").await, vec![("t".into(), 0, 42, -1)]);
    assert_eq!(topic.partition_count(), PARTITIONS);
}

#[tokio::test]
async fn a_deleted_topics_offsets_are_dropped_from_every_group_and_stay_dropped() {
    let (c, topic) = coordinator().await;
    assert_eq!(commit(&c, "g1", "", -1, &[("gone", 0, 10), ("gone", 1, 11), ("kept", 0, 5)]).await, vec![0, 0, 0]);
    assert_eq!(commit(&c, "g2", "", -1, &[("gone", 0, 3)]).await, vec![0]);

    c.remove_offsets_of_topic("gone").await;
    assert_eq!(fetch_all(&c, "g1").await, vec![("kept".into(), 0, 5, 3)]);
    assert_eq!(fetch_all(&c, "g2").await, vec![]);

    // The tombstones are in the offsets topic: a reloaded coordinator agrees.
    c.shutdown().await;
    drop(c);
    let c = GroupCoordinator::load(topic.clone(), config()).await.unwrap();
    assert_eq!(fetch_all(&c, "g1").await, vec![("kept".into(), 0, 5, 3)]);
    assert_eq!(fetch_all(&c, "g2").await, vec![]);
}
