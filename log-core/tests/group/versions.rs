//! Every response encodes at every version of its API (kafka-protocol refuses a field the
//! version lacks), for successes and errors alike.

use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, HeartbeatRequest, LeaveGroupRequest, ListGroupsRequest,
    OffsetDeleteRequest, OffsetFetchRequest, SyncGroupRequest,
};

use crate::support::*;

#[tokio::test]
async fn every_response_encodes_at_every_version() {
    let (c, _) = coordinator().await;
    for version in 0..=9 {
        let group = format!("g{version}");
        let first = c.join_group(Join::new(&group).instance("i").request(), version, &client("c")).await;
        assert_encodes(&first, version);
        let error = c.join_group(Join::new(&group).member("ghost").request(), version, &client("c")).await;
        assert_encodes(&error, version);
        // A static rejoin of a Stable group (members list for the leader at v9).
        let mut s1 = SyncGroupRequest::default();
        s1.group_id = gid(&group);
        s1.member_id = first.member_id.clone();
        s1.generation_id = first.generation_id;
        c.sync_group(s1, 0).await;
        let rejoin = c.join_group(Join::new(&group).instance("i").request(), version, &client("c")).await;
        assert_encodes(&rejoin, version);
    }
    for version in 0..=5 {
        let mut r = SyncGroupRequest::default();
        r.group_id = gid("g9");
        r.member_id = s("ghost");
        assert_encodes(&c.sync_group(r, version).await, version);
    }
    for version in 0..=4 {
        let mut r = HeartbeatRequest::default();
        r.group_id = gid("g9");
        r.member_id = s("ghost");
        assert_encodes(&c.heartbeat(r, version).await, version);
    }
    for version in 0..=5 {
        let mut r = LeaveGroupRequest::default();
        r.group_id = gid("g9");
        r.member_id = if version <= 2 { s("ghost") } else { s("") };
        assert_encodes(&c.leave_group(r, version).await, version);
    }
    for version in 2..=9 {
        let r = commit_request("simple", "", -1, &[("t", 0, 1), ("t", 1, 2)]);
        assert_encodes(&c.offset_commit(r, version, |_, _| true).await, version);
    }
    for version in 1..=9 {
        let mut r = OffsetFetchRequest::default();
        if version >= 8 {
            let mut g = kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup::default();
            g.group_id = gid("simple");
            g.topics = None;
            r.groups = vec![g];
        } else {
            r.group_id = gid("simple");
            r.topics = if version >= 2 { None } else { Some(Vec::new()) };
        }
        assert_encodes(&c.offset_fetch(r, version).await, version);
    }
    for version in 0..=5 {
        assert_encodes(&c.list_groups(ListGroupsRequest::default(), version).await, version);
    }
    for version in 0..=6 {
        let mut r = DescribeGroupsRequest::default();
        r.groups = vec![gid("g9"), gid("simple"), gid("missing")];
        r.include_authorized_operations = version >= 3;
        assert_encodes(&c.describe_groups(r, version).await, version);
    }
    for version in 0..=2 {
        let mut r = DeleteGroupsRequest::default();
        r.groups_names = vec![gid("missing"), gid("g9")];
        assert_encodes(&c.delete_groups(r, version).await, version);
    }
    let mut r = OffsetDeleteRequest::default();
    r.group_id = gid("simple");
    assert_encodes(&c.offset_delete(r, 0).await, 0);
}
