//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup: rebalances, static members, sessions.

use std::time::Duration;

use kafka_protocol::messages::LeaveGroupRequest;
use kafka_protocol::messages::leave_group_request::MemberIdentity;

use fjord_log_core::group::GroupConfig;

use crate::support::*;

#[tokio::test]
async fn two_members_joining_together_make_one_rebalance_and_the_leader_assigns_both() {
    let (c, _) = coordinator_with(GroupConfig { initial_rebalance_delay_ms: 500, ..config() }).await;
    let first_a = join(&c, &Join::new("g"), 5).await;
    let first_b = join(&c, &Join::new("g"), 5).await;
    assert_eq!((first_a.error_code, first_b.error_code), (79, 79));
    let (a, b) = (first_a.member_id.to_string(), first_b.member_id.to_string());
    assert_ne!(a, b);
    assert!(a.starts_with("client-"), "member id is client id + uuid: {a}");

    let (ca, cb) = (c.clone(), c.clone());
    let ja = Join::new("g").member(&a);
    let jb = Join::new("g").member(&b);
    let ta = tokio::spawn(async move { join(&ca, &ja, 5).await });
    let tb = tokio::spawn(async move { join(&cb, &jb, 5).await });
    let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
    assert_eq!((ra.error_code, rb.error_code), (0, 0));
    assert_eq!(ra.generation_id, 1);
    assert_eq!(rb.generation_id, 1);
    assert_eq!(ra.leader, rb.leader);
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    let (leader, follower, leader_resp, follower_resp) =
        if ra.leader.as_str() == a { (&a, &b, &ra, &rb) } else { (&b, &a, &rb, &ra) };
    let mut listed: Vec<String> = leader_resp.members.iter().map(|m| m.member_id.to_string()).collect();
    listed.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(listed, expected, "the leader gets every member");
    assert!(follower_resp.members.is_empty());
    assert_eq!(leader_resp.members[0].metadata, subscription(&["t"]));

    // The follower's SyncGroup waits for the leader's.
    let cf = c.clone();
    let f = follower.clone();
    let follower_sync = tokio::spawn(async move { sync(&cf, "g", &f, 1, &[]).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!follower_sync.is_finished(), "a follower waits for the assignment");
    let leader_sync = sync(&c, "g", leader, 1, &[(leader.as_str(), b"L"), (follower.as_str(), b"F")]).await;
    assert_eq!(leader_sync.error_code, 0);
    assert_eq!(&leader_sync.assignment[..], b"L");
    let follower_sync = follower_sync.await.unwrap();
    assert_eq!(follower_sync.error_code, 0);
    assert_eq!(&follower_sync.assignment[..], b"F");
    assert_eq!(follower_sync.protocol_name.as_deref(), Some("range"));

    assert_eq!(heartbeat(&c, "g", &a, 1).await, 0);
    assert_eq!(heartbeat(&c, "g", &b, 1).await, 0);
}

#[tokio::test]
async fn member_id_is_required_from_v4_and_not_before() {
    let (c, _) = coordinator().await;
    let v4 = join(&c, &Join::new("g4"), 4).await;
    assert_eq!(v4.error_code, 79, "MEMBER_ID_REQUIRED");
    assert_eq!(v4.generation_id, -1);
    assert!(!v4.member_id.is_empty());
    let again = join(&c, &Join::new("g4").member(&v4.member_id), 4).await;
    assert_eq!(again.error_code, 0);
    assert_eq!(again.member_id, v4.member_id);
    assert_eq!(again.generation_id, 1);

    let v3 = join(&c, &Join::new("g3"), 3).await;
    assert_eq!(v3.error_code, 0, "v3 joins directly");
    assert!(!v3.member_id.is_empty());
    assert_eq!(v3.leader, v3.member_id);

    let unknown = join(&c, &Join::new("g4").member("nobody"), 5).await;
    assert_eq!(unknown.error_code, 25, "UNKNOWN_MEMBER_ID");
    let no_group = join(&c, &Join::new("none").member("nobody"), 5).await;
    assert_eq!(no_group.error_code, 25);
}

#[tokio::test]
async fn join_is_validated() {
    let (c, _) = coordinator().await;
    assert_eq!(join(&c, &Join::new("g").session(10), 5).await.error_code, 26, "INVALID_SESSION_TIMEOUT");
    assert_eq!(join(&c, &Join::new("g").session(2_000_000), 5).await.error_code, 26);
    assert_eq!(join(&c, &Join::new(""), 5).await.error_code, 24, "INVALID_GROUP_ID");
    assert_eq!(join(&c, &Join::new("g").protocols(vec![]), 3).await.error_code, 23, "INCONSISTENT_GROUP_PROTOCOL");

    let first = join(&c, &Join::new("g"), 3).await;
    assert_eq!(first.error_code, 0);
    let other = Join::new("g").protocols(vec![("roundrobin", subscription(&["t"]))]);
    assert_eq!(join(&c, &other, 3).await.error_code, 23, "no protocol in common");
    let mut other_type = Join::new("g");
    other_type.protocol_type = "connect".into();
    assert_eq!(join(&c, &other_type, 3).await.error_code, 23, "other protocol type");
}

#[tokio::test]
async fn a_static_member_rejoining_a_stable_group_keeps_its_assignment_and_nobody_rebalances() {
    let (c, _) = coordinator().await;
    let a = join(&c, &Join::new("g").instance("ia"), 5).await;
    assert_eq!((a.error_code, a.generation_id), (0, 1));
    assert!(a.member_id.starts_with("ia-"));
    assert_eq!(sync(&c, "g", &a.member_id, 1, &[(&a.member_id, b"A")]).await.error_code, 0);

    // A second static member joins: one rebalance, generation 2.
    let cb = c.clone();
    let tb = tokio::spawn(async move { join(&cb, &Join::new("g").instance("ib"), 5).await });
    eventually("the rebalance to be noticed", || async {
        (heartbeat_static(&c, "g", &a.member_id, Some("ia"), 1).await == 27).then_some(())
    })
    .await;
    let ra = join(&c, &Join::new("g").instance("ia").member(&a.member_id), 5).await;
    let rb = tb.await.unwrap();
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    let leader = ra.leader.to_string();
    assert_eq!(leader, a.member_id.to_string());
    let b_id = rb.member_id.to_string();
    let cbs = c.clone();
    let bid = b_id.clone();
    let b_sync = tokio::spawn(async move { sync(&cbs, "g", &bid, 2, &[]).await });
    let a_sync = sync(&c, "g", &leader, 2, &[(&leader, b"A2"), (&b_id, b"B2")]).await;
    assert_eq!(&a_sync.assignment[..], b"A2");
    assert_eq!(&b_sync.await.unwrap().assignment[..], b"B2");

    // b restarts: same instance id, no member id. It gets a new member id, generation 2, and
    // its old assignment; a never sees a rebalance.
    let rejoin = join(&c, &Join::new("g").instance("ib"), 5).await;
    assert_eq!(rejoin.error_code, 0);
    assert_eq!(rejoin.generation_id, 2);
    assert_ne!(rejoin.member_id.to_string(), b_id);
    assert_eq!(rejoin.leader.to_string(), leader, "the leader is unchanged");
    assert!(rejoin.members.is_empty());
    let resync = sync(&c, "g", &rejoin.member_id, 2, &[]).await;
    assert_eq!(resync.error_code, 0);
    assert_eq!(&resync.assignment[..], b"B2");
    assert_eq!(heartbeat_static(&c, "g", &a.member_id, Some("ia"), 2).await, 0, "no rebalance for the others");

    // The old member id of that instance is fenced.
    assert_eq!(heartbeat_static(&c, "g", &b_id, Some("ib"), 2).await, 82, "FENCED_INSTANCE_ID");
    let stale = join(&c, &Join::new("g").instance("ib").member(&b_id), 5).await;
    assert_eq!(stale.error_code, 82);
}

#[tokio::test]
async fn a_static_leader_rejoining_at_v9_is_told_to_skip_the_assignment() {
    let (c, _) = coordinator().await;
    let a = join(&c, &Join::new("g").instance("ia"), 9).await;
    assert_eq!(sync(&c, "g", &a.member_id, 1, &[(&a.member_id, b"A")]).await.error_code, 0);
    let again = join(&c, &Join::new("g").instance("ia"), 9).await;
    assert_eq!(again.error_code, 0);
    assert_eq!(again.generation_id, 1);
    assert!(again.skip_assignment);
    assert_eq!(again.leader, again.member_id);
    assert_eq!(again.members.len(), 1);
    let resync = sync(&c, "g", &again.member_id, 1, &[]).await;
    assert_eq!(&resync.assignment[..], b"A");
}

#[tokio::test]
async fn an_expired_session_removes_the_member_and_the_survivor_rebalances() {
    let (c, _) = coordinator().await;
    let a = join_new(&c, Join::new("g").session(1_000)).await;
    assert_eq!(a.generation_id, 1);
    assert_eq!(sync(&c, "g", &a.member_id, 1, &[(&a.member_id, b"A")]).await.error_code, 0);
    let cb = c.clone();
    let tb = tokio::spawn(async move { join_new(&cb, Join::new("g").session(1_000)).await });
    eventually("a to learn of the rebalance", || async {
        (heartbeat(&c, "g", &a.member_id, 1).await == 27).then_some(())
    })
    .await;
    let ra = join(&c, &Join::new("g").member(&a.member_id).session(1_000), 5).await;
    let rb = tb.await.unwrap();
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    let (a_id, b_id) = (ra.member_id.to_string(), rb.member_id.to_string());
    let leader = ra.leader.to_string();
    let follower = if leader == a_id { b_id.clone() } else { a_id.clone() };
    let cf = c.clone();
    let fid = follower.clone();
    let fs = tokio::spawn(async move { sync(&cf, "g", &fid, 2, &[]).await });
    sync(&c, "g", &leader, 2, &[]).await;
    assert_eq!(fs.await.unwrap().error_code, 0);

    // Only a keeps heartbeating; b's session runs out.
    let survivor = eventually("b's session to expire", || async {
        match heartbeat(&c, "g", &a_id, 2).await {
            0 => None,
            code => Some(code),
        }
    })
    .await;
    assert_eq!(survivor, 27, "REBALANCE_IN_PROGRESS");
    let rejoin = join(&c, &Join::new("g").member(&a_id).session(1_000), 5).await;
    assert_eq!(rejoin.error_code, 0);
    assert_eq!(rejoin.generation_id, 3);
    assert_eq!(rejoin.leader.to_string(), a_id);
    assert_eq!(rejoin.members.len(), 1, "b is gone");
    assert_eq!(heartbeat(&c, "g", &b_id, 2).await, 25, "UNKNOWN_MEMBER_ID");
}

#[tokio::test]
async fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_removed() {
    let (c, _) = coordinator().await;
    let a = join_new(&c, Join::new("g").rebalance(200)).await;
    sync(&c, "g", &a.member_id, 1, &[]).await;
    // b joins; a (heartbeating, never rejoining) is dropped after the rebalance timeout.
    let b = join_new(&c, Join::new("g").rebalance(200)).await;
    assert_eq!(b.error_code, 0);
    assert_eq!(b.generation_id, 2);
    assert_eq!(b.leader, b.member_id);
    assert_eq!(b.members.len(), 1);
    assert_eq!(heartbeat(&c, "g", &a.member_id, 1).await, 25);
}

#[tokio::test]
async fn leaving_triggers_a_rebalance_and_the_last_one_out_empties_the_group() {
    let (c, _) = coordinator_with(GroupConfig { initial_rebalance_delay_ms: 500, ..config() }).await;
    let ja = join(&c, &Join::new("g"), 5).await.member_id.to_string();
    let jb = join(&c, &Join::new("g"), 5).await.member_id.to_string();
    let (ca, cb) = (c.clone(), c.clone());
    let (ja2, jb2) = (ja.clone(), jb.clone());
    let ta = tokio::spawn(async move { join(&ca, &Join::new("g").member(&ja2), 5).await });
    let tb = tokio::spawn(async move { join(&cb, &Join::new("g").member(&jb2), 5).await });
    let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    let leader = ra.leader.to_string();
    let cf = c.clone();
    let follower = if leader == ja { jb.clone() } else { ja.clone() };
    let fid = follower.clone();
    let fs = tokio::spawn(async move { sync(&cf, "g", &fid, 1, &[]).await });
    sync(&c, "g", &leader, 1, &[]).await;
    fs.await.unwrap();

    // v0-2: one member id, one error code.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = gid("g");
    leave.member_id = s(&follower);
    let response = c.leave_group(leave, 1).await;
    assert_encodes(&response, 1);
    assert_eq!(response.error_code, 0);
    assert_eq!(heartbeat(&c, "g", &leader, 1).await, 27, "the leader must rejoin");
    let alone = join(&c, &Join::new("g").member(&leader), 5).await;
    assert_eq!((alone.generation_id, alone.members.len()), (2, 1));

    // v3+: a batch, answered per member.
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = gid("g");
    let mut m1 = MemberIdentity::default();
    m1.member_id = s(&leader);
    let mut m2 = MemberIdentity::default();
    m2.member_id = s("ghost");
    leave.members = vec![m1, m2];
    let response = c.leave_group(leave, 5).await;
    assert_encodes(&response, 5);
    assert_eq!(response.error_code, 0);
    let codes: Vec<i16> = response.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![0, 25]);
    assert_eq!(heartbeat(&c, "g", &leader, 2).await, 25);
    let described = c.describe_groups(describe_request(&["g"]), 5).await;
    assert_eq!(described.groups[0].group_state.as_str(), "Empty");
}

#[tokio::test]
async fn static_members_can_be_removed_by_instance_id() {
    let (c, _) = coordinator().await;
    let a = join(&c, &Join::new("g").instance("ia"), 5).await;
    sync(&c, "g", &a.member_id, 1, &[]).await;
    let mut leave = LeaveGroupRequest::default();
    leave.group_id = gid("g");
    let mut m = MemberIdentity::default();
    m.group_instance_id = Some(s("ia"));
    leave.members = vec![m];
    let response = c.leave_group(leave, 4).await;
    assert_eq!(response.members[0].error_code, 0);
    assert_eq!(heartbeat_static(&c, "g", &a.member_id, Some("ia"), 1).await, 25);
}

#[tokio::test]
async fn heartbeat_and_sync_are_fenced_by_generation_and_membership() {
    let (c, _) = coordinator().await;
    let a = join_new(&c, Join::new("g")).await;
    assert_eq!(heartbeat(&c, "g", &a.member_id, 1).await, 0, "CompletingRebalance accepts heartbeats");
    assert_eq!(sync(&c, "g", &a.member_id, 0, &[]).await.error_code, 22, "ILLEGAL_GENERATION");
    assert_eq!(sync(&c, "g", "ghost", 1, &[]).await.error_code, 25);
    assert_eq!(sync(&c, "nope", "ghost", 1, &[]).await.error_code, 25);
    assert_eq!(sync(&c, "g", &a.member_id, 1, &[]).await.error_code, 0);
    assert_eq!(heartbeat(&c, "g", &a.member_id, 0).await, 22);
    assert_eq!(heartbeat(&c, "g", "ghost", 1).await, 25);
    assert_eq!(heartbeat(&c, "none", "ghost", 1).await, 25);
    assert_eq!(heartbeat(&c, "", "ghost", 1).await, 24);
}

#[tokio::test]
async fn a_failed_assignment_write_is_reported_and_the_group_rebalances() {
    let (c, topic) = coordinator().await;
    let a = join_new(&c, Join::new("g")).await;
    topic.set_failing(true);
    let failed = sync(&c, "g", &a.member_id, 1, &[(&a.member_id, b"A")]).await;
    assert_eq!(failed.error_code, 15, "COORDINATOR_NOT_AVAILABLE");
    topic.set_failing(false);
    assert_eq!(heartbeat(&c, "g", &a.member_id, 1).await, 27);
    let again = join(&c, &Join::new("g").member(&a.member_id), 5).await;
    assert_eq!(again.generation_id, 2);
    assert_eq!(sync(&c, "g", &a.member_id, 2, &[(&a.member_id, b"A")]).await.error_code, 0);
}

pub fn describe_request(groups: &[&str]) -> kafka_protocol::messages::DescribeGroupsRequest {
    let mut r = kafka_protocol::messages::DescribeGroupsRequest::default();
    r.groups = groups.iter().map(|g| gid(g)).collect();
    r
}

/// Kafka's timing on the broker's defaults (6 s minimum session, 100 ms expiry tick), on a
/// paused clock: a member whose heartbeats stop is still there just before its session
/// timeout and gone within one tick after it, whether static or dynamic.
#[tokio::test(start_paused = true)]
async fn a_member_whose_session_lapses_is_removed_within_its_session_timeout() {
    for instance in [Some("static-a"), None] {
        let config = GroupConfig { offsets_partitions: PARTITIONS, ..GroupConfig::default() };
        assert_eq!((config.min_session_timeout_ms, config.max_session_timeout_ms), (6_000, 1_800_000), "Kafka's defaults");
        let (c, _) = coordinator_with(config).await;
        let mut join_req = Join::new("g").session(6_000);
        if let Some(id) = instance {
            join_req = join_req.instance(id);
        }
        let joined = match instance {
            Some(_) => join(&c, &join_req, 5).await,
            None => join_new(&c, join_req).await,
        };
        assert_eq!(joined.error_code, 0);
        assert_eq!(sync(&c, "g", &joined.member_id, 1, &[(&joined.member_id, b"A")]).await.error_code, 0);
        // The last heartbeat; the session runs from here.
        assert_eq!(heartbeat_static(&c, "g", &joined.member_id, instance, 1).await, 0);
        let members = |c: &Coordinator| {
            let c = c.clone();
            async move { c.describe_groups(describe_request(&["g"]), 5).await.groups[0].members.len() }
        };
        tokio::time::sleep(Duration::from_millis(5_900)).await;
        assert_eq!(members(&c).await, 1, "{instance:?}: still a member 5.9 s after its last heartbeat");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(members(&c).await, 0, "{instance:?}: removed by 6.2 s after its last heartbeat");
    }
}

#[tokio::test]
async fn a_join_waiting_in_a_group_this_broker_gives_up_ends_so_the_client_finds_the_new_coordinator() {
    // A long initial rebalance delay keeps the join parked.
    let (c, _) = coordinator_with(GroupConfig { initial_rebalance_delay_ms: 60_000, ..config() }).await;
    let first = join(&c, &Join::new("g"), 5).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = first.member_id.to_string();
    let (c2, j) = (c.clone(), Join::new("g").member(&member));
    let parked = tokio::spawn(async move { join(&c2, &j, 5).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!parked.is_finished(), "the join waits for the rebalance delay");

    // The group's offsets partition moves to another broker.
    for partition in 0..PARTITIONS {
        c.give_up(partition);
    }
    let answer = tokio::time::timeout(Duration::from_secs(10), parked).await.expect("the parked join ends").unwrap();
    assert_eq!(answer.error_code, 15, "COORDINATOR_NOT_AVAILABLE: the client looks the coordinator up again");
}
