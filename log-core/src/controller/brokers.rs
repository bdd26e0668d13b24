//! What the controller writes when brokers come, go and change their partitions' state:
//! pure functions from the current image to the records to commit.
//!
//! - A broker registers fenced (a restart is a new incarnation: what the old one led moves
//!   away first) and is unfenced once it has caught up with the metadata log; unfencing it
//!   elects it where partitions had no leader and it is the ISR's last member.
//! - A fenced broker (its session expired) leaves every ISR it was in and every leadership.
//! - A controlled shutdown moves every leadership it can to another ISR member and takes the
//!   broker out of the ISRs, so the broker can stop without clients noticing more than a
//!   leader change.
//! - A leader's ISR change is checked ([`validate_alter_isr`]) and committed.
//! - Preferred-leader election moves leadership back to each partition's first replica.

use super::alter_partition::{validate_alter_isr, AlterIsrError};
use super::partition_change::PartitionChange;
use crate::metadata::{BrokerImage, MetadataImage, MetadataRecord};
use crate::replication::{AlterIsr, LeaderAndIsr};

/// Partition changes for every partition, from `change` (which returns the new state or
/// `None`), as records.
fn changes(image: &MetadataImage, mut change: impl FnMut(&LeaderAndIsr) -> Option<LeaderAndIsr>) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for (topic, t) in &image.topics {
        for (index, p) in t.partitions.iter().enumerate() {
            if let Some(state) = change(&p.leader_and_isr()) {
                out.push(MetadataRecord::PartitionChange { topic: topic.clone(), partition: index as i32, state });
            }
        }
    }
    out
}

/// The image as it will be once `records` apply (to decide eligibility after a change).
fn after(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut next = image.clone();
    for r in records {
        next.apply(r);
    }
    next
}

/// A broker registers (or re-registers with a new incarnation). It starts fenced; if an
/// earlier incarnation was unfenced, its leaderships and ISR places go first.
pub fn register(image: &MetadataImage, broker: BrokerImage) -> Vec<MetadataRecord> {
    let node = broker.node_id;
    let mut out = Vec::new();
    if image.broker(node).is_some_and(|b| !b.fenced && b.incarnation != broker.incarnation) {
        out.extend(fence(image, node));
    }
    out.push(MetadataRecord::RegisterBroker { broker: BrokerImage { fenced: true, in_controlled_shutdown: false, ..broker } });
    out
}

/// Fences `node`: it leaves every ISR and leadership (partitions it alone held go offline).
pub fn fence(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    let Some(broker) = image.broker(node) else { return Vec::new() };
    let mut out = vec![MetadataRecord::BrokerState { node_id: node, fenced: true, in_controlled_shutdown: broker.in_controlled_shutdown }];
    let next = after(image, &out);
    out.extend(changes(image, |p| {
        if !p.isr.contains(&node) && p.leader != node {
            return None;
        }
        PartitionChange::new(p).without(node).build(|b| next.is_eligible(b))
    }));
    out
}

/// Unfences `node` (it caught up with the metadata log) and elects it where partitions wait
/// for it.
pub fn unfence(image: &MetadataImage, node: i32) -> Vec<MetadataRecord> {
    if image.broker(node).is_none_or(|b| !b.fenced) {
        return Vec::new();
    }
    let mut out = vec![MetadataRecord::BrokerState { node_id: node, fenced: false, in_controlled_shutdown: false }];
    let next = after(image, &out);
    out.extend(changes(image, |p| if p.leader < 0 { PartitionChange::new(p).build(|b| next.is_eligible(b)) } else { None }));
    out
}

/// Starts (or continues) `node`'s controlled shutdown: leadership moves to other ISR
/// members and the broker leaves the ISRs where another member remains. Returns the records
/// and whether the broker now leads nothing that could move (it may stop).
pub fn controlled_shutdown(image: &MetadataImage, node: i32) -> (Vec<MetadataRecord>, bool) {
    let Some(broker) = image.broker(node) else { return (Vec::new(), true) };
    let mut out = Vec::new();
    if !broker.in_controlled_shutdown {
        out.push(MetadataRecord::BrokerState { node_id: node, fenced: broker.fenced, in_controlled_shutdown: true });
    }
    let next = after(image, &out);
    out.extend(changes(image, |p| {
        if !p.isr.contains(&node) && p.leader != node {
            return None;
        }
        PartitionChange::new(p).avoid_leader(node).without(node).build(|b| next.is_eligible(b))
    }));
    let done = after(image, &out);
    let still_leads = done.topics.values().flat_map(|t| &t.partitions).any(|p| p.leader == node && p.isr.len() > 1);
    (out, !still_leads)
}

/// A leader's ISR change for `topic`-`partition`.
pub fn alter_partition(image: &MetadataImage, topic: &str, partition: i32, request: &AlterIsr) -> Result<(LeaderAndIsr, Vec<MetadataRecord>), AlterPartitionRefusal> {
    let current = image.partition(topic, partition).ok_or(AlterPartitionRefusal::UnknownPartition)?.leader_and_isr();
    let next = validate_alter_isr(&current, request, |b| image.is_eligible(b)).map_err(AlterPartitionRefusal::Refused)?;
    let records = if next == current { Vec::new() } else { vec![MetadataRecord::PartitionChange { topic: topic.to_string(), partition, state: next.clone() }] };
    Ok((next, records))
}

/// Why an ISR change was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlterPartitionRefusal {
    /// No such topic or partition.
    #[error("unknown topic or partition")]
    UnknownPartition,
    /// The checks refused it.
    #[error(transparent)]
    Refused(AlterIsrError),
}

/// Preferred-leader election: partitions whose first replica is in sync and eligible but
/// not leading get it back as leader (`only` limits it to some partitions).
pub fn preferred_elections(image: &MetadataImage, only: Option<&[(String, i32)]>) -> Vec<MetadataRecord> {
    super::elect_leaders(image, super::ElectionKind::Preferred, only).records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{PartitionImage, TopicImage};

    fn broker(node_id: i32, incarnation: u64) -> BrokerImage {
        BrokerImage {
            node_id,
            host: "127.0.0.1".into(),
            port: 9091 + node_id,
            rack: None,
            rpc_endpoint: Some(format!("127.0.0.1:{}", 9190 + node_id)),
            incarnation,
            fenced: false,
            in_controlled_shutdown: false,
        }
    }

    fn cluster() -> MetadataImage {
        let mut image = MetadataImage::new("c".into(), 1);
        for node in 1..=3 {
            image.apply(&MetadataRecord::RegisterBroker { broker: broker(node, 1) });
        }
        let partitions = vec![PartitionImage::new(vec![1, 2, 3]), PartitionImage::new(vec![2, 3, 1])];
        image.apply(&MetadataRecord::CreateTopic { name: "t".into(), topic: TopicImage { id: uuid::Uuid::nil(), partitions, configs: Default::default(), internal: false } });
        image
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    #[test]
    fn fencing_moves_leadership_and_unfencing_brings_the_broker_back_only_through_the_isr() {
        let mut image = cluster();
        let records = fence(&image, 1);
        apply(&mut image, &records);
        let p0 = image.partition("t", 0).unwrap();
        assert_eq!((p0.leader, p0.leader_epoch, p0.isr.clone()), (2, 1, vec![2, 3]));
        assert_eq!(image.partition("t", 1).unwrap().isr, vec![2, 3]);
        let records = unfence(&image, 1);
        apply(&mut image, &records);
        assert!(!image.broker(1).unwrap().fenced);
        // Back in service, but not in any ISR until its leader adds it.
        assert_eq!(image.partition("t", 0).unwrap().isr, vec![2, 3]);
    }

    #[test]
    fn a_restarted_broker_registers_fenced_and_loses_its_leaderships() {
        let mut image = cluster();
        let records = register(&image, broker(2, 2));
        apply(&mut image, &records);
        assert!(image.broker(2).unwrap().fenced);
        assert_eq!(image.partition("t", 1).unwrap().leader, 3);
    }

    #[test]
    fn controlled_shutdown_moves_everything_and_says_when_done() {
        let mut image = cluster();
        let (records, done) = controlled_shutdown(&image, 2);
        assert!(done);
        apply(&mut image, &records);
        assert_eq!(image.partition("t", 1).unwrap().leader, 3);
        assert!(image.topics["t"].partitions.iter().all(|p| !p.isr.contains(&2)));
        // It comes back: preferred election gives it partition 1 once it is in sync again.
        let records = register(&image, broker(2, 2));
        apply(&mut image, &records);
        let records = unfence(&image, 2);
        apply(&mut image, &records);
        let isr_back = LeaderAndIsr { isr: vec![3, 1, 2], partition_epoch: image.partition("t", 1).unwrap().partition_epoch + 1, ..image.partition("t", 1).unwrap().leader_and_isr() };
        apply(&mut image, &[MetadataRecord::PartitionChange { topic: "t".into(), partition: 1, state: isr_back }]);
        let records = preferred_elections(&image, None);
        apply(&mut image, &records);
        assert_eq!(image.partition("t", 1).unwrap().leader, 2);
    }

    #[test]
    fn brokers_shutting_down_together_are_done_when_no_one_is_left_to_lead() {
        let mut image = cluster();
        let (records, done) = controlled_shutdown(&image, 3);
        assert!(done, "3 leads nothing");
        apply(&mut image, &records);
        let (records, done) = controlled_shutdown(&image, 1);
        assert!(done, "1's partition moves to 2, the last eligible broker");
        apply(&mut image, &records);
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
        let (records, done) = controlled_shutdown(&image, 2);
        assert!(done, "2 leads both, but no eligible broker is left to take them");
        apply(&mut image, &records);
        // As in Kafka: no leader, and 2 stays the ISR, so that the partitions come back
        // with it and no unclean election is needed.
        let states: Vec<_> = image.topics["t"].partitions.iter().map(|p| (p.leader, p.isr.clone())).collect();
        assert_eq!(states, vec![(-1, vec![2]), (-1, vec![2])]);
    }

    #[test]
    fn isr_changes_are_checked_against_the_image() {
        let image = cluster();
        let p = image.partition("t", 0).unwrap();
        let request = AlterIsr { leader: 1, leader_epoch: p.leader_epoch, partition_epoch: p.partition_epoch, isr: vec![1, 2] };
        let (next, records) = alter_partition(&image, "t", 0, &request).unwrap();
        assert_eq!((next.isr, records.len()), (vec![1, 2], 1));
        assert_eq!(alter_partition(&image, "t", 9, &request), Err(AlterPartitionRefusal::UnknownPartition));
    }
}
