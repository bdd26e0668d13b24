//! The rebalance state machine of one group (Kafka's `prepareRebalance`, `DelayedJoin`,
//! `InitialDelayedJoin`, `onCompleteJoin`, `removeMemberAndUpdateGroup`): entering
//! PreparingRebalance, deciding when the join phase is over, starting the next generation,
//! answering parked JoinGroups and SyncGroups, and expiring members and pending member ids.
//!
//! Pure logic on [`Group`]: time comes in as [`Now`], answers go out through the members'
//! oneshot senders, and a group that must be persisted is flagged `metadata_dirty`.

use bytes::Bytes;
use kafka_protocol::ResponseError;

use crate::group::config::GroupConfig;
use crate::group::state::{Group, GroupState, JoinOutcome, Now, RebalanceTimer, SyncOutcome};

impl Group {
    /// Starts a rebalance unless one is already under way (or the group is dead).
    pub(crate) fn maybe_prepare_rebalance(&mut self, now: &Now, cfg: &GroupConfig) {
        if matches!(self.state, GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty) {
            self.prepare_rebalance(now, cfg);
        }
    }

    /// Enters PreparingRebalance: parked SyncGroups are told `REBALANCE_IN_PROGRESS`, and the
    /// join phase gets its timer.
    pub(crate) fn prepare_rebalance(&mut self, now: &Now, cfg: &GroupConfig) {
        if self.is(GroupState::CompletingRebalance) {
            self.reset_and_propagate_assignment_error(ResponseError::RebalanceInProgress, now);
        }
        let timeout_ms = self.rebalance_timeout_ms();
        self.rebalance = Some(if self.is(GroupState::Empty) {
            let delay_ms = cfg.initial_rebalance_delay_ms;
            RebalanceTimer::Initial {
                deadline: now.after_ms(delay_ms),
                delay_ms,
                remaining_ms: timeout_ms.saturating_sub(delay_ms),
            }
        } else {
            RebalanceTimer::Regular { deadline: now.after_ms(timeout_ms) }
        });
        self.transition(GroupState::PreparingRebalance, now);
    }

    /// Ends the join phase if it is due: every member rejoined (not during the initial delay),
    /// or the timer ran out. Called after every event and on every tick.
    pub(crate) fn advance(&mut self, now: &Now) {
        if !self.is(GroupState::PreparingRebalance) {
            return;
        }
        match self.rebalance {
            Some(RebalanceTimer::Initial { deadline, delay_ms, remaining_ms }) => {
                if now.instant < deadline {
                    return;
                }
                if self.new_member_added && remaining_ms > 0 {
                    // New members keep arriving: wait another delay, within the rebalance timeout.
                    self.new_member_added = false;
                    let delay = delay_ms.min(remaining_ms);
                    self.rebalance = Some(RebalanceTimer::Initial {
                        deadline: now.after_ms(delay),
                        delay_ms,
                        remaining_ms: remaining_ms - delay,
                    });
                    if delay == 0 {
                        self.advance(now);
                    }
                } else {
                    self.complete_join(now);
                }
            }
            Some(RebalanceTimer::Regular { deadline }) => {
                if self.all_members_joined() || now.instant >= deadline {
                    self.complete_join(now);
                }
            }
            None => {
                if self.all_members_joined() {
                    self.complete_join(now);
                }
            }
        }
    }

    /// Kafka's `onCompleteJoin`: drops dynamic members that did not rejoin, then starts the next
    /// generation and answers every parked JoinGroup (the leader gets the member list). With
    /// no rejoined member to lead but static members left, waits another rebalance timeout.
    fn complete_join(&mut self, now: &Now) {
        let stale: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.is_awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in stale {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time; removing it");
            if let Some(mut gone) = self.remove_member(&id) {
                gone.complete_sync(SyncOutcome::error(ResponseError::UnknownMemberId));
            }
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            self.rebalance = Some(RebalanceTimer::Regular { deadline: now.after_ms(self.rebalance_timeout_ms()) });
            return;
        }
        self.rebalance = None;
        self.new_member_added = false;
        self.generation = self.generation.saturating_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = None;
            self.transition(GroupState::Empty, now);
            self.metadata_dirty = true;
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            return;
        }
        self.protocol_name = self.select_protocol();
        self.compute_subscribed_topics();
        self.transition(GroupState::CompletingRebalance, now);
        tracing::info!(
            group = %self.id,
            generation = self.generation,
            members = self.members.len(),
            protocol = self.protocol_name.as_deref().unwrap_or_default(),
            "join phase complete"
        );
        let all = self.current_member_metadata();
        for i in 0..self.members.len() {
            let id = self.members[i].id.clone();
            let members = if self.is_leader(&id) { all.clone() } else { Vec::new() };
            let outcome = self.join_outcome(&id, members);
            let member = &mut self.members[i];
            member.complete_join(outcome);
            member.reset_session(now.instant);
            member.is_new = false;
        }
    }

    /// Keeps the leader if it rejoined, else picks a member that did; false if none did.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else { return false };
        if self.member(&leader).is_some_and(|m| m.is_awaiting_join()) {
            return true;
        }
        match self.members.iter().find(|m| m.is_awaiting_join()) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// Removes a member (leave, session expiry, fencing) and rebalances what is left.
    pub(crate) fn remove_member_and_update(&mut self, id: &str, now: &Now, cfg: &GroupConfig) {
        let Some(mut member) = self.remove_member(id) else { return };
        member.complete_join(JoinOutcome::error(ResponseError::UnknownMemberId, ""));
        member.complete_sync(SyncOutcome::error(ResponseError::UnknownMemberId));
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.maybe_prepare_rebalance(now, cfg),
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
        }
        self.advance(now);
    }

    /// Clears every assignment and answers parked SyncGroups with `error`.
    pub(crate) fn reset_and_propagate_assignment_error(&mut self, error: ResponseError, now: &Now) {
        for member in &mut self.members {
            member.assignment = Bytes::new();
            if member.complete_sync(SyncOutcome::error(error)) {
                member.reset_session(now.instant);
            }
        }
    }

    /// Answers parked SyncGroups with each member's assignment.
    pub(crate) fn propagate_assignment(&mut self, now: &Now) {
        let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol_name.clone());
        for member in &mut self.members {
            let outcome = SyncOutcome {
                error: None,
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: member.assignment.clone(),
            };
            if member.complete_sync(outcome) {
                member.reset_session(now.instant);
            }
        }
    }

    /// Expires pending member ids and members whose session ran out, then moves the join
    /// phase on if it is due.
    pub(crate) fn expire_members(&mut self, now: &Now, cfg: &GroupConfig) {
        let group = &self.id;
        self.pending.retain(|id, deadline| {
            let keep = now.instant < *deadline;
            if !keep {
                tracing::debug!(group = %group, member = %id, "pending member id expired");
            }
            keep
        });
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.should_keep_alive(now.instant, cfg.new_member_join_timeout_ms))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "member session expired; removing it");
            self.remove_member_and_update(&id, now, cfg);
        }
        self.advance(now);
    }
}

#[cfg(test)]
mod tests {
    //! The state machine on synthetic time: no clock, no runtime.
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use bytes::Bytes;
    use tokio::time::Instant;

    use crate::group::config::GroupConfig;
    use crate::group::join::{JoinRequest, JoinStep};
    use crate::group::state::{Group, GroupState, JoinOutcome, Now};

    fn at(base: Instant, ms: u64) -> Now {
        Now { instant: base + Duration::from_millis(ms), wall_ms: i64::try_from(ms).unwrap() }
    }

    fn request(member_id: &str) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_string(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 1_000,
            rebalance_timeout_ms: 1_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            require_known_member_id: false,
            supports_skip_assignment: false,
        }
    }

    fn parked(step: JoinStep) -> tokio::sync::oneshot::Receiver<JoinOutcome> {
        match step {
            JoinStep::Wait(rx) => rx,
            other => panic!("expected a parked join, got {other:?}"),
        }
    }

    #[test]
    fn the_initial_delay_is_extended_while_new_members_arrive() {
        let cfg = GroupConfig { initial_rebalance_delay_ms: 100, ..GroupConfig::default() };
        let base = Instant::now();
        let mut g = Group::new("g".into(), &at(base, 0));
        let mut a = parked(g.join(request(""), &at(base, 0), &cfg));
        assert!(g.is(GroupState::PreparingRebalance));
        let mut b = parked(g.join(request(""), &at(base, 50), &cfg));
        g.advance(&at(base, 100));
        assert!(g.is(GroupState::PreparingRebalance), "a new member arrived during the delay: wait again");
        g.advance(&at(base, 150));
        assert!(a.try_recv().is_err());
        g.advance(&at(base, 200));
        assert!(g.is(GroupState::CompletingRebalance));
        let (a, b) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!((a.generation, b.generation), (1, 1));
        assert_eq!(a.leader, a.member_id);
        assert_eq!(a.members.len(), 2);
        assert!(b.members.is_empty());
    }

    #[test]
    fn sessions_expire_only_without_heartbeats_and_parked_requests() {
        let cfg = GroupConfig::default();
        let base = Instant::now();
        let mut g = Group::new("g".into(), &at(base, 0));
        let a = parked(g.join(request(""), &at(base, 0), &cfg)).try_recv().unwrap();
        assert_eq!(a.generation, 1);
        // Completed at t=0: session deadline t=1000.
        g.expire_members(&at(base, 999), &cfg);
        assert!(g.has(&a.member_id));
        assert_eq!(g.heartbeat(&a.member_id, None, 1, &at(base, 900)), None);
        g.expire_members(&at(base, 1_800), &cfg);
        assert!(g.has(&a.member_id), "the heartbeat at 900 extended the session to 1900");
        g.expire_members(&at(base, 1_900), &cfg);
        assert!(!g.has(&a.member_id));
        // The last member gone: a rebalance with no one completes at once, to Empty.
        assert!(g.is(GroupState::Empty));
        assert_eq!(g.generation, 2);
        assert!(g.metadata_dirty, "the emptied group must be persisted");
    }

    #[test]
    fn a_pending_member_id_expires_after_the_session_timeout() {
        let cfg = GroupConfig::default();
        let base = Instant::now();
        let mut g = Group::new("g".into(), &at(base, 0));
        let mut req = request("");
        req.require_known_member_id = true;
        let JoinStep::Reply(outcome) = g.join(req, &at(base, 0), &cfg) else { panic!("expected MEMBER_ID_REQUIRED") };
        assert!(g.pending.contains_key(&outcome.member_id));
        g.expire_members(&at(base, 1_000), &cfg);
        assert!(g.pending.is_empty());
        let JoinStep::Reply(late) = g.join(request(&outcome.member_id), &at(base, 1_001), &cfg) else {
            panic!("expected an error")
        };
        assert_eq!(late.error, Some(kafka_protocol::ResponseError::UnknownMemberId));
    }

    #[test]
    fn the_most_voted_common_protocol_is_chosen() {
        let cfg = GroupConfig { initial_rebalance_delay_ms: 10, ..GroupConfig::default() };
        let base = Instant::now();
        let mut g = Group::new("g".into(), &at(base, 0));
        let m = |n: &str| (n.to_string(), Bytes::from_static(b"m"));
        let mut r1 = request("");
        r1.protocols = vec![m("range"), m("roundrobin"), m("sticky")];
        let mut r2 = request("");
        r2.protocols = vec![m("roundrobin"), m("range")];
        let mut r3 = request("");
        r3.protocols = vec![m("roundrobin"), m("range"), m("sticky")];
        let _a = parked(g.join(r1, &at(base, 0), &cfg));
        let _b = parked(g.join(r2, &at(base, 1), &cfg));
        let _c = parked(g.join(r3, &at(base, 2), &cfg));
        g.advance(&at(base, 10));
        g.advance(&at(base, 20));
        assert!(g.is(GroupState::CompletingRebalance));
        assert_eq!(g.protocol_name.as_deref(), Some("roundrobin"));
    }
}
