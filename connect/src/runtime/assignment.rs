//! Which tasks a worker runs. A worker alone runs every task. Workers sharing a group id divide
//! the tasks through the consumer-group protocol: each task maps, by its connector's name and
//! its number, to one partition of the group's assignment topic, and a worker runs the tasks
//! whose partitions the group assigned to it. The map depends on nothing but the name and
//! number, so every worker computes the same owner from its own view of the configs, and a
//! connector's tasks land on consecutive partitions, which the round-robin assignor spreads
//! over the workers.

use std::collections::BTreeSet;

/// The tasks this worker may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// A worker on its own: every task.
    All,
    /// A worker in a group: the tasks mapping to `assigned`, of `count` partitions.
    Partitions { count: u32, assigned: BTreeSet<i32> },
}

impl Ownership {
    /// Whether task `task` of connector `connector` runs here.
    pub fn owns(&self, connector: &str, task: usize) -> bool {
        match self {
            Self::All => true,
            Self::Partitions { count, assigned } => assigned.contains(&task_partition(connector, task, *count)),
        }
    }
}

/// The assignment-topic partition of a task, out of `count`: the connector's name hashed
/// (FNV-1a, the same in every build and on every machine), plus the task's number.
pub(crate) fn task_partition(connector: &str, task: usize, count: u32) -> i32 {
    let count = u64::from(count.max(1));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in connector.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let partition = (hash % count + task as u64 % count) % count;
    i32::try_from(partition).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_stable_and_spreads_one_connectors_tasks_over_consecutive_partitions() {
        // Fixed values: workers of different builds must agree on them.
        assert_eq!(task_partition("orders", 0, 32), task_partition("orders", 0, 32));
        let first = task_partition("orders", 0, 32);
        for task in 0..40 {
            assert_eq!(task_partition("orders", task, 32), (first + task as i32) % 32);
        }
        assert!((0..1000).map(|i| task_partition(&format!("c{i}"), 0, 32)).collect::<BTreeSet<_>>().len() == 32);
        assert_eq!(task_partition("x", 7, 0), 0);
    }

    #[test]
    fn a_worker_owns_the_tasks_of_its_partitions_and_a_lone_worker_owns_all() {
        let all_partitions: BTreeSet<i32> = (0..8).collect();
        let (even, odd): (BTreeSet<i32>, BTreeSet<i32>) = all_partitions.iter().partition(|p| *p % 2 == 0);
        let a = Ownership::Partitions { count: 8, assigned: even };
        let b = Ownership::Partitions { count: 8, assigned: odd };
        for task in 0..20 {
            assert!(a.owns("sink", task) != b.owns("sink", task), "exactly one worker runs task {task}");
            assert!(Ownership::All.owns("sink", task));
        }
        assert!(!Ownership::Partitions { count: 8, assigned: BTreeSet::new() }.owns("sink", 0));
    }
}
