//! OffsetCommit, OffsetFetch, OffsetDelete.

use kafka_protocol::messages::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetFetchRequest, TopicName};

use crate::support::*;

/// (topic, partition, offset, leader epoch, metadata) as fetched with v1-7.
async fn fetch(
    c: &Coordinator,
    group: &str,
    topics: Option<&[(&str, &[i32])]>,
    version: i16,
) -> Vec<(String, i32, i64, i32, String)> {
    let mut r = OffsetFetchRequest::default();
    r.group_id = gid(group);
    r.topics = topics.map(|ts| {
        ts.iter()
            .map(|(t, ps)| {
                let mut x = OffsetFetchRequestTopic::default();
                x.name = TopicName(s(t));
                x.partition_indexes = ps.to_vec();
                x
            })
            .collect()
    });
    let response = c.offset_fetch(r, version).await;
    assert_encodes(&response, version);
    assert_eq!(response.error_code, 0);
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref().unwrap_or_default().to_string(),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn simple_commits_are_fetched_back_by_partition_and_all_at_once() {
    let (c, _) = coordinator().await;
    assert_eq!(commit(&c, "g", "", -1, &[("a", 0, 10), ("a", 1, 11), ("b", 0, 20)]).await, vec![0, 0, 0]);
    assert_eq!(commit(&c, "g", "", -1, &[("a", 0, 12)]).await, vec![0], "a later commit wins");

    let some = fetch(&c, "g", Some(&[("a", &[0, 2]), ("c", &[0])]), 7).await;
    assert_eq!(
        some,
        vec![
            ("a".into(), 0, 12, 3, "meta".into()),
            ("a".into(), 2, -1, -1, String::new()),
            ("c".into(), 0, -1, -1, String::new()),
        ]
    );
    let all = fetch(&c, "g", None, 2).await;
    let offsets: Vec<(String, i32, i64)> = all.into_iter().map(|(t, p, o, _, _)| (t, p, o)).collect();
    assert_eq!(offsets, vec![("a".into(), 0, 12), ("a".into(), 1, 11), ("b".into(), 0, 20)]);
    let old = fetch(&c, "g", Some(&[("a", &[0])]), 1).await;
    assert_eq!(old[0].2, 12);
    assert_eq!(old[0].3, -1, "no leader epoch before v5");
    assert!(fetch(&c, "unknown", None, 7).await.is_empty());
    assert_eq!(fetch(&c, "unknown", Some(&[("a", &[0])]), 7).await[0].2, -1);
}

#[tokio::test]
async fn batched_fetch_from_v8_answers_per_group() {
    let (c, _) = coordinator().await;
    commit(&c, "g1", "", -1, &[("a", 0, 1)]).await;
    commit(&c, "g2", "", -1, &[("b", 1, 2)]).await;
    let mut r = OffsetFetchRequest::default();
    let mut g1 = OffsetFetchRequestGroup::default();
    g1.group_id = gid("g1");
    g1.topics = None;
    let mut g2 = OffsetFetchRequestGroup::default();
    g2.group_id = gid("g2");
    let mut t = OffsetFetchRequestTopics::default();
    t.name = TopicName(s("b"));
    t.partition_indexes = vec![1, 2];
    g2.topics = Some(vec![t]);
    r.groups = vec![g1, g2];
    let response = c.offset_fetch(r, 8).await;
    assert_encodes(&response, 8);
    assert_eq!(response.groups.len(), 2);
    let g1 = &response.groups[0];
    assert_eq!(g1.group_id.0.as_str(), "g1");
    assert_eq!(g1.topics[0].partitions[0].committed_offset, 1);
    let g2 = &response.groups[1];
    let offsets: Vec<i64> = g2.topics[0].partitions.iter().map(|p| p.committed_offset).collect();
    assert_eq!(offsets, vec![2, -1]);
}

#[tokio::test]
async fn commits_are_fenced_by_generation_and_membership() {
    let (c, _) = coordinator().await;
    let a = join_new(&c, Join::new("g")).await;
    let m = a.member_id.to_string();
    assert_eq!(commit(&c, "g", &m, 1, &[("t", 0, 5)]).await, vec![27], "REBALANCE_IN_PROGRESS while completing");
    sync(&c, "g", &m, 1, &[]).await;
    assert_eq!(commit(&c, "g", &m, 1, &[("t", 0, 5)]).await, vec![0]);
    assert_eq!(commit(&c, "g", &m, 0, &[("t", 0, 6)]).await, vec![22], "ILLEGAL_GENERATION");
    assert_eq!(commit(&c, "g", "ghost", 1, &[("t", 0, 6)]).await, vec![25], "UNKNOWN_MEMBER_ID");
    assert_eq!(commit(&c, "g", "", -1, &[("t", 0, 6)]).await, vec![25], "no simple commits to a live group");
    assert_eq!(commit(&c, "nobody", "m", 3, &[("t", 0, 6)]).await, vec![22], "unknown group, real generation");
    assert_eq!(fetch(&c, "g", Some(&[("t", &[0])]), 7).await[0].2, 5);
}

#[tokio::test]
async fn bad_partitions_fail_alone() {
    let (c, _) = coordinator().await;
    let mut r = commit_request("g", "", -1, &[("t", 0, 1), ("t", 99, 1), ("u", 1, 1)]);
    r.topics[1].partitions[0].committed_metadata = Some(s(&"x".repeat(5000)));
    let response = c.offset_commit(r, 8, |topic, p| topic == "u" || p < 10).await;
    let codes: Vec<i16> = response.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect();
    assert_eq!(codes, vec![0, 3, 12], "UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE");
    let names: Vec<&str> = response.topics.iter().map(|t| t.name.0.as_str()).collect();
    assert_eq!(names, vec!["t", "u"]);
    assert_eq!(fetch(&c, "g", None, 7).await.len(), 1);
}

#[tokio::test]
async fn a_commit_that_cannot_be_stored_is_not_acknowledged_nor_served() {
    let (c, topic) = coordinator().await;
    topic.set_failing(true);
    assert_eq!(commit(&c, "g", "", -1, &[("t", 0, 1)]).await, vec![15], "COORDINATOR_NOT_AVAILABLE");
    topic.set_failing(false);
    assert_eq!(fetch(&c, "g", Some(&[("t", &[0])]), 7).await[0].2, -1);
}

fn delete_request(group: &str, offsets: &[(&str, i32)]) -> OffsetDeleteRequest {
    let mut r = OffsetDeleteRequest::default();
    r.group_id = gid(group);
    for (topic, partition) in offsets {
        let mut t = OffsetDeleteRequestTopic::default();
        t.name = TopicName(s(topic));
        let mut p = OffsetDeleteRequestPartition::default();
        p.partition_index = *partition;
        t.partitions.push(p);
        r.topics.push(t);
    }
    r
}

#[tokio::test]
async fn offsets_of_subscribed_topics_cannot_be_deleted_while_members_consume() {
    let (c, _) = coordinator().await;
    let a = join_new(&c, Join::new("g").protocols(vec![("range", subscription(&["t"]))])).await;
    let m = a.member_id.to_string();
    sync(&c, "g", &m, 1, &[]).await;
    assert_eq!(commit(&c, "g", &m, 1, &[("t", 0, 5), ("other", 0, 7)]).await, vec![0, 0]);
    let response = c.offset_delete(delete_request("g", &[("t", 0), ("other", 0)]), 0).await;
    assert_encodes(&response, 0);
    assert_eq!(response.error_code, 0);
    let codes: Vec<i16> = response.topics.iter().map(|t| t.partitions[0].error_code).collect();
    assert_eq!(codes, vec![86, 0], "GROUP_SUBSCRIBED_TO_TOPIC for t only");
    let left = fetch(&c, "g", None, 7).await;
    assert_eq!(left.iter().map(|(t, ..)| t.as_str()).collect::<Vec<_>>(), vec!["t"]);

    assert_eq!(c.offset_delete(delete_request("missing", &[("t", 0)]), 0).await.error_code, 69, "GROUP_ID_NOT_FOUND");

    // Once the group is empty, everything can go.
    let mut leave = kafka_protocol::messages::LeaveGroupRequest::default();
    leave.group_id = gid("g");
    leave.member_id = s(&m);
    c.leave_group(leave, 2).await;
    let response = c.offset_delete(delete_request("g", &[("t", 0)]), 0).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    assert!(fetch(&c, "g", None, 7).await.is_empty());
}
