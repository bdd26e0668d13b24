//! Which brokers hold a new partition's replicas.
//!
//! Kafka's assignment: brokers in a ring (racks interleaved when racks are given, so that
//! neighbours are on different racks); partition `p`'s first replica — its preferred leader
//! — is the ring's `(start + p)`-th broker, so leaders spread evenly; the others follow at a
//! shift that changes every full turn of the ring, so followers spread too. With racks, a
//! follower is taken from a rack that holds none of the partition's replicas yet while there
//! is one. `start` and the initial shift are the caller's (random in the controller, fixed
//! in tests).

use std::collections::BTreeMap;

/// A broker that can hold replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerPlacement {
    /// Its node id.
    pub node_id: i32,
    /// Its rack, if configured.
    pub rack: Option<String>,
}

/// Why replicas cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer usable brokers than the replication factor (Kafka's INVALID_REPLICATION_FACTOR).
    #[error("replication factor {replication_factor} is larger than the {available} available brokers")]
    NotEnoughBrokers {
        /// Asked for.
        replication_factor: usize,
        /// Unfenced brokers.
        available: usize,
    },
    /// A replication factor of zero.
    #[error("replication factor must be at least 1")]
    ZeroReplicationFactor,
}

/// Replica lists for partitions `first_partition..first_partition + count`.
pub fn assign_replicas(
    brokers: &[BrokerPlacement],
    first_partition: usize,
    count: usize,
    replication_factor: usize,
    start: usize,
    initial_shift: usize,
) -> Result<Vec<Vec<i32>>, PlacementError> {
    if replication_factor == 0 {
        return Err(PlacementError::ZeroReplicationFactor);
    }
    if replication_factor > brokers.len() {
        return Err(PlacementError::NotEnoughBrokers { replication_factor, available: brokers.len() });
    }
    let ring = rack_interleaved(brokers);
    let n = ring.len();
    let racks = ring.iter().filter_map(|b| b.rack.as_deref()).collect::<std::collections::BTreeSet<_>>().len();
    let mut out = Vec::with_capacity(count);
    for p in first_partition..first_partition + count {
        let shift = initial_shift + p / n;
        let first = (start + p) % n;
        let mut chosen = vec![first];
        let mut j = 0;
        // Candidates in Kafka's follower order; with racks, prefer unused racks first.
        let order: Vec<usize> = (0..n - 1).map(|k| (first + 1 + (shift + k) % (n - 1).max(1)) % n).collect();
        while chosen.len() < replication_factor && j < 2 {
            for &candidate in &order {
                if chosen.len() == replication_factor {
                    break;
                }
                if chosen.contains(&candidate) {
                    continue;
                }
                let rack_used = ring[candidate].rack.as_deref().is_some_and(|r| chosen.iter().any(|&c| ring[c].rack.as_deref() == Some(r)));
                let used_racks = chosen.iter().filter_map(|&c| ring[c].rack.as_deref()).collect::<std::collections::BTreeSet<_>>().len();
                if j == 0 && rack_used && used_racks < racks {
                    continue;
                }
                chosen.push(candidate);
            }
            j += 1;
        }
        out.push(chosen.into_iter().map(|i| ring[i].node_id).collect());
    }
    Ok(out)
}

/// Brokers ordered by id, racks taking turns (rack A's first, rack B's first, …, rack A's
/// second, …); brokers without a rack after them.
fn rack_interleaved(brokers: &[BrokerPlacement]) -> Vec<BrokerPlacement> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<&BrokerPlacement>> = BTreeMap::new();
    for b in brokers {
        by_rack.entry(b.rack.as_deref()).or_default().push(b);
    }
    for list in by_rack.values_mut() {
        list.sort_by_key(|b| b.node_id);
    }
    if by_rack.len() <= 1 {
        let mut all: Vec<BrokerPlacement> = brokers.to_vec();
        all.sort_by_key(|b| b.node_id);
        return all;
    }
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(brokers.len());
    for i in 0..longest {
        for list in by_rack.values() {
            if let Some(b) = list.get(i) {
                out.push((*b).clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<BrokerPlacement> {
        racks.iter().enumerate().map(|(i, r)| BrokerPlacement { node_id: i as i32 + 1, rack: r.map(String::from) }).collect()
    }

    #[test]
    fn replicas_are_distinct_and_leaders_balanced() {
        let b = brokers(&[None, None, None]);
        let assignment = assign_replicas(&b, 0, 6, 3, 0, 0).unwrap();
        for replicas in &assignment {
            let mut sorted = replicas.clone();
            sorted.sort();
            assert_eq!(sorted, vec![1, 2, 3]);
        }
        let mut leaders = [0; 3];
        for replicas in &assignment {
            leaders[replicas[0] as usize - 1] += 1;
        }
        assert_eq!(leaders, [2, 2, 2]);
    }

    #[test]
    fn racks_are_spread_before_reused() {
        let b = brokers(&[Some("a"), Some("a"), Some("b"), Some("b"), Some("c"), Some("c")]);
        for replicas in assign_replicas(&b, 0, 12, 3, 1, 2).unwrap() {
            let racks: std::collections::BTreeSet<_> = replicas.iter().map(|&id| b[id as usize - 1].rack.clone()).collect();
            assert_eq!(racks.len(), 3, "{replicas:?}");
        }
    }

    #[test]
    fn too_few_brokers_is_an_error() {
        assert_eq!(
            assign_replicas(&brokers(&[None, None]), 0, 1, 3, 0, 0),
            Err(PlacementError::NotEnoughBrokers { replication_factor: 3, available: 2 })
        );
        assert_eq!(assign_replicas(&brokers(&[None]), 0, 4, 1, 0, 0).unwrap(), vec![vec![1]; 4]);
    }
}
