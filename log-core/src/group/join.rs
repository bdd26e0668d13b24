//! JoinGroup (Kafka's `handleJoinGroup`): validation, new members (KIP-394: a v4+ member
//! without an id gets `MEMBER_ID_REQUIRED` and a fresh id to rejoin with), rejoining members,
//! static members (KIP-345: a known `group.instance.id` replaces its old member id, fencing it;
//! in a Stable group without a protocol change it keeps its assignment and no one else
//! rebalances), and shaping the answer for the request's version.

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::oneshot;

use crate::group::config::GroupConfig;
use crate::group::coordinator::{ClientInfo, GroupCoordinator};
use crate::group::state::{Group, GroupState, JoinOutcome, Member, Now, session_duration};
use crate::group::store::OffsetsTopic;

/// A JoinGroup with the version differences resolved.
#[derive(Debug)]
pub(crate) struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a member without an id must first get one (`MEMBER_ID_REQUIRED`).
    pub require_known_member_id: bool,
    /// v9+: a static leader rejoining a Stable group can be told to skip the assignment.
    pub supports_skip_assignment: bool,
}

/// What the coordinator does with a JoinGroup after the group has seen it.
#[derive(Debug)]
pub(crate) enum JoinStep {
    Reply(JoinOutcome),
    /// Parked until the join phase completes.
    Wait(oneshot::Receiver<JoinOutcome>),
    /// A static member replaced its old id in a Stable group: persist the group, then reply;
    /// if that fails, undo the replacement.
    StoreThenReply {
        outcome: JoinOutcome,
        undo: StaticUndo,
    },
}

/// Enough to revert a static member's replacement.
#[derive(Debug)]
pub(crate) struct StaticUndo {
    old_member_id: String,
    new_member_id: String,
    old_leader: Option<String>,
    protocols: Vec<(String, Bytes)>,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
}

fn generate_member_id(prefix: &str) -> String {
    let uuid = uuid::Builder::from_random_bytes(rand::random::<[u8; 16]>()).into_uuid();
    format!("{prefix}-{uuid}")
}

impl Group {
    pub(crate) fn join(&mut self, req: JoinRequest, now: &Now, cfg: &GroupConfig) -> JoinStep {
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return JoinStep::Reply(JoinOutcome::error(ResponseError::InconsistentGroupProtocol, req.member_id));
        }
        let step =
            if req.member_id.is_empty() { self.join_unknown(req, now, cfg) } else { self.join_known(req, now, cfg) };
        self.advance(now);
        step
    }

    fn join_unknown(&mut self, req: JoinRequest, now: &Now, cfg: &GroupConfig) -> JoinStep {
        let new_id = generate_member_id(req.instance_id.as_deref().unwrap_or(&req.client_id));
        if let Some(instance_id) = req.instance_id.as_deref() {
            return match self.static_member_id(instance_id).map(str::to_string) {
                Some(old_id) => self.replace_static_member_and_rejoin(old_id, new_id, req, now, cfg),
                None => self.add_member_and_rebalance(new_id, req, now, cfg),
            };
        }
        if req.require_known_member_id {
            self.pending.insert(new_id.clone(), now.instant + session_duration(req.session_timeout_ms));
            return JoinStep::Reply(JoinOutcome::error(ResponseError::MemberIdRequired, new_id));
        }
        self.add_member_and_rebalance(new_id, req, now, cfg)
    }

    fn join_known(&mut self, req: JoinRequest, now: &Now, cfg: &GroupConfig) -> JoinStep {
        let reply = |e: ResponseError, id: &str| JoinStep::Reply(JoinOutcome::error(e, id));
        if self.pending.contains_key(&req.member_id) {
            if req.instance_id.is_some() {
                // Pending ids are only handed to dynamic members.
                return reply(ResponseError::UnknownMemberId, &req.member_id);
            }
            self.pending.remove(&req.member_id);
            let id = req.member_id.clone();
            return self.add_member_and_rebalance(id, req, now, cfg);
        }
        if self.is_static_member_fenced(req.instance_id.as_deref(), &req.member_id) {
            return reply(ResponseError::FencedInstanceId, &req.member_id);
        }
        let instance_unknown = req.instance_id.as_deref().is_some_and(|i| self.static_member_id(i).is_none());
        let Some(member) = self.member(&req.member_id).filter(|_| !instance_unknown) else {
            return reply(ResponseError::UnknownMemberId, &req.member_id);
        };
        let same_metadata = member.matches(&req.protocols);
        let is_leader = self.is_leader(&req.member_id);
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(req, now, cfg),
            GroupState::CompletingRebalance if same_metadata => {
                // It probably missed the JoinGroup answer: give it again.
                let members = if is_leader { self.current_member_metadata() } else { Vec::new() };
                JoinStep::Reply(self.join_outcome(&req.member_id, members))
            }
            GroupState::Stable if same_metadata && !is_leader => {
                JoinStep::Reply(self.join_outcome(&req.member_id, Vec::new()))
            }
            GroupState::CompletingRebalance | GroupState::Stable => self.update_member_and_rebalance(req, now, cfg),
            GroupState::Empty | GroupState::Dead => reply(ResponseError::UnknownMemberId, &req.member_id),
        }
    }

    fn add_member_and_rebalance(&mut self, id: String, req: JoinRequest, now: &Now, cfg: &GroupConfig) -> JoinStep {
        let (tx, rx) = oneshot::channel();
        if self.is(GroupState::PreparingRebalance) && self.generation == 0 {
            self.new_member_added = true;
        }
        let mut member = Member {
            id,
            instance_id: req.instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocols: req.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(tx),
            sync_waiter: None,
            session_deadline: now.instant,
            is_new: true,
            joined_at: now.instant,
        };
        member.reset_session(now.instant);
        self.add_member(member, &req.protocol_type);
        self.maybe_prepare_rebalance(now, cfg);
        JoinStep::Wait(rx)
    }

    fn update_member_and_rebalance(&mut self, req: JoinRequest, now: &Now, cfg: &GroupConfig) -> JoinStep {
        let (tx, rx) = oneshot::channel();
        let Some(member) = self.member_mut(&req.member_id) else {
            return JoinStep::Reply(JoinOutcome::error(ResponseError::UnknownMemberId, req.member_id));
        };
        member.protocols = req.protocols;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.session_timeout_ms = req.session_timeout_ms;
        // A repeated JoinGroup replaces the parked one (whose requester has given up).
        member.join_waiter = Some(tx);
        self.maybe_prepare_rebalance(now, cfg);
        JoinStep::Wait(rx)
    }

    /// Gives a static member's entry a new member id; the old id's parked requests are fenced.
    fn replace_static_member(&mut self, old_id: &str, new_id: &str) {
        let Some(member) = self.member_mut(old_id) else { return };
        member.complete_join(JoinOutcome::error(ResponseError::FencedInstanceId, old_id));
        member.complete_sync(crate::group::state::SyncOutcome::error(ResponseError::FencedInstanceId));
        member.id = new_id.to_string();
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_string());
        }
    }

    fn replace_static_member_and_rejoin(
        &mut self,
        old_id: String,
        new_id: String,
        req: JoinRequest,
        now: &Now,
        cfg: &GroupConfig,
    ) -> JoinStep {
        let old_leader = self.leader.clone();
        self.replace_static_member(&old_id, &new_id);
        let Some(member) = self.member_mut(&new_id) else {
            return JoinStep::Reply(JoinOutcome::error(ResponseError::UnknownMemberId, new_id));
        };
        let undo = StaticUndo {
            old_member_id: old_id,
            new_member_id: new_id.clone(),
            old_leader: old_leader.clone(),
            protocols: std::mem::replace(&mut member.protocols, req.protocols),
            rebalance_timeout_ms: std::mem::replace(&mut member.rebalance_timeout_ms, req.rebalance_timeout_ms),
            session_timeout_ms: std::mem::replace(&mut member.session_timeout_ms, req.session_timeout_ms),
        };
        member.reset_session(now.instant);
        match self.state {
            GroupState::Stable if self.select_protocol() == self.protocol_name => {
                let is_leader = self.is_leader(&new_id);
                let outcome = if req.supports_skip_assignment {
                    let members = if is_leader { self.current_member_metadata() } else { Vec::new() };
                    JoinOutcome { skip_assignment: is_leader, ..self.join_outcome(&new_id, members) }
                } else {
                    // Older clients: name the old leader id so that the member does not think it
                    // leads and compute an assignment a Stable group would ignore.
                    JoinOutcome { leader: old_leader.unwrap_or_default(), ..self.join_outcome(&new_id, Vec::new()) }
                };
                JoinStep::StoreThenReply { outcome, undo }
            }
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::PreparingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(member) = self.member_mut(&new_id) {
                    member.join_waiter = Some(tx);
                }
                if self.is(GroupState::CompletingRebalance) {
                    // The leader may be assigning to the old id: rebalance again.
                    self.prepare_rebalance(now, cfg);
                } else {
                    self.maybe_prepare_rebalance(now, cfg);
                }
                JoinStep::Wait(rx)
            }
            GroupState::Empty | GroupState::Dead => {
                JoinStep::Reply(JoinOutcome::error(ResponseError::UnknownMemberId, new_id))
            }
        }
    }

    /// Reverts a static member's replacement whose persistence failed.
    pub(crate) fn undo_static_replacement(&mut self, undo: StaticUndo, now: &Now) {
        if let Some(member) = self.member_mut(&undo.new_member_id) {
            member.id = undo.old_member_id;
            member.protocols = undo.protocols;
            member.rebalance_timeout_ms = undo.rebalance_timeout_ms;
            member.session_timeout_ms = undo.session_timeout_ms;
            member.reset_session(now.instant);
        }
        self.leader = undo.old_leader;
    }
}

impl<S: OffsetsTopic> GroupCoordinator<S> {
    /// JoinGroup, any version 0–9. Waits (without holding the group) until the join phase
    /// completes when the member has to take part in a rebalance.
    pub async fn join_group(&self, req: JoinGroupRequest, version: i16, client: &ClientInfo) -> JoinGroupResponse {
        let outcome = self.join(req, version, client).await;
        join_response(outcome, version)
    }

    async fn join(&self, req: JoinGroupRequest, version: i16, client: &ClientInfo) -> JoinOutcome {
        let group_id = req.group_id.0.to_string();
        let member_id = req.member_id.to_string();
        let cfg = self.config();
        if group_id.is_empty() {
            return JoinOutcome::error(ResponseError::InvalidGroupId, member_id);
        }
        if req.session_timeout_ms < cfg.min_session_timeout_ms || req.session_timeout_ms > cfg.max_session_timeout_ms {
            return JoinOutcome::error(ResponseError::InvalidSessionTimeout, member_id);
        }
        let request = JoinRequest {
            member_id: member_id.clone(),
            instance_id: req.group_instance_id.map(|s| s.to_string()),
            client_id: client.client_id.clone(),
            client_host: client.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: if version == 0 { req.session_timeout_ms } else { req.rebalance_timeout_ms },
            protocol_type: req.protocol_type.to_string(),
            protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
            require_known_member_id: version >= 4,
            supports_skip_assignment: version >= 9,
        };
        let handle = if member_id.is_empty() {
            self.inner.group_or_create(&group_id)
        } else {
            match self.inner.group(&group_id) {
                Some(handle) => handle,
                None => return JoinOutcome::error(ResponseError::UnknownMemberId, member_id),
            }
        };
        let mut group = handle.lock().await;
        if group.is(GroupState::Dead) {
            // Deleted meanwhile: a new member retries (and recreates it), a known one is unknown.
            let error = if member_id.is_empty() {
                ResponseError::CoordinatorNotAvailable
            } else {
                ResponseError::UnknownMemberId
            };
            return JoinOutcome::error(error, member_id);
        }
        let now = Now::get();
        let step = group.join(request, &now, cfg);
        let waiting = match step {
            JoinStep::Reply(outcome) => Err(outcome),
            JoinStep::Wait(rx) => Ok(rx),
            JoinStep::StoreThenReply { outcome, undo } => match self.inner.store_group(&group, None).await {
                Ok(()) => Err(outcome),
                Err(error) => {
                    tracing::warn!(group = %group_id, %error, "failed to persist a static member's new id");
                    group.undo_static_replacement(undo, &now);
                    Err(JoinOutcome::error(error.write_error(), ""))
                }
            },
        };
        self.inner.flush_metadata(&mut group).await;
        drop(group);
        // Only the coordinator's map may keep the group (and the waiter's sender) alive: when
        // this broker gives the group up (its offsets partition moved), the group is dropped
        // and the wait ends with COORDINATOR_NOT_AVAILABLE, so the client finds the new
        // coordinator instead of waiting out its request timeout.
        drop(handle);
        match waiting {
            Err(outcome) => outcome,
            Ok(rx) => {
                rx.await.unwrap_or_else(|_| JoinOutcome::error(ResponseError::CoordinatorNotAvailable, member_id))
            }
        }
    }
}

/// Shapes a JoinGroup answer for `version`: fields a version lacks stay at their defaults
/// (the encoder refuses anything else), and before v7 the protocol name is never null.
pub(crate) fn join_response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default();
    response.error_code = outcome.error.map_or(0, |e| e.code());
    response.generation_id = outcome.generation;
    if version >= 7 {
        response.protocol_type = outcome.protocol_type.map(StrBytes::from_string);
        response.protocol_name = outcome.protocol_name.map(StrBytes::from_string);
    } else {
        response.protocol_name = Some(StrBytes::from_string(outcome.protocol_name.unwrap_or_default()));
    }
    response.leader = StrBytes::from_string(outcome.leader);
    response.member_id = StrBytes::from_string(outcome.member_id);
    response.skip_assignment = version >= 9 && outcome.skip_assignment;
    response.members = outcome
        .members
        .into_iter()
        .map(|m| {
            let mut member = JoinGroupResponseMember::default();
            member.member_id = StrBytes::from_string(m.member_id);
            if version >= 5 {
                member.group_instance_id = m.instance_id.map(StrBytes::from_string);
            }
            member.metadata = m.metadata;
            member
        })
        .collect();
    response
}
