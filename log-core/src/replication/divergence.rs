//! Does a replica's log continue the leader's? The check a leader runs on every follower
//! fetch, and the truncation point a follower computes from the answer.
//!
//! A log is described by its epoch history (Kafka's leader-epoch cache): for each leader
//! epoch, where it ends. Two logs that hold a record of the same epoch at the same offset
//! hold the same records up to it, since one leader wrote them all; so a follower whose last
//! record has epoch `E` and whose log ends at `fetch_offset` continues the leader's log exactly
//! when the leader's epoch `E` also ends at or after `fetch_offset`. Otherwise the leader
//! answers with the end of the largest epoch it has at or below `E` (KIP-320's diverging
//! epoch), and the follower truncates to where both histories agree.

use crate::storage::{EpochEndOffset, PartitionLog};

/// What a log's epoch history can answer (implemented by the storage log and by the
/// simulation's model log).
pub trait EpochHistory {
    /// Kafka's `endOffsetFor`: the largest epoch at or below `epoch` and one past its last
    /// offset; the log end for the latest epoch; `(-1, -1)` when unknown.
    fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset;
    /// First offset of the log.
    fn log_start_offset(&self) -> u64;
    /// One past the last offset of the log.
    fn log_end_offset(&self) -> u64;
    /// Epoch of the last record; `None` for an empty log.
    fn latest_epoch(&self) -> Option<i32>;
}

impl EpochHistory for PartitionLog {
    fn end_offset_for_epoch(&self, epoch: i32) -> EpochEndOffset {
        PartitionLog::end_offset_for_epoch(self, epoch)
    }
    fn log_start_offset(&self) -> u64 {
        PartitionLog::log_start_offset(self)
    }
    fn log_end_offset(&self) -> u64 {
        PartitionLog::log_end_offset(self)
    }
    fn latest_epoch(&self) -> Option<i32> {
        PartitionLog::latest_epoch(self)
    }
}

/// Where a follower's log ends, as its fetch says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    /// The follower's log end offset: the next offset it wants.
    pub fetch_offset: u64,
    /// Epoch of its last record; `None` for an empty log.
    pub last_fetched_epoch: Option<i32>,
}

/// The leader's verdict on a fetch position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionCheck {
    /// The follower's log is a prefix of the leader's: serve from `fetch_offset`.
    Continues,
    /// The logs part before `fetch_offset`: the follower must truncate (see
    /// [`truncation_offset`]).
    Diverging(EpochEndOffset),
    /// `fetch_offset` is outside the leader's log and no epoch says why: before its start
    /// (the follower starts over there) or past its end.
    OutOfRange {
        /// The leader's log start offset.
        log_start: u64,
        /// The leader's log end offset.
        log_end: u64,
    },
}

/// The leader's check of a follower's fetch position against its own log.
pub fn check_fetch_position(leader: &impl EpochHistory, position: FetchPosition) -> PositionCheck {
    if let Some(epoch) = position.last_fetched_epoch {
        let end = leader.end_offset_for_epoch(epoch);
        if end.epoch != epoch || end.end_offset < 0 || (end.end_offset as u64) < position.fetch_offset {
            return PositionCheck::Diverging(end);
        }
    }
    let (log_start, log_end) = (leader.log_start_offset(), leader.log_end_offset());
    if position.fetch_offset < log_start || position.fetch_offset > log_end {
        return PositionCheck::OutOfRange { log_start, log_end };
    }
    PositionCheck::Continues
}

/// Where a follower truncates its log after the leader answered `diverging`: the end of the
/// last epoch both histories share, never past its own log end. When its history has nothing
/// in common with the leader's, the whole log goes (truncate to its start; the next fetch
/// finds where to begin).
pub fn truncation_offset(follower: &impl EpochHistory, diverging: EpochEndOffset) -> u64 {
    let start = follower.log_start_offset();
    let end = follower.log_end_offset();
    if diverging.epoch < 0 || diverging.end_offset < 0 {
        return start;
    }
    let own = follower.end_offset_for_epoch(diverging.epoch);
    if own.epoch < 0 || own.end_offset < 0 {
        return start;
    }
    let shared_end = (own.end_offset as u64).min(diverging.end_offset as u64);
    shared_end.clamp(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{epoch_end_offset, EpochEntry};

    /// A log as a list of (epoch, start offset) plus its bounds.
    struct Model {
        epochs: Vec<(i32, u64)>,
        start: u64,
        end: u64,
    }

    impl EpochHistory for Model {
        fn end_offset_for_epoch(&self, requested: i32) -> EpochEndOffset {
            let entries: Vec<EpochEntry> = self.epochs.iter().map(|&(epoch, start_offset)| EpochEntry { epoch, start_offset }).collect();
            epoch_end_offset(&entries, requested, self.end)
        }
        fn log_start_offset(&self) -> u64 {
            self.start
        }
        fn log_end_offset(&self) -> u64 {
            self.end
        }
        fn latest_epoch(&self) -> Option<i32> {
            self.epochs.last().map(|e| e.0)
        }
    }

    #[test]
    fn a_prefix_continues() {
        let leader = Model { epochs: vec![(1, 0), (3, 10)], start: 0, end: 20 };
        let at = |offset, epoch| check_fetch_position(&leader, FetchPosition { fetch_offset: offset, last_fetched_epoch: epoch });
        assert_eq!(at(0, None), PositionCheck::Continues);
        assert_eq!(at(7, Some(1)), PositionCheck::Continues);
        assert_eq!(at(10, Some(1)), PositionCheck::Continues);
        assert_eq!(at(20, Some(3)), PositionCheck::Continues);
    }

    #[test]
    fn a_stale_epoch_tail_diverges_and_truncates_to_the_shared_end() {
        // The follower took records 10..15 in epoch 2 from a leader that lost them; the new
        // leader went from epoch 1 straight to 3 at offset 10.
        let leader = Model { epochs: vec![(1, 0), (3, 10)], start: 0, end: 20 };
        let follower = Model { epochs: vec![(1, 0), (2, 10)], start: 0, end: 15 };
        let check = check_fetch_position(&leader, FetchPosition { fetch_offset: 15, last_fetched_epoch: Some(2) });
        let PositionCheck::Diverging(end) = check else { panic!("{check:?}") };
        assert_eq!(end, EpochEndOffset { epoch: 1, end_offset: 10 });
        assert_eq!(truncation_offset(&follower, end), 10);
    }

    #[test]
    fn a_longer_tail_of_the_same_epoch_is_cut_at_the_leaders_end() {
        let leader = Model { epochs: vec![(1, 0)], start: 0, end: 8 };
        let follower = Model { epochs: vec![(1, 0)], start: 0, end: 12 };
        let PositionCheck::Diverging(end) = check_fetch_position(&leader, FetchPosition { fetch_offset: 12, last_fetched_epoch: Some(1) }) else {
            panic!()
        };
        assert_eq!(truncation_offset(&follower, end), 8);
    }

    #[test]
    fn nothing_in_common_truncates_everything_and_before_the_start_is_out_of_range() {
        // The follower led epoch 5 alone; the new leader (epoch 6) has only epoch 4 before it.
        let leader = Model { epochs: vec![(4, 100), (6, 120)], start: 100, end: 120 };
        let follower = Model { epochs: vec![(5, 0)], start: 0, end: 30 };
        let PositionCheck::Diverging(end) = check_fetch_position(&leader, FetchPosition { fetch_offset: 30, last_fetched_epoch: Some(5) }) else {
            panic!()
        };
        assert_eq!(truncation_offset(&follower, end), 0);
        assert_eq!(
            check_fetch_position(&leader, FetchPosition { fetch_offset: 0, last_fetched_epoch: None }),
            PositionCheck::OutOfRange { log_start: 100, log_end: 120 }
        );
    }
}
