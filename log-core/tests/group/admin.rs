//! ListGroups, DescribeGroups, DeleteGroups.

use kafka_protocol::messages::{DeleteGroupsRequest, ListGroupsRequest};

use crate::membership::describe_request;
use crate::support::*;

async fn listed(c: &Coordinator, states: &[&str], types: &[&str], version: i16) -> Vec<(String, String, String)> {
    let mut r = ListGroupsRequest::default();
    r.states_filter = states.iter().map(|x| s(x)).collect();
    r.types_filter = types.iter().map(|x| s(x)).collect();
    let response = c.list_groups(r, version).await;
    assert_encodes(&response, version);
    response
        .groups
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.protocol_type.to_string(), g.group_state.to_string()))
        .collect()
}

#[tokio::test]
async fn groups_are_listed_and_filtered_by_state_and_type() {
    let (c, _) = coordinator().await;
    let a = join_new(&c, Join::new("live")).await;
    sync(&c, "live", &a.member_id, 1, &[]).await;
    commit(&c, "simple", "", -1, &[("t", 0, 1)]).await;

    assert_eq!(
        listed(&c, &[], &[], 5).await,
        vec![("live".into(), "consumer".into(), "Stable".into()), ("simple".into(), String::new(), "Empty".into()),]
    );
    assert_eq!(listed(&c, &["stable"], &[], 4).await.len(), 1);
    assert_eq!(listed(&c, &["Empty", "Dead"], &[], 4).await[0].0, "simple");
    assert_eq!(listed(&c, &[], &["Classic"], 5).await.len(), 2);
    assert!(listed(&c, &[], &["consumer"], 5).await.is_empty());
    assert_eq!(listed(&c, &[], &[], 0).await[0].2, "", "no state before v4");
}

#[tokio::test]
async fn describe_shows_members_with_metadata_and_assignment_when_stable() {
    let (c, _) = coordinator().await;
    let a = join(&c, &Join::new("g").instance("i1"), 5).await;
    let completing = c.describe_groups(describe_request(&["g"]), 5).await;
    assert_encodes(&completing, 5);
    let g = &completing.groups[0];
    assert_eq!(g.group_state.as_str(), "CompletingRebalance");
    assert_eq!(g.protocol_data.as_str(), "");
    assert!(g.members[0].member_metadata.is_empty());
    sync(&c, "g", &a.member_id, 1, &[(&a.member_id, b"asg")]).await;

    let mut request = describe_request(&["g", "missing"]);
    request.include_authorized_operations = true;
    let stable = c.describe_groups(request.clone(), 5).await;
    assert_encodes(&stable, 5);
    let g = &stable.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str(), g.protocol_type.as_str()), (0, "Stable", "consumer"));
    assert_eq!(g.protocol_data.as_str(), "range");
    assert_eq!(g.members.len(), 1);
    let m = &g.members[0];
    assert_eq!(m.member_id, a.member_id);
    assert_eq!(m.group_instance_id.as_deref(), Some("i1"));
    assert_eq!(m.client_id.as_str(), "client");
    assert_eq!(m.client_host.as_str(), "/127.0.0.1");
    assert_eq!(m.member_metadata, subscription(&["t"]));
    assert_eq!(&m.member_assignment[..], b"asg");
    assert_ne!(g.authorized_operations, i32::MIN);
    let missing = &stable.groups[1];
    assert_eq!((missing.error_code, missing.group_state.as_str()), (0, "Dead"));

    let v6 = c.describe_groups(request, 6).await;
    assert_encodes(&v6, 6);
    assert_eq!(v6.groups[1].error_code, 69, "GROUP_ID_NOT_FOUND from v6");
}

#[tokio::test]
async fn only_empty_groups_are_deleted_with_their_offsets() {
    let (c, topic) = coordinator().await;
    let a = join_new(&c, Join::new("live")).await;
    sync(&c, "live", &a.member_id, 1, &[]).await;
    commit(&c, "simple", "", -1, &[("t", 0, 1), ("t", 1, 2)]).await;

    let mut r = DeleteGroupsRequest::default();
    r.groups_names = vec![gid("live"), gid("simple"), gid("missing")];
    let response = c.delete_groups(r, 2).await;
    assert_encodes(&response, 2);
    let codes: Vec<(String, i16)> = response.results.iter().map(|r| (r.group_id.0.to_string(), r.error_code)).collect();
    assert_eq!(codes, vec![("live".into(), 68), ("simple".into(), 0), ("missing".into(), 69)]);
    assert_eq!(listed(&c, &[], &[], 4).await.len(), 1);

    // Tombstones reach the offsets topic: a reload finds nothing of "simple".
    c.shutdown().await;
    drop(c);
    let again = Coordinator::load(topic, config()).await.unwrap();
    let mut r = kafka_protocol::messages::OffsetFetchRequest::default();
    r.group_id = gid("simple");
    r.topics = None;
    assert!(again.offset_fetch(r, 7).await.topics.is_empty());
    let names: Vec<String> = listed(&again, &[], &[], 4).await.into_iter().map(|g| g.0).collect();
    assert_eq!(names, vec!["live".to_string()]);
}
