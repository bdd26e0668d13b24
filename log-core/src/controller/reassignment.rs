//! Partition reassignment (Kafka's AlterPartitionReassignments, KIP-455) as records: start,
//! replace or cancel a partition's move to new replicas, and finish it once every target
//! replica is in sync.
//!
//! While a reassignment runs the partition's replicas are the target followed by the
//! original replicas not in it, so the added brokers open the partition, fetch from the
//! leader and are added to the ISR by it like any follower that caught up. When the ISR holds
//! the whole target, [`complete_ready`] shrinks the replicas (and the ISR) to the target and,
//! if the leader was removed, elects one from the target. Cancelling restores the original
//! replicas. Nothing here does I/O: image in, records out.

use super::{Election, PartitionChange};
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage, Reassignment};

/// Why a reassignment request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassignError {
    /// No such topic or partition.
    #[error("{0} does not exist")]
    UnknownPartition(String),
    /// A cancellation of a partition that is not being reassigned.
    #[error("no reassignment of {0} is in progress")]
    NoReassignmentInProgress(String),
    /// The target replicas are not a valid assignment.
    #[error("{0}")]
    InvalidAssignment(String),
}

impl ReassignError {
    /// The Kafka error code for it.
    pub fn code(&self) -> kafka_protocol::ResponseError {
        use kafka_protocol::ResponseError as E;
        match self {
            Self::UnknownPartition(_) => E::UnknownTopicOrPartition,
            Self::NoReassignmentInProgress(_) => E::NoReassignmentInProgress,
            Self::InvalidAssignment(_) => E::InvalidReplicaAssignment,
        }
    }
}

/// Starts, replaces (`target` given) or cancels (`None`) the reassignment of one partition;
/// the records include its completion when nothing needs to catch up (a reorder, a removal).
pub fn alter_reassignment(image: &MetadataImage, topic: &str, partition: i32, target: Option<&[i32]>) -> Result<Vec<MetadataRecord>, ReassignError> {
    let name = format!("{topic}-{partition}");
    let p = image.partition(topic, partition).ok_or_else(|| ReassignError::UnknownPartition(name.clone()))?;
    let Some(target) = target else {
        let r = p.reassignment.as_ref().ok_or_else(|| ReassignError::NoReassignmentInProgress(name.clone()))?;
        return cancel(image, topic, partition, p, r);
    };
    validate(image, target)?;
    let original = p.reassignment.as_ref().map_or_else(|| p.replicas.clone(), |r| r.original.clone());
    if target == original.as_slice() {
        // Back to where it started: the same as cancelling (nothing, if nothing runs).
        return match &p.reassignment {
            Some(r) => cancel(image, topic, partition, p, r),
            None => Ok(Vec::new()),
        };
    }
    let reassignment = Reassignment { target: target.to_vec(), original };
    let state = p.leader_and_isr();
    let mut records = Vec::new();
    if let Some(next) = PartitionChange::new(&state).replicas(reassignment.merged()).build(|b| image.is_eligible(b)) {
        records.push(MetadataRecord::PartitionChange { topic: topic.to_string(), partition, state: next });
    }
    records.push(MetadataRecord::SetReassignment { topic: topic.to_string(), partition, reassignment: Some(reassignment) });
    // Already complete when every target replica is in sync (a reorder, a removal).
    let mut after = image.clone();
    for r in &records {
        after.apply(r);
    }
    records.extend(complete_ready(&after));
    Ok(records)
}

/// Restores the original replicas (and the ISR within them), ending the reassignment.
fn cancel(image: &MetadataImage, topic: &str, partition: i32, p: &PartitionImage, r: &Reassignment) -> Result<Vec<MetadataRecord>, ReassignError> {
    let isr: Vec<i32> = p.isr.iter().copied().filter(|b| r.original.contains(b)).collect();
    if isr.is_empty() {
        return Err(ReassignError::InvalidAssignment(format!("cannot cancel the reassignment of {topic}-{partition}: none of its original replicas {:?} is in sync", r.original)));
    }
    let state = p.leader_and_isr();
    let mut records = Vec::new();
    if let Some(next) = PartitionChange::new(&state).replicas(r.original.clone()).isr(isr).election(Election::KeepLeader).build(|b| image.is_eligible(b)) {
        records.push(MetadataRecord::PartitionChange { topic: topic.to_string(), partition, state: next });
    }
    records.push(MetadataRecord::SetReassignment { topic: topic.to_string(), partition, reassignment: None });
    Ok(records)
}

fn validate(image: &MetadataImage, target: &[i32]) -> Result<(), ReassignError> {
    if target.is_empty() {
        return Err(ReassignError::InvalidAssignment("the target replica list is empty".into()));
    }
    for (i, b) in target.iter().enumerate() {
        if target[..i].contains(b) {
            return Err(ReassignError::InvalidAssignment(format!("broker {b} appears twice in the target replicas {target:?}")));
        }
        if image.broker(*b).is_none() {
            return Err(ReassignError::InvalidAssignment(format!("broker {b} in the target replicas {target:?} is not registered")));
        }
    }
    Ok(())
}

/// Finishes every reassignment whose target replicas are all in sync: the replicas become
/// the target, removed brokers leave the ISR, and a removed leader hands over to a target
/// replica. A reassignment whose target has no eligible in-sync replica to lead waits.
pub fn complete_ready(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (topic, partition, p, r) in image.reassignments() {
        if !r.target.iter().all(|b| p.isr.contains(b)) {
            continue;
        }
        let leader_stays = r.target.contains(&p.leader);
        if !leader_stays && !r.target.iter().any(|&b| image.is_eligible(b)) {
            continue;
        }
        let state = p.leader_and_isr();
        let isr: Vec<i32> = p.isr.iter().copied().filter(|b| r.target.contains(b)).collect();
        if let Some(next) = PartitionChange::new(&state).replicas(r.target.clone()).isr(isr).build(|b| image.is_eligible(b)) {
            records.push(MetadataRecord::PartitionChange { topic: topic.to_string(), partition, state: next });
        }
        records.push(MetadataRecord::SetReassignment { topic: topic.to_string(), partition, reassignment: None });
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{BrokerImage, TopicImage};

    fn cluster(brokers: i32) -> MetadataImage {
        let mut image = MetadataImage::new("c".into(), 1);
        for node in 1..=brokers {
            let broker = BrokerImage { node_id: node, host: "h".into(), port: 9000, rack: None, rpc_endpoint: None, incarnation: 1, fenced: false, in_controlled_shutdown: false };
            image.apply(&MetadataRecord::RegisterBroker { broker });
        }
        let partitions = vec![PartitionImage::new(vec![1, 2, 3])];
        image.apply(&MetadataRecord::CreateTopic { name: "t".into(), topic: TopicImage { id: uuid::Uuid::nil(), partitions, configs: Default::default(), internal: false } });
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    /// The leader adds `broker` to the ISR, as it does once that follower caught up.
    fn catch_up(image: &mut MetadataImage, broker: i32) {
        let mut state = image.partition("t", 0).unwrap().leader_and_isr();
        state.isr.push(broker);
        state.partition_epoch += 1;
        image.apply(&MetadataRecord::PartitionChange { topic: "t".into(), partition: 0, state });
    }

    #[test]
    fn moving_a_partition_adds_the_new_replica_then_drops_the_old_once_it_is_in_sync() {
        let mut image = cluster(4);
        let records = alter_reassignment(&image, "t", 0, Some(&[2, 3, 4])).unwrap();
        apply(&mut image, &records);
        let p = image.partition("t", 0).unwrap();
        assert_eq!(p.replicas, vec![2, 3, 4, 1], "target first, then the replicas leaving");
        assert_eq!(p.isr, vec![1, 2, 3]);
        assert_eq!((p.reassignment.as_ref().unwrap().adding(), p.reassignment.as_ref().unwrap().removing()), (vec![4], vec![1]));
        assert!(complete_ready(&image).is_empty(), "4 is not in sync yet");

        catch_up(&mut image, 4);
        let done = complete_ready(&image);
        apply(&mut image, &done);
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.replicas.clone(), p.isr.clone(), p.reassignment.clone()), (vec![2, 3, 4], vec![2, 3, 4], None));
        assert_eq!(p.leader, 2, "the removed leader handed over to a target replica");
        assert_eq!(p.leader_epoch, 1);
        assert!(image.reassignments().next().is_none());
    }

    #[test]
    fn a_reorder_or_a_removal_completes_at_once() {
        let mut image = cluster(3);
        let records = alter_reassignment(&image, "t", 0, Some(&[3, 2])).unwrap();
        apply(&mut image, &records);
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.replicas.clone(), p.isr.clone(), p.reassignment.is_none()), (vec![3, 2], vec![2, 3], true));
        assert!(p.leader == 2 || p.leader == 3);
    }

    #[test]
    fn cancelling_restores_the_original_replicas_and_cancelling_nothing_is_refused() {
        let mut image = cluster(4);
        let records = alter_reassignment(&image, "t", 0, Some(&[4, 2, 3])).unwrap();
        apply(&mut image, &records);
        let records = alter_reassignment(&image, "t", 0, None).unwrap();
        apply(&mut image, &records);
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.replicas.clone(), p.isr.clone(), p.leader, p.reassignment.clone()), (vec![1, 2, 3], vec![1, 2, 3], 1, None));
        assert_eq!(alter_reassignment(&image, "t", 0, None).unwrap_err(), ReassignError::NoReassignmentInProgress("t-0".into()));
    }

    #[test]
    fn a_new_target_replaces_a_running_reassignment_from_the_same_original() {
        let mut image = cluster(5);
        let records = alter_reassignment(&image, "t", 0, Some(&[1, 2, 4])).unwrap();
        apply(&mut image, &records);
        let records = alter_reassignment(&image, "t", 0, Some(&[1, 2, 5])).unwrap();
        apply(&mut image, &records);
        let p = image.partition("t", 0).unwrap();
        let r = p.reassignment.as_ref().unwrap();
        assert_eq!((r.original.clone(), r.target.clone()), (vec![1, 2, 3], vec![1, 2, 5]));
        assert_eq!(p.replicas, vec![1, 2, 5, 3], "4, no longer wanted, is dropped");
    }

    #[test]
    fn bad_targets_are_refused() {
        let image = cluster(3);
        let refused = |target: &[i32]| alter_reassignment(&image, "t", 0, Some(target)).unwrap_err();
        assert!(matches!(refused(&[]), ReassignError::InvalidAssignment(_)));
        assert!(matches!(refused(&[1, 1]), ReassignError::InvalidAssignment(_)));
        assert!(matches!(refused(&[1, 9]), ReassignError::InvalidAssignment(_)));
        assert_eq!(alter_reassignment(&image, "t", 5, Some(&[1])).unwrap_err(), ReassignError::UnknownPartition("t-5".into()));
        assert!(alter_reassignment(&image, "t", 0, Some(&[1, 2, 3])).unwrap().is_empty(), "the current replicas: nothing to do");
    }
}
