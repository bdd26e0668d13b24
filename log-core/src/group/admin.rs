//! The administrative group APIs: ListGroups (state filter v4+, type filter v5+),
//! DescribeGroups, DeleteGroups (only Empty groups: their offsets and metadata are tombstoned).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::group::coordinator::GroupCoordinator;
use crate::group::records::GroupRecord;
use crate::group::state::{Group, GroupState};
use crate::group::store::OffsetsTopic;

/// Every group here is a classic group.
const CLASSIC_GROUP_TYPE: &str = "classic";

/// ACL operations on a group (READ, DELETE, DESCRIBE) as a bit field: with no authorizer,
/// everything a group supports is allowed.
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

fn describe(group: &Group, version: i16, include_operations: bool) -> DescribedGroup {
    let mut d = DescribedGroup::default();
    d.group_id = GroupId(StrBytes::from_string(group.id.clone()));
    d.group_state = StrBytes::from_static_str(group.state.as_str());
    d.protocol_type = StrBytes::from_string(group.protocol_type.clone().unwrap_or_default());
    let stable = group.is(GroupState::Stable);
    let protocol = if stable { group.protocol_name.clone().unwrap_or_default() } else { String::new() };
    d.protocol_data = StrBytes::from_string(protocol.clone());
    d.members = group
        .members
        .iter()
        .map(|m| {
            let mut dm = DescribedGroupMember::default();
            dm.member_id = StrBytes::from_string(m.id.clone());
            if version >= 4 {
                dm.group_instance_id = m.instance_id.clone().map(StrBytes::from_string);
            }
            dm.client_id = StrBytes::from_string(m.client_id.clone());
            dm.client_host = StrBytes::from_string(m.client_host.clone());
            if stable {
                dm.member_metadata = m.metadata(&protocol);
                dm.member_assignment = m.assignment.clone();
            }
            dm
        })
        .collect();
    if version >= 3 && include_operations {
        d.authorized_operations = GROUP_AUTHORIZED_OPERATIONS;
    }
    d
}

impl<S: OffsetsTopic> GroupCoordinator<S> {
    /// ListGroups, any version 0–5. Filters are case-insensitive, as Kafka's.
    pub async fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let states: Vec<String> =
            if version >= 4 { req.states_filter.iter().map(|s| s.to_lowercase()).collect() } else { Vec::new() };
        let types: Vec<String> =
            if version >= 5 { req.types_filter.iter().map(|s| s.to_lowercase()).collect() } else { Vec::new() };
        let mut response = ListGroupsResponse::default();
        if !types.is_empty() && !types.iter().any(|t| t == CLASSIC_GROUP_TYPE) {
            return response;
        }
        for handle in self.inner.all_groups() {
            let group = handle.lock().await;
            if group.is(GroupState::Dead) {
                continue;
            }
            let state = group.state.as_str();
            if !states.is_empty() && !states.iter().any(|s| s.eq_ignore_ascii_case(state)) {
                continue;
            }
            let mut listed = ListedGroup::default();
            listed.group_id = GroupId(StrBytes::from_string(group.id.clone()));
            listed.protocol_type = StrBytes::from_string(group.protocol_type.clone().unwrap_or_default());
            if version >= 4 {
                listed.group_state = StrBytes::from_static_str(state);
            }
            if version >= 5 {
                listed.group_type = StrBytes::from_static_str(CLASSIC_GROUP_TYPE);
            }
            response.groups.push(listed);
        }
        response.groups.sort_by(|a, b| a.group_id.0.cmp(&b.group_id.0));
        response
    }

    /// DescribeGroups, any version 0–6. An unknown group is described as Dead (v0–5) or
    /// answered with `GROUP_ID_NOT_FOUND` (v6+), as Kafka does.
    pub async fn describe_groups(&self, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
        let mut response = DescribeGroupsResponse::default();
        for group_id in req.groups {
            let found = match self.inner.group(&group_id.0) {
                Some(handle) => {
                    let group = handle.lock().await;
                    (!group.is(GroupState::Dead)).then(|| describe(&group, version, req.include_authorized_operations))
                }
                None => None,
            };
            let described = found.unwrap_or_else(|| {
                let mut d = DescribedGroup::default();
                d.group_id = group_id.clone();
                d.group_state = StrBytes::from_static_str(GroupState::Dead.as_str());
                if version >= 6 {
                    d.error_code = ResponseError::GroupIdNotFound.code();
                    d.error_message = Some(StrBytes::from_string(format!("Group {} not found.", &*group_id.0)));
                }
                d
            });
            response.groups.push(described);
        }
        response
    }

    /// DeleteGroups, any version 0–2: Empty groups lose their offsets and metadata; others
    /// get `NON_EMPTY_GROUP`, unknown ones `GROUP_ID_NOT_FOUND`.
    pub async fn delete_groups(&self, req: DeleteGroupsRequest, _version: i16) -> DeleteGroupsResponse {
        let mut response = DeleteGroupsResponse::default();
        for group_id in req.groups_names {
            let error = self.delete_group(&group_id.0).await;
            let mut result = DeletableGroupResult::default();
            result.group_id = group_id;
            result.error_code = error.map_or(0, |e| e.code());
            response.results.push(result);
        }
        response
    }

    async fn delete_group(&self, group_id: &str) -> Option<ResponseError> {
        let Some(handle) = self.inner.group(group_id) else {
            return Some(ResponseError::GroupIdNotFound);
        };
        let mut group = handle.lock().await;
        match group.state {
            GroupState::Dead => return Some(ResponseError::GroupIdNotFound),
            GroupState::Empty => {}
            GroupState::PreparingRebalance | GroupState::CompletingRebalance | GroupState::Stable => {
                return Some(ResponseError::NonEmptyGroup);
            }
        }
        if let Err(error) = self.inner.append(group_id, &tombstones(&group)).await {
            tracing::warn!(group = %group_id, %error, "failed to persist group deletion");
            return Some(error.write_error());
        }
        group.offsets.clear();
        group.state = GroupState::Dead;
        self.inner.remove_group(group_id, &handle);
        tracing::info!(group = %group_id, "group deleted");
        None
    }
}

/// Tombstones for every offset of the group and for its metadata.
pub(crate) fn tombstones(group: &Group) -> Vec<GroupRecord> {
    let mut records: Vec<GroupRecord> = group
        .offsets
        .iter()
        .flat_map(|(topic, partitions)| {
            partitions.keys().map(move |&partition| GroupRecord::Offset {
                group: group.id.clone(),
                topic: topic.clone(),
                partition,
                value: None,
            })
        })
        .collect();
    records.push(GroupRecord::Group { group: group.id.clone(), value: None });
    records
}
