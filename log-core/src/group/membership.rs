//! Heartbeat and LeaveGroup: a member keeping its session alive (and learning of a rebalance),
//! and members leaving — by member id, or (v3+, KIP-345) by `group.instance.id` alone, which
//! is how administrators remove static members.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use crate::group::config::GroupConfig;
use crate::group::coordinator::GroupCoordinator;
use crate::group::state::{Group, GroupState, Now};
use crate::group::store::OffsetsTopic;

impl Group {
    /// Kafka's `handleHeartbeat` on an existing group.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: &Now,
    ) -> Option<ResponseError> {
        if self.is(GroupState::Dead) {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if self.is_static_member_fenced(instance_id, member_id) {
            return Some(ResponseError::FencedInstanceId);
        }
        if !self.has(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Some(ResponseError::IllegalGeneration);
        }
        if let Some(member) = self.member_mut(member_id) {
            member.reset_session(now.instant);
        }
        match self.state {
            GroupState::PreparingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::Empty => Some(ResponseError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable | GroupState::Dead => None,
        }
    }

    /// One leaving member; the rebalance it causes follows.
    pub(crate) fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: &Now,
        cfg: &GroupConfig,
    ) -> Option<ResponseError> {
        if member_id.is_empty() {
            let Some(current) = instance_id.and_then(|i| self.static_member_id(i)).map(str::to_string) else {
                return Some(ResponseError::UnknownMemberId);
            };
            self.remove_member_and_update(&current, now, cfg);
            return None;
        }
        if self.pending.remove(member_id).is_some() {
            self.advance(now);
            return None;
        }
        if self.is_static_member_fenced(instance_id, member_id) {
            return Some(ResponseError::FencedInstanceId);
        }
        if !self.has(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        tracing::info!(group = %self.id, member = %member_id, "member left");
        self.remove_member_and_update(member_id, now, cfg);
        None
    }
}

impl<S: OffsetsTopic> GroupCoordinator<S> {
    /// Heartbeat, any version 0–4.
    pub async fn heartbeat(&self, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        let error = self.do_heartbeat(req).await;
        let mut response = HeartbeatResponse::default();
        response.error_code = error.map_or(0, |e| e.code());
        response
    }

    async fn do_heartbeat(&self, req: HeartbeatRequest) -> Option<ResponseError> {
        if req.group_id.0.is_empty() {
            return Some(ResponseError::InvalidGroupId);
        }
        let Some(handle) = self.inner.group(&req.group_id.0) else {
            return Some(ResponseError::UnknownMemberId);
        };
        let mut group = handle.lock().await;
        group.heartbeat(&req.member_id, req.group_instance_id.as_deref(), req.generation_id, &Now::get())
    }

    /// LeaveGroup, any version 0–5: v0–2 carry one member id and answer with one error code;
    /// v3+ carry a batch of members and answer per member.
    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving: Vec<(String, Option<String>)> = if version <= 2 {
            vec![(req.member_id.to_string(), None)]
        } else {
            req.members
                .iter()
                .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
                .collect()
        };
        let (top_error, member_errors) = self.leave(&req.group_id.0, &leaving).await;
        let mut response = LeaveGroupResponse::default();
        if version <= 2 {
            let first_member_error = member_errors.iter().flatten().next().copied();
            response.error_code = top_error.or(first_member_error).map_or(0, |e| e.code());
            return response;
        }
        response.error_code = top_error.map_or(0, |e| e.code());
        if top_error.is_none() {
            response.members = leaving
                .into_iter()
                .zip(member_errors)
                .map(|((member_id, instance_id), error)| {
                    let mut m = MemberResponse::default();
                    m.member_id = StrBytes::from_string(member_id);
                    m.group_instance_id = instance_id.map(StrBytes::from_string);
                    m.error_code = error.map_or(0, |e| e.code());
                    m
                })
                .collect();
        }
        response
    }

    async fn leave(
        &self,
        group_id: &str,
        leaving: &[(String, Option<String>)],
    ) -> (Option<ResponseError>, Vec<Option<ResponseError>>) {
        if group_id.is_empty() {
            return (Some(ResponseError::InvalidGroupId), Vec::new());
        }
        let Some(handle) = self.inner.group(group_id) else {
            return (None, vec![Some(ResponseError::UnknownMemberId); leaving.len()]);
        };
        let mut group = handle.lock().await;
        if group.is(GroupState::Dead) {
            return (Some(ResponseError::CoordinatorNotAvailable), Vec::new());
        }
        let now = Now::get();
        let errors = leaving
            .iter()
            .map(|(member_id, instance_id)| group.leave(member_id, instance_id.as_deref(), &now, self.config()))
            .collect();
        self.inner.flush_metadata(&mut group).await;
        (None, errors)
    }
}
