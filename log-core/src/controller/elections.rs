//! Leader elections an operator asks for — Kafka's ElectLeaders — image in, records and
//! per-partition outcomes out.
//!
//! - **Preferred**: a partition whose first replica (its preferred leader) is in the ISR and
//!   eligible but not leading gets it back as leader. The controller also runs this for every
//!   partition periodically, so leadership rebalances after a broker returns.
//! - **Unclean**: a partition with no leader gets one from its live replicas even outside the
//!   ISR (records only that replica had are then lost; an operator asks for it explicitly,
//!   whatever `unclean.leader.election.enable` says, as Kafka allows).
//!
//! When every partition is asked for, partitions that need no election are left out of the
//! outcomes, as Kafka's controller does; when partitions are named, each gets an outcome.

use serde::{Deserialize, Serialize};

use super::{Election, PartitionChange};
use crate::metadata::{MetadataImage, MetadataRecord};

/// Which election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionKind {
    /// Back to the preferred (first) replica.
    Preferred,
    /// Any live replica for a leaderless partition.
    Unclean,
}

/// What happened to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionOutcome {
    /// This broker leads now.
    Elected(i32),
    /// The partition already has the leader this election would give it.
    NotNeeded,
    /// Preferred: the first replica is not in the ISR or not alive.
    PreferredNotAvailable,
    /// Unclean: no replica is alive.
    EligibleNotAvailable,
    /// No such topic or partition.
    UnknownPartition,
}

/// The records to commit and each partition's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elections {
    /// One `PartitionChange` per elected partition.
    pub records: Vec<MetadataRecord>,
    /// (topic, partition, outcome).
    pub outcomes: Vec<(String, i32, ElectionOutcome)>,
}

/// Runs `kind` elections on the partitions `only` names, or on every partition.
pub fn elect_leaders(image: &MetadataImage, kind: ElectionKind, only: Option<&[(String, i32)]>) -> Elections {
    let mut out = Elections::default();
    match only {
        Some(named) => {
            for (topic, partition) in named {
                let outcome = elect_one(image, kind, topic, *partition, &mut out.records);
                out.outcomes.push((topic.clone(), *partition, outcome));
            }
        }
        None => {
            for (topic, t) in &image.topics {
                for index in 0..t.partitions.len() as i32 {
                    let outcome = elect_one(image, kind, topic, index, &mut out.records);
                    if outcome != ElectionOutcome::NotNeeded {
                        out.outcomes.push((topic.clone(), index, outcome));
                    }
                }
            }
        }
    }
    out
}

fn elect_one(image: &MetadataImage, kind: ElectionKind, topic: &str, partition: i32, records: &mut Vec<MetadataRecord>) -> ElectionOutcome {
    let Some(p) = image.partition(topic, partition) else { return ElectionOutcome::UnknownPartition };
    let state = p.leader_and_isr();
    let election = match kind {
        ElectionKind::Preferred if state.replicas.first() == Some(&state.leader) => return ElectionOutcome::NotNeeded,
        ElectionKind::Unclean if state.leader >= 0 => return ElectionOutcome::NotNeeded,
        ElectionKind::Preferred => Election::Preferred,
        ElectionKind::Unclean => Election::Unclean,
    };
    let next = PartitionChange::new(&state).election(election).build(|b| image.is_eligible(b));
    let elected = next.as_ref().map_or(state.leader, |n| n.leader);
    let succeeded = match kind {
        ElectionKind::Preferred => state.replicas.first() == Some(&elected),
        ElectionKind::Unclean => elected >= 0,
    };
    match (succeeded, next) {
        (true, Some(next)) => {
            records.push(MetadataRecord::PartitionChange { topic: topic.to_string(), partition, state: next });
            ElectionOutcome::Elected(elected)
        }
        (true, None) => ElectionOutcome::NotNeeded,
        (false, _) if kind == ElectionKind::Preferred => ElectionOutcome::PreferredNotAvailable,
        (false, _) => ElectionOutcome::EligibleNotAvailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{BrokerImage, PartitionImage, TopicImage};
    use crate::replication::LeaderAndIsr;

    fn image(fenced: &[i32], states: &[LeaderAndIsr]) -> MetadataImage {
        let mut image = MetadataImage::new("c".into(), 1);
        for node in 1..=3 {
            let broker = BrokerImage {
                node_id: node,
                host: "127.0.0.1".into(),
                port: 9091 + node,
                rack: None,
                rpc_endpoint: None,
                incarnation: 1,
                fenced: true,
                in_controlled_shutdown: false,
            };
            image.apply(&MetadataRecord::RegisterBroker { broker });
            if !fenced.contains(&node) {
                image.apply(&MetadataRecord::BrokerState { node_id: node, fenced: false, in_controlled_shutdown: false });
            }
        }
        let partitions = (0..states.len()).map(|_| PartitionImage::new(vec![1, 2, 3])).collect();
        image.apply(&MetadataRecord::CreateTopic { name: "t".into(), topic: TopicImage { id: uuid::Uuid::nil(), partitions, configs: Default::default(), internal: false } });
        for (i, state) in states.iter().enumerate() {
            image.apply(&MetadataRecord::PartitionChange { topic: "t".into(), partition: i as i32, state: state.clone() });
        }
        image
    }

    fn p(leader: i32, epoch: i32, isr: &[i32]) -> LeaderAndIsr {
        LeaderAndIsr { leader, leader_epoch: epoch, partition_epoch: epoch, replicas: vec![1, 2, 3], isr: isr.to_vec() }
    }

    fn named(partitions: &[i32]) -> Vec<(String, i32)> {
        partitions.iter().map(|&i| ("t".to_string(), i)).collect()
    }

    #[test]
    fn preferred_moves_leadership_back_and_reports_each_named_partition() {
        // 0: led by 2, 1 in sync → elected; 1: led by 1 → not needed; 2: 1 out of the ISR.
        let image = image(&[], &[p(2, 4, &[1, 2, 3]), p(1, 1, &[1, 2, 3]), p(2, 4, &[2, 3])]);
        let e = elect_leaders(&image, ElectionKind::Preferred, Some(&named(&[0, 1, 2, 7])));
        assert_eq!(
            e.outcomes.iter().map(|(_, i, o)| (*i, *o)).collect::<Vec<_>>(),
            vec![(0, ElectionOutcome::Elected(1)), (1, ElectionOutcome::NotNeeded), (2, ElectionOutcome::PreferredNotAvailable), (7, ElectionOutcome::UnknownPartition)]
        );
        let [MetadataRecord::PartitionChange { partition: 0, state, .. }] = e.records.as_slice() else { panic!("{:?}", e.records) };
        assert_eq!((state.leader, state.leader_epoch), (1, 5));
    }

    #[test]
    fn preferred_over_every_partition_leaves_out_those_that_need_none() {
        let image = image(&[], &[p(2, 4, &[1, 2, 3]), p(1, 1, &[1, 2, 3])]);
        let e = elect_leaders(&image, ElectionKind::Preferred, None);
        assert_eq!(e.outcomes, vec![("t".to_string(), 0, ElectionOutcome::Elected(1))]);
    }

    #[test]
    fn a_fenced_preferred_replica_is_not_available() {
        let image = image(&[1], &[p(2, 4, &[1, 2, 3])]);
        let e = elect_leaders(&image, ElectionKind::Preferred, Some(&named(&[0])));
        assert_eq!(e.outcomes[0].2, ElectionOutcome::PreferredNotAvailable);
        assert!(e.records.is_empty());
    }

    #[test]
    fn unclean_gives_a_leaderless_partition_a_live_replica_outside_the_isr() {
        // The only ISR member, 3, is fenced; 1 is alive but out of sync.
        let image = image(&[3], &[p(-1, 4, &[3]), p(2, 1, &[2])]);
        let e = elect_leaders(&image, ElectionKind::Unclean, Some(&named(&[0, 1])));
        assert_eq!(e.outcomes.iter().map(|(_, _, o)| *o).collect::<Vec<_>>(), vec![ElectionOutcome::Elected(1), ElectionOutcome::NotNeeded]);
        let [MetadataRecord::PartitionChange { state, .. }] = e.records.as_slice() else { panic!("{:?}", e.records) };
        assert_eq!((state.leader, state.isr.clone()), (1, vec![1]));
        // With nobody alive there is no one to elect.
        let dead = image_with_all_fenced();
        let e = elect_leaders(&dead, ElectionKind::Unclean, Some(&named(&[0])));
        assert_eq!(e.outcomes[0].2, ElectionOutcome::EligibleNotAvailable);
    }

    fn image_with_all_fenced() -> MetadataImage {
        image(&[1, 2, 3], &[p(-1, 4, &[3])])
    }
}
