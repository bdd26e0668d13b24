//! SyncGroup (Kafka's `handleSyncGroup`): followers wait for the leader's assignment; the
//! leader's assignment is persisted with the group's metadata, then handed to every member
//! and the group becomes Stable. In a Stable group a member gets its current assignment.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;

use crate::group::config::GroupConfig;
use crate::group::coordinator::GroupCoordinator;
use crate::group::state::{Group, GroupState, Now, SyncOutcome};
use crate::group::store::OffsetsTopic;

#[derive(Debug)]
pub(crate) struct SyncRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug)]
pub(crate) enum SyncStep {
    Reply(SyncOutcome),
    /// A follower waiting for the leader.
    Wait(oneshot::Receiver<SyncOutcome>),
    /// The leader's assignment (one entry per member): persist it, then apply it.
    Assign {
        rx: oneshot::Receiver<SyncOutcome>,
        assignments: HashMap<String, Bytes>,
    },
}

impl Group {
    pub(crate) fn sync(&mut self, req: SyncRequest, now: &Now) -> SyncStep {
        let reply = |e| SyncStep::Reply(SyncOutcome::error(e));
        if self.is(GroupState::Dead) {
            return reply(ResponseError::CoordinatorNotAvailable);
        }
        if self.is_static_member_fenced(req.instance_id.as_deref(), &req.member_id) {
            return reply(ResponseError::FencedInstanceId);
        }
        if !self.has(&req.member_id) {
            return reply(ResponseError::UnknownMemberId);
        }
        if req.generation != self.generation {
            return reply(ResponseError::IllegalGeneration);
        }
        let type_differs = req.protocol_type.is_some() && req.protocol_type != self.protocol_type;
        let name_differs = req.protocol_name.is_some() && req.protocol_name != self.protocol_name;
        if type_differs || name_differs {
            return reply(ResponseError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => reply(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => reply(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(member) = self.member_mut(&req.member_id) {
                    member.sync_waiter = Some(tx);
                }
                if !self.is_leader(&req.member_id) {
                    return SyncStep::Wait(rx);
                }
                let mut assignments: HashMap<String, Bytes> =
                    req.assignments.into_iter().filter(|(id, _)| self.has(id)).collect();
                for member in &self.members {
                    assignments.entry(member.id.clone()).or_default();
                }
                SyncStep::Assign { rx, assignments }
            }
            GroupState::Stable => {
                let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol_name.clone());
                match self.member_mut(&req.member_id) {
                    Some(member) => {
                        member.reset_session(now.instant);
                        SyncStep::Reply(SyncOutcome {
                            error: None,
                            protocol_type,
                            protocol_name,
                            assignment: member.assignment.clone(),
                        })
                    }
                    None => reply(ResponseError::UnknownMemberId),
                }
            }
        }
    }

    /// The leader's assignment is durable: every member gets its part; the group is Stable.
    pub(crate) fn apply_assignment(&mut self, mut assignments: HashMap<String, Bytes>, now: &Now) {
        for member in &mut self.members {
            member.assignment = assignments.remove(&member.id).unwrap_or_default();
        }
        self.propagate_assignment(now);
        self.transition(GroupState::Stable, now);
    }

    /// The leader's assignment could not be stored: everyone is told, and the group rebalances.
    pub(crate) fn fail_assignment(&mut self, error: ResponseError, now: &Now, cfg: &GroupConfig) {
        self.reset_and_propagate_assignment_error(error, now);
        self.maybe_prepare_rebalance(now, cfg);
    }
}

impl<S: OffsetsTopic> GroupCoordinator<S> {
    /// SyncGroup, any version 0–5.
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let outcome = self.sync(req).await;
        let mut response = SyncGroupResponse::default();
        response.error_code = outcome.error.map_or(0, |e| e.code());
        if version >= 5 {
            response.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
            response.protocol_name = outcome.protocol_name.map(StrBytes::from_string);
        }
        response.assignment = outcome.assignment;
        response
    }

    async fn sync(&self, req: SyncGroupRequest) -> SyncOutcome {
        let group_id = req.group_id.0.to_string();
        if group_id.is_empty() {
            return SyncOutcome::error(ResponseError::InvalidGroupId);
        }
        let Some(handle) = self.inner.group(&group_id) else {
            return SyncOutcome::error(ResponseError::UnknownMemberId);
        };
        let request = SyncRequest {
            member_id: req.member_id.to_string(),
            instance_id: req.group_instance_id.map(|s| s.to_string()),
            generation: req.generation_id,
            protocol_type: req.protocol_type.map(|s| s.to_string()),
            protocol_name: req.protocol_name.map(|s| s.to_string()),
            assignments: req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
        };
        let mut group = handle.lock().await;
        let now = Now::get();
        let rx = match group.sync(request, &now) {
            SyncStep::Reply(outcome) => return outcome,
            SyncStep::Wait(rx) => rx,
            SyncStep::Assign { rx, assignments } => {
                match self.inner.store_group(&group, Some(&assignments)).await {
                    Ok(()) => group.apply_assignment(assignments, &now),
                    Err(error) => {
                        tracing::warn!(group = %group_id, %error, "failed to persist the group's assignment");
                        group.fail_assignment(error.write_error(), &now, self.config());
                    }
                }
                self.inner.flush_metadata(&mut group).await;
                rx
            }
        };
        drop(group);
        // As in JoinGroup: a group given up by this broker must not be kept alive by its own
        // waiters.
        drop(handle);
        rx.await.unwrap_or_else(|_| SyncOutcome::error(ResponseError::CoordinatorNotAvailable))
    }
}
