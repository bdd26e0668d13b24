//! The controller's checks on a leader's ISR change (Kafka's AlterPartition).
//!
//! A change is accepted only from the current leader in the current leader epoch, based on
//! the current partition epoch (so two changes never race), naming replicas only, keeping the
//! leader in, and adding only brokers that are eligible (registered, unfenced, not shutting
//! down — KIP-841), since an ISR member may be elected leader. A retry of a change that was
//! already committed is answered with the committed state.

use kafka_protocol::ResponseError;

use crate::replication::{AlterIsr, LeaderAndIsr};

/// Why an ISR change was refused, with the Kafka error code answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlterIsrError {
    /// The request's leader epoch is not the current one.
    #[error("leader epoch {requested} is not the current {current}")]
    FencedLeaderEpoch {
        /// Asked with.
        requested: i32,
        /// Current.
        current: i32,
    },
    /// The request is based on an older (or newer) partition epoch.
    #[error("partition epoch {requested} is not the current {current}")]
    InvalidUpdateVersion {
        /// Asked with.
        requested: i32,
        /// Current.
        current: i32,
    },
    /// The sender is not the leader.
    #[error("broker {sender} is not the leader (the leader is {leader})")]
    NotLeader {
        /// Who asked.
        sender: i32,
        /// The current leader.
        leader: i32,
    },
    /// The ISR names a broker that is not a replica, repeats one, or leaves out the leader.
    #[error("invalid ISR {isr:?}: {reason}")]
    InvalidIsr {
        /// The ISR asked for.
        isr: Vec<i32>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A broker being added is fenced, shutting down or unknown.
    #[error("broker {broker} cannot join the ISR: it is fenced, shutting down or not registered")]
    IneligibleReplica {
        /// The broker.
        broker: i32,
    },
}

impl AlterIsrError {
    /// The Kafka error code for the AlterPartition response.
    pub fn code(&self) -> ResponseError {
        match self {
            Self::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
            Self::InvalidUpdateVersion { .. } => ResponseError::InvalidUpdateVersion,
            Self::NotLeader { .. } => ResponseError::NotLeaderOrFollower,
            Self::InvalidIsr { .. } => ResponseError::InvalidRequest,
            Self::IneligibleReplica { .. } => ResponseError::IneligibleReplica,
        }
    }
}

/// Checks `request` against the partition's `current` state; returns the state to commit
/// (`current` itself when the request repeats a committed change).
pub fn validate_alter_isr(current: &LeaderAndIsr, request: &AlterIsr, eligible: impl Fn(i32) -> bool) -> Result<LeaderAndIsr, AlterIsrError> {
    if request.leader_epoch != current.leader_epoch {
        return Err(AlterIsrError::FencedLeaderEpoch { requested: request.leader_epoch, current: current.leader_epoch });
    }
    if request.leader != current.leader {
        return Err(AlterIsrError::NotLeader { sender: request.leader, leader: current.leader });
    }
    let same_members = request.isr.len() == current.isr.len() && request.isr.iter().all(|b| current.isr.contains(b));
    if same_members {
        return Ok(current.clone());
    }
    if request.partition_epoch != current.partition_epoch {
        return Err(AlterIsrError::InvalidUpdateVersion { requested: request.partition_epoch, current: current.partition_epoch });
    }
    let invalid = |reason| AlterIsrError::InvalidIsr { isr: request.isr.clone(), reason };
    if !request.isr.contains(&request.leader) {
        return Err(invalid("the leader must stay in the ISR"));
    }
    if request.isr.iter().any(|b| !current.replicas.contains(b)) {
        return Err(invalid("every member must be a replica"));
    }
    if request.isr.iter().enumerate().any(|(i, b)| request.isr[..i].contains(b)) {
        return Err(invalid("a member is named twice"));
    }
    if let Some(&broker) = request.isr.iter().find(|&&b| !current.isr.contains(&b) && !eligible(b)) {
        return Err(AlterIsrError::IneligibleReplica { broker });
    }
    Ok(LeaderAndIsr { partition_epoch: current.partition_epoch + 1, isr: request.isr.clone(), ..current.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current() -> LeaderAndIsr {
        LeaderAndIsr { leader: 1, leader_epoch: 4, partition_epoch: 9, replicas: vec![1, 2, 3], isr: vec![1, 2] }
    }

    fn request(isr: &[i32]) -> AlterIsr {
        AlterIsr { leader: 1, leader_epoch: 4, partition_epoch: 9, isr: isr.to_vec() }
    }

    #[test]
    fn an_expansion_is_committed_with_the_next_partition_epoch() {
        let next = validate_alter_isr(&current(), &request(&[1, 2, 3]), |_| true).unwrap();
        assert_eq!((next.partition_epoch, next.isr), (10, vec![1, 2, 3]));
        // The same change again (its answer was lost) is answered with the committed state.
        let retry = AlterIsr { partition_epoch: 9, ..request(&[1, 2, 3]) };
        assert_eq!(validate_alter_isr(&LeaderAndIsr { partition_epoch: 10, isr: vec![1, 2, 3], ..current() }, &retry, |_| true).unwrap().partition_epoch, 10);
    }

    #[test]
    fn stale_or_bad_changes_are_refused_with_kafkas_codes() {
        let stale_leader = AlterIsr { leader_epoch: 3, ..request(&[1]) };
        assert_eq!(validate_alter_isr(&current(), &stale_leader, |_| true).unwrap_err().code(), ResponseError::FencedLeaderEpoch);
        let stale_partition = AlterIsr { partition_epoch: 8, ..request(&[1]) };
        assert_eq!(validate_alter_isr(&current(), &stale_partition, |_| true).unwrap_err().code(), ResponseError::InvalidUpdateVersion);
        assert_eq!(validate_alter_isr(&current(), &request(&[2]), |_| true).unwrap_err().code(), ResponseError::InvalidRequest);
        assert_eq!(validate_alter_isr(&current(), &request(&[1, 4]), |_| true).unwrap_err().code(), ResponseError::InvalidRequest);
        assert_eq!(validate_alter_isr(&current(), &request(&[1, 2, 3]), |b| b != 3).unwrap_err().code(), ResponseError::IneligibleReplica);
    }
}
