//! [`PartitionChange`]: the next state of one partition — Kafka's `PartitionChangeBuilder`.
//!
//! Given the current leader and ISR, a target ISR (and optionally new replicas) and which
//! brokers may lead (registered, unfenced, not shutting down), it elects a leader and returns
//! the new state, or `None` when nothing changes. Rules, as Kafka's:
//!
//! - The ISR never becomes empty: when its last member goes, it stays as the one replica
//!   that may hold every committed record, and the partition has no leader until that
//!   broker returns (or an unclean election is allowed).
//! - A clean election picks the first replica, in assignment order, that is in the ISR and
//!   eligible; an unclean one (only when `unclean.leader.election.enable`) the first eligible
//!   replica, and the ISR becomes just that replica.
//! - The leader epoch is bumped when the leader changes; the partition epoch on any change.

use crate::replication::LeaderAndIsr;

/// How to choose the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// Keep the current leader while it is in the ISR and eligible; else a clean election.
    KeepLeader,
    /// Move leadership to the preferred (first) replica if it is in the ISR and eligible.
    Preferred,
    /// As `KeepLeader`, but with no eligible ISR member elect any eligible replica.
    Unclean,
}

/// A change being built. See the module docs.
#[derive(Debug, Clone)]
pub struct PartitionChange<'a> {
    current: &'a LeaderAndIsr,
    target_isr: Vec<i32>,
    target_replicas: Option<Vec<i32>>,
    election: Election,
    avoid_leader: Option<i32>,
}

impl<'a> PartitionChange<'a> {
    /// Starts from the current state, keeping its ISR.
    pub fn new(current: &'a LeaderAndIsr) -> Self {
        Self { current, target_isr: current.isr.clone(), target_replicas: None, election: Election::KeepLeader, avoid_leader: None }
    }

    /// The ISR wanted (members that are not replicas are dropped).
    pub fn isr(mut self, isr: Vec<i32>) -> Self {
        self.target_isr = isr;
        self
    }

    /// Removes a broker from the ISR (it was fenced or is shutting down).
    pub fn without(mut self, broker: i32) -> Self {
        self.target_isr.retain(|&b| b != broker);
        self
    }

    /// A new replica list (reassignment).
    pub fn replicas(mut self, replicas: Vec<i32>) -> Self {
        self.target_replicas = Some(replicas);
        self
    }

    /// How to choose the leader.
    pub fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// Moves leadership off `broker` even though it is still eligible (controlled shutdown).
    pub fn avoid_leader(mut self, broker: i32) -> Self {
        self.avoid_leader = Some(broker);
        self
    }

    /// The new state, or `None` when it equals the current one.
    pub fn build(self, eligible: impl Fn(i32) -> bool) -> Option<LeaderAndIsr> {
        let current = self.current;
        let replicas = self.target_replicas.unwrap_or_else(|| current.replicas.clone());
        let mut isr: Vec<i32> = Vec::with_capacity(self.target_isr.len());
        for b in self.target_isr {
            if replicas.contains(&b) && !isr.contains(&b) {
                isr.push(b);
            }
        }
        if isr.is_empty() {
            // Keep the last member: the only replica known to hold every committed record.
            isr = current.isr.iter().copied().filter(|b| replicas.contains(b)).collect();
        }
        let can_lead = |b: i32| isr.contains(&b) && eligible(b) && self.avoid_leader != Some(b);
        let keep = current.leader >= 0 && can_lead(current.leader);
        let preferred = replicas.first().copied().filter(|&b| can_lead(b));
        let leader = match (self.election, keep) {
            (Election::Preferred, _) if preferred.is_some() => preferred,
            (_, true) => Some(current.leader),
            _ => replicas.iter().copied().find(|&b| can_lead(b)),
        };
        let leader = match leader {
            Some(l) => l,
            None if self.election == Election::Unclean => match replicas.iter().copied().find(|&b| eligible(b) && self.avoid_leader != Some(b)) {
                Some(l) => {
                    isr = vec![l];
                    l
                }
                None => -1,
            },
            // With controlled shutdown and no other ISR member, the leader stays.
            None if self.avoid_leader.is_some() && current.leader >= 0 && isr.contains(&current.leader) && eligible(current.leader) => current.leader,
            None => -1,
        };
        if leader == current.leader && isr == current.isr && replicas == current.replicas {
            return None;
        }
        Some(LeaderAndIsr {
            leader,
            leader_epoch: if leader != current.leader { current.leader_epoch + 1 } else { current.leader_epoch },
            partition_epoch: current.partition_epoch + 1,
            replicas,
            isr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(leader: i32, isr: &[i32]) -> LeaderAndIsr {
        LeaderAndIsr { leader, leader_epoch: 3, partition_epoch: 10, replicas: vec![1, 2, 3], isr: isr.to_vec() }
    }

    #[test]
    fn a_fenced_leader_is_replaced_from_the_isr() {
        let current = state(1, &[1, 2, 3]);
        let next = PartitionChange::new(&current).without(1).build(|b| b != 1).unwrap();
        assert_eq!(next, LeaderAndIsr { leader: 2, leader_epoch: 4, partition_epoch: 11, replicas: vec![1, 2, 3], isr: vec![2, 3] });
    }

    #[test]
    fn a_fenced_follower_leaves_the_isr_without_a_new_epoch() {
        let current = state(1, &[1, 2, 3]);
        let next = PartitionChange::new(&current).without(3).build(|b| b != 3).unwrap();
        assert_eq!((next.leader, next.leader_epoch, next.partition_epoch, next.isr), (1, 3, 11, vec![1, 2]));
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_offline_then_returns() {
        let current = state(2, &[2]);
        let offline = PartitionChange::new(&current).without(2).build(|b| b == 1).unwrap();
        assert_eq!((offline.leader, offline.isr.clone()), (-1, vec![2]));
        // A clean election does not pick 1, which is not in the ISR...
        assert_eq!(PartitionChange::new(&offline).build(|b| b == 1), None);
        // ...an unclean one does, and the ISR becomes just it.
        let unclean = PartitionChange::new(&offline).election(Election::Unclean).build(|b| b == 1).unwrap();
        assert_eq!((unclean.leader, unclean.isr), (1, vec![1]));
        // When 2 returns, it leads again.
        let back = PartitionChange::new(&offline).build(|_| true).unwrap();
        assert_eq!((back.leader, back.leader_epoch), (2, 5));
    }

    #[test]
    fn preferred_election_and_controlled_shutdown() {
        let current = state(2, &[1, 2, 3]);
        let preferred = PartitionChange::new(&current).election(Election::Preferred).build(|_| true).unwrap();
        assert_eq!(preferred.leader, 1);
        let moved = PartitionChange::new(&current).avoid_leader(2).without(2).build(|_| true).unwrap();
        assert_eq!((moved.leader, moved.isr), (1, vec![1, 3]));
        let alone = state(2, &[2]);
        assert_eq!(PartitionChange::new(&alone).avoid_leader(2).without(2).build(|_| true), None);
    }
}
