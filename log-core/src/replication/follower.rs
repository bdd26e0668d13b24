//! [`FollowerReplica`]: one partition on a follower.
//!
//! A follower fetches from its leader at its own log end, saying the epoch of its last
//! record, and does what the answer says: append the records and take the leader's high
//! watermark (never past its own log end, never backwards); truncate to where its history
//! and the leader's part; start over at the leader's log start when it fell behind it; or
//! wait for the metadata image when the leader epochs disagree.

use super::divergence::{truncation_offset, EpochHistory, FetchPosition};
use super::leader::FollowerFetch;
use super::LeaderAndIsr;
use crate::storage::EpochEndOffset;

/// The leader's answer to this follower's fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchAnswer {
    /// Records from the fetch offset (possibly none) and the leader's high watermark.
    Records {
        /// The leader's high watermark.
        high_watermark: u64,
    },
    /// The logs part: truncate.
    Diverging(EpochEndOffset),
    /// The fetch offset is outside the leader's log.
    OutOfRange {
        /// The leader's log start offset.
        log_start: u64,
        /// The leader's log end offset.
        log_end: u64,
    },
    /// The leader epochs disagree, or the node asked is not the leader.
    NotLeader,
}

/// What the driver does with the local log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerAction {
    /// Append the records as they are (offsets and epochs kept), then call
    /// [`FollowerReplica::on_appended`] with this high watermark.
    Append {
        /// The leader's high watermark.
        leader_high_watermark: u64,
    },
    /// Truncate the log to end at this offset, then call [`FollowerReplica::on_truncated`].
    TruncateTo(u64),
    /// Empty the log and restart it at this offset (the leader's log start).
    StartAt(u64),
    /// Fetch again once the metadata image has moved on.
    WaitForMetadata,
}

/// A local log's shape, for building a fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLog {
    /// Log end offset.
    pub log_end: u64,
    /// Epoch of the last record.
    pub latest_epoch: Option<i32>,
}

impl LocalLog {
    /// The shape of `log`.
    pub fn of(log: &impl EpochHistory) -> Self {
        Self { log_end: log.log_end_offset(), latest_epoch: log.latest_epoch() }
    }
}

/// One partition on a follower. See the module docs.
#[derive(Debug, Clone)]
pub struct FollowerReplica {
    local: i32,
    leader: i32,
    leader_epoch: i32,
    high_watermark: u64,
}

impl FollowerReplica {
    /// Follows `state.leader` in `state.leader_epoch`, starting from the high watermark the
    /// replica had (checkpointed, or as leader).
    pub fn new(local: i32, state: &LeaderAndIsr, high_watermark: u64) -> Self {
        Self { local, leader: state.leader, leader_epoch: state.leader_epoch, high_watermark }
    }

    /// The leader followed (-1: none).
    pub fn leader(&self) -> i32 {
        self.leader
    }

    /// The leader epoch followed.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The high watermark as this follower knows it.
    pub fn high_watermark(&self) -> u64 {
        self.high_watermark
    }

    /// The fetch to send next.
    pub fn next_fetch(&self, log: LocalLog) -> FollowerFetch {
        FollowerFetch {
            replica: self.local,
            current_leader_epoch: self.leader_epoch,
            position: FetchPosition { fetch_offset: log.log_end, last_fetched_epoch: log.latest_epoch },
        }
    }

    /// What the leader's answer means for the local log `log`.
    pub fn on_answer(&self, answer: FetchAnswer, log: &impl EpochHistory) -> FollowerAction {
        match answer {
            FetchAnswer::Records { high_watermark } => FollowerAction::Append { leader_high_watermark: high_watermark },
            FetchAnswer::Diverging(end) => FollowerAction::TruncateTo(truncation_offset(log, end)),
            FetchAnswer::OutOfRange { log_start, log_end } => {
                let own_end = log.log_end_offset();
                if own_end < log_start {
                    FollowerAction::StartAt(log_start)
                } else {
                    FollowerAction::TruncateTo(own_end.min(log_end))
                }
            }
            FetchAnswer::NotLeader => FollowerAction::WaitForMetadata,
        }
    }

    /// Records were appended; the log now ends at `log_end`. Returns the new high
    /// watermark if it moved.
    pub fn on_appended(&mut self, log_end: u64, leader_high_watermark: u64) -> Option<u64> {
        let candidate = leader_high_watermark.min(log_end);
        (candidate > self.high_watermark).then(|| {
            self.high_watermark = candidate;
            candidate
        })
    }

    /// The log was truncated (or restarted) to end at `log_end`. A truncation never reaches
    /// below the high watermark while the leaders' histories agree on everything committed;
    /// if it does, the high watermark follows the log down.
    pub fn on_truncated(&mut self, log_end: u64) {
        self.high_watermark = self.high_watermark.min(log_end);
    }

    /// The log was restarted at `log_start` (the leader's start was past this log's end).
    pub fn on_restarted(&mut self, log_start: u64) {
        self.high_watermark = self.high_watermark.max(log_start);
    }
}
