//! The group and member types: what the coordinator knows of one group (state, generation,
//! protocol, leader, members, pending member ids, committed offsets) and the small queries and
//! edits every API needs. The rebalance state machine that moves a group between states is in
//! `rebalance.rs`; nothing here does I/O.
//!
//! ```text
//!            join                 all joined / timeout        leader's SyncGroup stored
//!  Empty ──────────► Preparing ─────────────────────► Completing ────────────────► Stable
//!    ▲               Rebalance ◄──── join, leave, expiry ── Rebalance ◄── join, leave ─┘
//!    └── last member gone (a rebalance with no members) ──┘
//!  Empty ──► Dead: DeleteGroups, or offset expiry left nothing
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::group::consumer_protocol::{CONSUMER_PROTOCOL_TYPE, subscribed_topics};
use crate::group::records::{GroupValue, MemberValue, OffsetValue};

/// The states of a classic group, named as Kafka names them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed; any request that still holds it retries.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state (ListGroups, DescribeGroups).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A moment: monotonic for deadlines, wall clock for persisted timestamps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    pub instant: Instant,
    pub wall_ms: i64,
}

impl Now {
    pub fn get() -> Self {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Now { instant: Instant::now(), wall_ms }
    }

    pub fn after_ms(&self, ms: u64) -> Instant {
        self.instant + std::time::Duration::from_millis(ms)
    }
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup, before it is shaped for the request's version.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub error: Option<ResponseError>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
    pub skip_assignment: bool,
}

impl JoinOutcome {
    pub fn error(error: ResponseError, member_id: impl Into<String>) -> Self {
        JoinOutcome {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.into(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone)]
pub(crate) struct SyncOutcome {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    pub fn error(error: ResponseError) -> Self {
        SyncOutcome { error: Some(error), protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// One member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// Protocols in the member's order of preference, with its metadata for each.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// Set while the member's JoinGroup is parked until the join phase completes.
    pub join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    /// Set while the member's SyncGroup waits for the leader's assignment.
    pub sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    pub session_deadline: Instant,
    /// Joined in the current join phase for the first time (`NewMemberJoinTimeoutMs` applies).
    pub is_new: bool,
    pub joined_at: Instant,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(name, _)| name == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    /// Same protocols, same order, same metadata.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    pub fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    /// Kafka's `MemberMetadata.shouldKeepAlive`: parked requests keep a member alive (it cannot
    /// heartbeat meanwhile), except a new member's JoinGroup after `new_member_timeout_ms`.
    pub fn should_keep_alive(&self, now: Instant, new_member_timeout_ms: u64) -> bool {
        if self.is_awaiting_join() {
            !self.is_new || now < self.joined_at + std::time::Duration::from_millis(new_member_timeout_ms)
        } else if self.sync_waiter.is_some() {
            true
        } else {
            now < self.session_deadline
        }
    }

    pub fn reset_session(&mut self, now: Instant) {
        self.session_deadline = now + session_duration(self.session_timeout_ms);
    }

    /// Answers a parked JoinGroup, if any.
    pub fn complete_join(&mut self, outcome: JoinOutcome) {
        if let Some(waiter) = self.join_waiter.take() {
            // The requester may be gone (connection closed): nothing to do then.
            let _ = waiter.send(outcome);
        }
    }

    /// Answers a parked SyncGroup, if any; says whether there was one.
    pub fn complete_sync(&mut self, outcome: SyncOutcome) -> bool {
        match self.sync_waiter.take() {
            Some(waiter) => {
                let _ = waiter.send(outcome);
                true
            }
            None => false,
        }
    }
}

pub(crate) fn session_duration(ms: i32) -> std::time::Duration {
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The timer of a join phase: Kafka's `InitialDelayedJoin` (a group leaving Empty waits
/// `group.initial.rebalance.delay.ms`, extended while new members keep coming, up to the
/// rebalance timeout) or `DelayedJoin` (all members rejoined, or the rebalance timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RebalanceTimer {
    Initial { deadline: Instant, delay_ms: u64, remaining_ms: u64 },
    Regular { deadline: Instant },
}

/// Everything the coordinator knows of one group.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    /// Wall-clock milliseconds of the last state change (`None` for groups loaded from records
    /// written without it).
    pub state_timestamp_ms: Option<i64>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// In join order: the first is the default leader.
    pub members: Vec<Member>,
    /// Member ids handed out with `MEMBER_ID_REQUIRED`, with the deadline to join with them.
    pub pending: HashMap<String, Instant>,
    pub rebalance: Option<RebalanceTimer>,
    pub new_member_added: bool,
    /// Topics of the members' subscriptions (consumer groups whose metadata parsed).
    pub subscribed_topics: Option<HashSet<String>>,
    /// topic → partition → committed offset.
    pub offsets: BTreeMap<String, BTreeMap<i32, OffsetValue>>,
    /// The group's metadata changed in a way that must be persisted (it became Empty).
    pub metadata_dirty: bool,
}

impl Group {
    pub fn new(id: String, now: &Now) -> Self {
        Group {
            id,
            state: GroupState::Empty,
            state_timestamp_ms: Some(now.wall_ms),
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            rebalance: None,
            new_member_added: false,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            metadata_dirty: false,
        }
    }

    pub fn transition(&mut self, state: GroupState, now: &Now) {
        self.state = state;
        self.state_timestamp_ms = Some(now.wall_ms);
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub fn has(&self, id: &str) -> bool {
        self.member(id).is_some()
    }

    pub fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.members.iter().find(|m| m.instance_id.as_deref() == Some(instance_id)).map(|m| m.id.as_str())
    }

    /// A static member presenting a member id that is no longer its instance's.
    pub fn is_static_member_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id.and_then(|i| self.static_member_id(i)).is_some_and(|current| current != member_id)
    }

    /// Adds a member; the first member of an empty group sets the group's protocol type.
    pub fn add_member(&mut self, member: Member, protocol_type: &str) {
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type.to_string());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.members.push(member);
    }

    /// Removes a member; a removed leader is replaced by the first remaining member.
    pub fn remove_member(&mut self, id: &str) -> Option<Member> {
        let pos = self.members.iter().position(|m| m.id == id)?;
        let member = self.members.remove(pos);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        Some(member)
    }

    /// Every member has rejoined and no handed-out member id is still expected.
    pub fn all_members_joined(&self) -> bool {
        self.members.iter().all(Member::is_awaiting_join) && self.pending.is_empty()
    }

    /// The largest rebalance timeout of the members.
    pub fn rebalance_timeout_ms(&self) -> u64 {
        self.members.iter().map(|m| u64::try_from(m.rebalance_timeout_ms).unwrap_or(0)).max().unwrap_or(0)
    }

    /// Kafka's `supportsProtocols`: any type and protocols start an empty group; otherwise the
    /// type must match and one protocol must be supported by every member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.is(GroupState::Empty) || self.members.is_empty() {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(name, _)| self.members.iter().all(|m| m.supports(name)))
        }
    }

    /// The protocol every member supports with the most first-choice votes; ties go to the
    /// one the earliest member prefers.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.iter().all(|m| m.supports(name)))
            .collect();
        let mut votes: Vec<usize> = vec![0; candidates.len()];
        for member in &self.members {
            let vote = member.protocols.iter().find_map(|(name, _)| candidates.iter().position(|c| c == name));
            if let Some(i) = vote {
                votes[i] += 1;
            }
        }
        let mut best: Option<usize> = None;
        for (i, v) in votes.iter().enumerate() {
            if best.is_none_or(|b| *v > votes[b]) {
                best = Some(i);
            }
        }
        best.map(|i| candidates[i].to_string())
    }

    /// The member list a leader receives: every member's metadata for the chosen protocol.
    pub fn current_member_metadata(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// The JoinGroup answer for `member_id` in the current generation.
    pub fn join_outcome(&self, member_id: &str, members: Vec<JoinedMember>) -> JoinOutcome {
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    pub fn compute_subscribed_topics(&mut self) {
        self.subscribed_topics = match (self.protocol_type.as_deref(), self.protocol_name.as_deref()) {
            (Some(CONSUMER_PROTOCOL_TYPE), Some(protocol)) => {
                let mut topics = HashSet::new();
                let mut ok = true;
                for m in &self.members {
                    match subscribed_topics(&m.metadata(protocol)) {
                        Some(t) => topics.extend(t),
                        None => ok = false,
                    }
                }
                ok.then_some(topics)
            }
            _ => None,
        };
    }

    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics.as_ref().is_some_and(|t| t.contains(topic))
    }

    /// The record of the group's metadata; `assignments` overrides the members' current ones
    /// (the leader's assignment is stored before it is applied).
    pub fn to_value(&self, assignments: Option<&HashMap<String, Bytes>>) -> GroupValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp_ms.unwrap_or(-1),
            members: self
                .members
                .iter()
                .map(|m| MemberValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(protocol),
                    assignment: assignments.and_then(|a| a.get(&m.id).cloned()).unwrap_or_else(|| m.assignment.clone()),
                })
                .collect(),
        }
    }
}
