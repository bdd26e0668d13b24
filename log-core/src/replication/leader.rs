//! [`LeaderReplica`]: one partition on its leader.
//!
//! The leader tracks each follower's progress from its fetches, moves the high watermark to
//! the smallest log end among the in-sync replicas, proposes ISR changes to the controller
//! (shrink when a follower falls `replica.lag.time.max.ms` behind, expand when one catches
//! up), and says when an acks=all produce may be answered. It follows Kafka's rules:
//!
//! - A follower is *caught up* when its last fetch asked for the leader's log end, or when it
//!   asked at least for the log end the leader had at its previous fetch; it is *lagging* once
//!   it has not been caught up for `replica.lag.time.max.ms`.
//! - The ISR changes only through the controller, one change in flight at a time. While an
//!   expansion is in flight the new member already counts (the *maximal* ISR), so the high
//!   watermark waits for it; while a shrink is in flight the leaving members still count.
//! - The high watermark is the smallest log end among the leader, every member of the maximal
//!   ISR and every follower that is caught up; it never moves back.
//! - A follower joins the ISR once its log end has reached both the high watermark and the
//!   start of the current leader epoch (so it holds everything this leader committed).
//! - A follower's fetch counts only when its log continues the leader's ([`super::divergence`]).
//! - acks=all: refused before the append when the committed ISR is smaller than
//!   `min.insync.replicas` (NOT_ENOUGH_REPLICAS); answered once the high watermark passes the
//!   records, with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below it meanwhile.

use std::collections::BTreeMap;

use super::divergence::{check_fetch_position, EpochHistory, FetchPosition, PositionCheck};
use super::LeaderAndIsr;
use crate::storage::EpochEndOffset;

/// The settings replication reads; a topic's `min.insync.replicas` may change at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: how long a follower may go without catching up before it
    /// leaves the ISR (Kafka's default: 30 s).
    pub replica_lag_time_max_ms: u64,
    /// The topic's `min.insync.replicas`.
    pub min_insync_replicas: usize,
    /// How long an ISR change may go unanswered before it is sent again.
    pub alter_isr_retry_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self { replica_lag_time_max_ms: 30_000, min_insync_replicas: 1, alter_isr_retry_ms: 1_000 }
    }
}

/// An ISR change the leader asks the controller for (Kafka's AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterIsr {
    /// The leader asking.
    pub leader: i32,
    /// Its leader epoch: the controller refuses the change if leadership moved on.
    pub leader_epoch: i32,
    /// The partition epoch the change is based on: refused if the state changed meanwhile.
    pub partition_epoch: i32,
    /// The ISR wanted.
    pub isr: Vec<i32>,
}

/// What the driver must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderEffect {
    /// The high watermark moved forward to this offset: publish it (fetchers and waiting
    /// acks=all produces watch it).
    HighWatermark(u64),
    /// Send this ISR change to the controller.
    AlterIsr(AlterIsr),
}

/// A follower's fetch, as the leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    /// The follower's node id.
    pub replica: i32,
    /// The leader epoch the follower believes in.
    pub current_leader_epoch: i32,
    /// Where the follower's log ends.
    pub position: FetchPosition,
}

/// The leader's answer to a follower's fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerFetchOutcome {
    /// Serve records from the fetch offset; tell the follower this high watermark.
    Read {
        /// The leader's high watermark after the fetch was counted.
        high_watermark: u64,
    },
    /// The follower's log parts from the leader's: it must truncate.
    Diverging(EpochEndOffset),
    /// The fetch offset is outside the leader's log.
    OutOfRange {
        /// The leader's log start offset.
        log_start: u64,
        /// The leader's log end offset.
        log_end: u64,
    },
    /// The follower's leader epoch is older than the leader's (FENCED_LEADER_EPOCH): it
    /// must learn the new state first.
    FencedLeaderEpoch,
    /// The follower's leader epoch is newer than the leader's (UNKNOWN_LEADER_EPOCH): this
    /// leader is about to learn it is no longer one.
    UnknownLeaderEpoch,
    /// The node is not a replica of the partition.
    NotAReplica,
}

/// Whether an acks=all produce whose records end at some offset may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckState {
    /// Not yet replicated by the ISR.
    Pending,
    /// Replicated by every in-sync replica.
    Acknowledged,
    /// Replicated by every in-sync replica, but the ISR fell below `min.insync.replicas`.
    NotEnoughReplicasAfterAppend,
}

/// Why an acks=all produce is refused before its append.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the in-sync replicas {isr:?} are fewer than min.insync.replicas={min_insync_replicas}")]
pub struct NotEnoughReplicas {
    /// The committed ISR.
    pub isr: Vec<i32>,
    /// The topic's `min.insync.replicas`.
    pub min_insync_replicas: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FollowerProgress {
    /// The follower's log end as its last counted fetch said; `None` until it fetches.
    log_end: Option<u64>,
    /// When the follower was last caught up; `None` if never, as far as this leader knows.
    last_caught_up_ms: Option<u64>,
    /// When its last counted fetch arrived; `None` before the first.
    last_fetch_ms: Option<u64>,
    /// The leader's log end at the follower's last counted fetch.
    leader_end_at_last_fetch: u64,
}

impl FollowerProgress {
    fn reset(now_ms: u64, in_sync: bool) -> Self {
        Self { log_end: None, last_caught_up_ms: in_sync.then_some(now_ms), last_fetch_ms: None, leader_end_at_last_fetch: 0 }
    }

    fn is_caught_up(&self, leader_end: u64, now_ms: u64, lag_max_ms: u64) -> bool {
        self.log_end == Some(leader_end) || self.last_caught_up_ms.is_some_and(|at| at.saturating_add(lag_max_ms) >= now_ms)
    }

    fn caught_up_at(&mut self, at_ms: u64) {
        self.last_caught_up_ms = Some(self.last_caught_up_ms.map_or(at_ms, |prev| prev.max(at_ms)));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    None,
    /// An expansion or shrink sent at `sent_ms`.
    Change { request: AlterIsr, sent_ms: u64 },
}

/// One partition on its leader. See the module docs.
#[derive(Debug, Clone)]
pub struct LeaderReplica {
    local: i32,
    config: ReplicationConfig,
    state: LeaderAndIsr,
    pending: Pending,
    /// First offset of this leader's epoch (the log end when it became leader).
    epoch_start_offset: u64,
    log_end: u64,
    high_watermark: u64,
    followers: BTreeMap<i32, FollowerProgress>,
}

impl LeaderReplica {
    /// Becomes leader with `state` (whose leader must be `local`), a local log ending at
    /// `log_end` and the high watermark it had as a follower. The driver must first record
    /// the new epoch as starting at `log_end` in the log's epoch history.
    pub fn new(local: i32, config: ReplicationConfig, state: LeaderAndIsr, log_end: u64, high_watermark: u64, now_ms: u64) -> Self {
        let followers = state
            .replicas
            .iter()
            .filter(|&&r| r != local)
            .map(|&r| (r, FollowerProgress::reset(now_ms, state.isr.contains(&r))))
            .collect();
        let mut leader = Self {
            local,
            config,
            state,
            pending: Pending::None,
            epoch_start_offset: log_end,
            log_end,
            high_watermark: high_watermark.min(log_end),
            followers,
        };
        // A leader alone in its ISR commits what it has.
        leader.advance_high_watermark(now_ms);
        leader
    }

    /// The partition state this leader works from.
    pub fn state(&self) -> &LeaderAndIsr {
        &self.state
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// The local log end offset as last reported.
    pub fn log_end(&self) -> u64 {
        self.log_end
    }

    /// The committed ISR plus members an in-flight expansion adds.
    pub fn maximal_isr(&self) -> Vec<i32> {
        match &self.pending {
            Pending::Change { request, .. } if request.isr.len() > self.state.isr.len() => request.isr.clone(),
            _ => self.state.isr.clone(),
        }
    }

    /// Each follower's known log end (`None` before its first fetch as this leader's).
    pub fn follower_log_ends(&self) -> BTreeMap<i32, Option<u64>> {
        self.followers.iter().map(|(&r, p)| (r, p.log_end)).collect()
    }

    /// The ISR change waiting for the controller, if any.
    pub fn pending_alter_isr(&self) -> Option<&AlterIsr> {
        match &self.pending {
            Pending::Change { request, .. } => Some(request),
            Pending::None => None,
        }
    }

    /// A new `min.insync.replicas` or lag setting.
    pub fn set_config(&mut self, config: ReplicationConfig) {
        self.config = config;
    }

    /// Before an acks=all append: refused when the committed ISR is below
    /// `min.insync.replicas`.
    pub fn check_acks_all(&self) -> Result<(), NotEnoughReplicas> {
        if self.state.isr.len() < self.config.min_insync_replicas {
            return Err(NotEnoughReplicas { isr: self.state.isr.clone(), min_insync_replicas: self.config.min_insync_replicas });
        }
        Ok(())
    }

    /// Whether an acks=all produce whose records end just before `required_end` may be
    /// answered.
    pub fn ack_state(&self, required_end: u64) -> AckState {
        if self.high_watermark < required_end {
            AckState::Pending
        } else if self.maximal_isr().len() >= self.config.min_insync_replicas {
            AckState::Acknowledged
        } else {
            AckState::NotEnoughReplicasAfterAppend
        }
    }

    /// The local log grew to `log_end`.
    pub fn on_local_append(&mut self, log_end: u64, now_ms: u64) -> Vec<LeaderEffect> {
        self.log_end = self.log_end.max(log_end);
        self.advance_high_watermark(now_ms).into_iter().collect()
    }

    /// A follower fetched. `log` is the leader's own log, for the divergence check.
    pub fn on_follower_fetch(&mut self, fetch: FollowerFetch, log: &impl EpochHistory, now_ms: u64) -> (FollowerFetchOutcome, Vec<LeaderEffect>) {
        if fetch.current_leader_epoch < self.state.leader_epoch {
            return (FollowerFetchOutcome::FencedLeaderEpoch, Vec::new());
        }
        if fetch.current_leader_epoch > self.state.leader_epoch {
            return (FollowerFetchOutcome::UnknownLeaderEpoch, Vec::new());
        }
        if !self.followers.contains_key(&fetch.replica) {
            return (FollowerFetchOutcome::NotAReplica, Vec::new());
        }
        match check_fetch_position(log, fetch.position) {
            PositionCheck::Diverging(end) => return (FollowerFetchOutcome::Diverging(end), Vec::new()),
            PositionCheck::OutOfRange { log_start, log_end } => return (FollowerFetchOutcome::OutOfRange { log_start, log_end }, Vec::new()),
            PositionCheck::Continues => {}
        }
        let leader_end = self.log_end;
        let offset = fetch.position.fetch_offset.min(leader_end);
        if let Some(progress) = self.followers.get_mut(&fetch.replica) {
            if offset >= leader_end {
                progress.caught_up_at(now_ms);
            } else if let Some(previous_fetch_ms) = progress.last_fetch_ms
                && offset >= progress.leader_end_at_last_fetch
            {
                // It now has everything the leader had when it last fetched.
                progress.caught_up_at(previous_fetch_ms);
            }
            progress.log_end = Some(offset);
            progress.leader_end_at_last_fetch = leader_end;
            progress.last_fetch_ms = Some(now_ms);
        }
        let mut effects = Vec::new();
        if let Some(request) = self.maybe_expand(fetch.replica, now_ms) {
            effects.push(LeaderEffect::AlterIsr(request));
        }
        effects.extend(self.advance_high_watermark(now_ms));
        (FollowerFetchOutcome::Read { high_watermark: self.high_watermark }, effects)
    }

    /// Time passed: shrink the ISR of lagging followers, resend an unanswered change.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<LeaderEffect> {
        if let Pending::Change { request, sent_ms } = &mut self.pending {
            if now_ms.saturating_sub(*sent_ms) >= self.config.alter_isr_retry_ms {
                *sent_ms = now_ms;
                return vec![LeaderEffect::AlterIsr(request.clone())];
            }
            return Vec::new();
        }
        let lagging: Vec<i32> = self
            .state
            .isr
            .iter()
            .copied()
            .filter(|&r| r != self.local)
            .filter(|r| self.followers.get(r).is_none_or(|p| !p.is_caught_up(self.log_end, now_ms, self.config.replica_lag_time_max_ms)))
            .collect();
        let mut effects = Vec::new();
        if !lagging.is_empty() {
            let isr = self.state.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
            effects.push(LeaderEffect::AlterIsr(self.propose(isr, now_ms)));
        }
        // Followers that stopped counting as caught up no longer hold the watermark back.
        effects.extend(self.advance_high_watermark(now_ms));
        effects
    }

    /// The controller committed a new state for the partition with this leader and epoch.
    /// Returns `false` (changing nothing) when the state is no longer this leader's: the
    /// driver must then become a follower or stop.
    pub fn on_partition_state(&mut self, state: &LeaderAndIsr, now_ms: u64) -> (bool, Vec<LeaderEffect>) {
        if state.leader != self.local || state.leader_epoch != self.state.leader_epoch {
            return (false, Vec::new());
        }
        if state.partition_epoch <= self.state.partition_epoch {
            return (true, Vec::new());
        }
        for &r in &state.replicas {
            if r != self.local {
                self.followers.entry(r).or_insert_with(|| FollowerProgress::reset(now_ms, false));
            }
        }
        self.followers.retain(|r, _| state.replicas.contains(r));
        self.state = state.clone();
        self.pending = Pending::None;
        (true, self.advance_high_watermark(now_ms).into_iter().collect())
    }

    /// The controller refused the in-flight ISR change (a newer partition epoch, a fenced
    /// leader epoch, an ineligible replica): forget it; the next tick or fetch proposes
    /// again from the committed state once the driver has applied the newer one.
    pub fn on_alter_isr_refused(&mut self, now_ms: u64) -> Vec<LeaderEffect> {
        self.pending = Pending::None;
        self.advance_high_watermark(now_ms).into_iter().collect()
    }

    fn maybe_expand(&mut self, replica: i32, now_ms: u64) -> Option<AlterIsr> {
        if self.pending != Pending::None || self.state.isr.contains(&replica) {
            return None;
        }
        let progress = self.followers.get(&replica)?;
        let log_end = progress.log_end?;
        if log_end < self.high_watermark || log_end < self.epoch_start_offset {
            return None;
        }
        let mut isr = self.state.isr.clone();
        isr.push(replica);
        Some(self.propose(isr, now_ms))
    }

    fn propose(&mut self, isr: Vec<i32>, now_ms: u64) -> AlterIsr {
        let request = AlterIsr { leader: self.local, leader_epoch: self.state.leader_epoch, partition_epoch: self.state.partition_epoch, isr };
        self.pending = Pending::Change { request: request.clone(), sent_ms: now_ms };
        request
    }

    fn advance_high_watermark(&mut self, now_ms: u64) -> Option<LeaderEffect> {
        let maximal = self.maximal_isr();
        let mut candidate = self.log_end;
        for (replica, progress) in &self.followers {
            let counts = maximal.contains(replica) || progress.is_caught_up(self.log_end, now_ms, self.config.replica_lag_time_max_ms);
            if !counts {
                continue;
            }
            match progress.log_end {
                Some(end) => candidate = candidate.min(end),
                // An in-sync member that has not fetched from this leader yet holds the
                // watermark where it is.
                None if maximal.contains(replica) => candidate = candidate.min(self.high_watermark),
                None => {}
            }
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            Some(LeaderEffect::HighWatermark(candidate))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Log {
        end: u64,
        epoch: i32,
    }

    impl EpochHistory for Log {
        fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset {
            if epoch == self.epoch {
                EpochEndOffset { epoch, end_offset: self.end as i64 }
            } else {
                EpochEndOffset { epoch: -1, end_offset: -1 }
            }
        }
        fn log_start_offset(&self) -> u64 {
            0
        }
        fn log_end_offset(&self) -> u64 {
            self.end
        }
        fn latest_epoch(&self) -> Option<i32> {
            Some(self.epoch)
        }
    }

    fn state(isr: &[i32]) -> LeaderAndIsr {
        LeaderAndIsr { leader: 1, leader_epoch: 5, partition_epoch: 7, replicas: vec![1, 2, 3], isr: isr.to_vec() }
    }

    fn config() -> ReplicationConfig {
        ReplicationConfig { replica_lag_time_max_ms: 30_000, min_insync_replicas: 2, alter_isr_retry_ms: 1_000 }
    }

    fn fetch(replica: i32, offset: u64) -> FollowerFetch {
        FollowerFetch { replica, current_leader_epoch: 5, position: FetchPosition { fetch_offset: offset, last_fetched_epoch: Some(5) } }
    }

    #[test]
    fn the_high_watermark_is_the_slowest_in_sync_log_end() {
        let mut leader = LeaderReplica::new(1, config(), state(&[1, 2, 3]), 0, 0, 1);
        assert_eq!(leader.on_local_append(10, 2), vec![]);
        let log = Log { end: 10, epoch: 5 };
        let (outcome, effects) = leader.on_follower_fetch(fetch(2, 10), &log, 3);
        assert_eq!(outcome, FollowerFetchOutcome::Read { high_watermark: 0 });
        assert!(effects.is_empty());
        let (outcome, effects) = leader.on_follower_fetch(fetch(3, 6), &log, 4);
        assert_eq!(outcome, FollowerFetchOutcome::Read { high_watermark: 6 });
        assert_eq!(effects, vec![LeaderEffect::HighWatermark(6)]);
        assert_eq!(leader.ack_state(6), AckState::Acknowledged);
        assert_eq!(leader.ack_state(7), AckState::Pending);
    }

    #[test]
    fn a_lagging_follower_is_dropped_and_a_caught_up_one_returns() {
        let mut leader = LeaderReplica::new(1, config(), state(&[1, 2, 3]), 0, 0, 1);
        let mut log = Log { end: 10, epoch: 5 };
        leader.on_local_append(10, 2);
        leader.on_follower_fetch(fetch(2, 10), &log, 3);
        // Follower 3 never fetches: after the lag time it leaves, and the watermark moves.
        assert!(leader.on_tick(20_000).is_empty());
        let effects = leader.on_tick(30_002);
        let shrink = AlterIsr { leader: 1, leader_epoch: 5, partition_epoch: 7, isr: vec![1, 2] };
        assert_eq!(effects[0], LeaderEffect::AlterIsr(shrink.clone()));
        // Until the controller commits it, 3 still counts.
        assert_eq!(leader.high_watermark(), 0);
        let committed = LeaderAndIsr { partition_epoch: 8, isr: vec![1, 2], ..state(&[1, 2, 3]) };
        let (still_leader, effects) = leader.on_partition_state(&committed, 30_003);
        assert!(still_leader);
        assert_eq!(effects, vec![LeaderEffect::HighWatermark(10)]);
        // 3 catches up: proposed back, and counts for the watermark at once.
        log.end = 12;
        leader.on_local_append(12, 30_004);
        let (_, effects) = leader.on_follower_fetch(fetch(3, 10), &log, 30_005);
        assert_eq!(effects, vec![LeaderEffect::AlterIsr(AlterIsr { leader: 1, leader_epoch: 5, partition_epoch: 8, isr: vec![1, 2, 3] })]);
        leader.on_follower_fetch(fetch(2, 12), &log, 30_006);
        assert_eq!(leader.high_watermark(), 10);
    }

    #[test]
    fn acks_all_needs_min_insync_replicas() {
        let leader = LeaderReplica::new(1, config(), state(&[1]), 4, 0, 1);
        assert_eq!(leader.high_watermark(), 4);
        assert!(leader.check_acks_all().is_err());
        assert_eq!(leader.ack_state(4), AckState::NotEnoughReplicasAfterAppend);
    }

    #[test]
    fn fetches_from_other_epochs_and_diverging_logs_do_not_count() {
        let mut leader = LeaderReplica::new(1, config(), state(&[1, 2, 3]), 10, 0, 1);
        let log = Log { end: 10, epoch: 5 };
        let stale = FollowerFetch { current_leader_epoch: 4, ..fetch(2, 10) };
        assert_eq!(leader.on_follower_fetch(stale, &log, 2).0, FollowerFetchOutcome::FencedLeaderEpoch);
        let diverged = FollowerFetch { position: FetchPosition { fetch_offset: 10, last_fetched_epoch: Some(4) }, ..fetch(2, 10) };
        assert!(matches!(leader.on_follower_fetch(diverged, &log, 3).0, FollowerFetchOutcome::Diverging(_)));
        assert_eq!(leader.follower_log_ends()[&2], None);
        assert_eq!(leader.on_follower_fetch(fetch(9, 10), &log, 4).0, FollowerFetchOutcome::NotAReplica);
    }
}
