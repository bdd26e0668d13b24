//! NOT_COORDINATOR for group requests that reach a broker which does not coordinate the group
//! (in a cluster, the coordinator is the leader of the group's `__consumer_offsets`
//! partition): the client looks the coordinator up again with FindCoordinator. A node alone
//! coordinates every group.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, OffsetCommitResponse, OffsetDeleteResponse, OffsetFetchResponse, RequestKind,
    ResponseKind, SyncGroupResponse,
};
use kafka_protocol::ResponseError;

use crate::broker::Broker;

const CODE: i16 = ResponseError::NotCoordinator.code();

impl Broker {
    /// The NOT_COORDINATOR answer to `request` when it names a group this broker does not
    /// coordinate; `None` when it does (or the request names no single group).
    pub(super) fn not_coordinator(&self, request: &RequestKind) -> Option<ResponseKind> {
        self.cluster.as_ref()?;
        let foreign = |group: &str| !self.groups.owns(group);
        match request {
            RequestKind::JoinGroup(r) if foreign(&r.group_id) => Some(ResponseKind::JoinGroup(JoinGroupResponse::default().with_error_code(CODE).with_generation_id(-1))),
            RequestKind::SyncGroup(r) if foreign(&r.group_id) => Some(ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(CODE))),
            RequestKind::Heartbeat(r) if foreign(&r.group_id) => Some(ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(CODE))),
            RequestKind::LeaveGroup(r) if foreign(&r.group_id) => Some(ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(CODE))),
            RequestKind::OffsetDelete(r) if foreign(&r.group_id) => Some(ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_error_code(CODE))),
            RequestKind::OffsetCommit(r) if foreign(&r.group_id) => {
                let topics = r
                    .topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(t.partitions.iter().map(|p| OffsetCommitResponsePartition::default().with_partition_index(p.partition_index).with_error_code(CODE)).collect())
                    })
                    .collect();
                Some(ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics)))
            }
            RequestKind::OffsetFetch(r) if r.groups.is_empty() && foreign(&r.group_id) => Some(ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_error_code(CODE))),
            RequestKind::OffsetFetch(r) if !r.groups.is_empty() && r.groups.iter().all(|g| foreign(&g.group_id)) => {
                let groups = r.groups.iter().map(|g| OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone()).with_error_code(CODE)).collect();
                Some(ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_groups(groups)))
            }
            _ => None,
        }
    }

    /// Whether this broker coordinates `group` (a node alone coordinates every group).
    fn coordinates(&self, group: &str) -> bool {
        self.cluster.is_none() || self.groups.owns(group)
    }

    /// DescribeGroups: the groups coordinated here are described; the others are answered
    /// NOT_COORDINATOR each, in the order asked.
    pub(super) async fn describe_groups_routed(&self, mut request: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
        let asked = request.groups.clone();
        request.groups.retain(|g| self.coordinates(g));
        let mut described = self.groups.describe_groups(request, version).await;
        let answered = std::mem::take(&mut described.groups);
        described.groups = in_asked_order(asked, answered, |r| &r.group_id, |g| DescribedGroup::default().with_group_id(g).with_error_code(CODE));
        described
    }

    /// DeleteGroups, routed as [`describe_groups_routed`](Self::describe_groups_routed).
    pub(super) async fn delete_groups_routed(&self, mut request: DeleteGroupsRequest, version: i16) -> DeleteGroupsResponse {
        let asked = request.groups_names.clone();
        request.groups_names.retain(|g| self.coordinates(g));
        let mut deleted = self.groups.delete_groups(request, version).await;
        let answered = std::mem::take(&mut deleted.results);
        deleted.results = in_asked_order(asked, answered, |r| &r.group_id, |g| DeletableGroupResult::default().with_group_id(g).with_error_code(CODE));
        deleted
    }
}

/// The coordinator's answers in the order the groups were asked, with `elsewhere(group)` for
/// each group it did not answer (one coordinated by another broker).
fn in_asked_order<R>(asked: Vec<GroupId>, mut answered: Vec<R>, id: impl Fn(&R) -> &GroupId, elsewhere: impl Fn(GroupId) -> R) -> Vec<R> {
    asked
        .into_iter()
        .map(|g| match answered.iter().position(|r| *id(r) == g) {
            Some(i) => answered.swap_remove(i),
            None => elsewhere(g),
        })
        .collect()
}
