use std::time::Duration;

use fjord_quorum::{QuorumConfig, QuorumStatus};

use crate::cluster::{Cluster, entry, within};

/// Snapshots every 20 entries, keeping 5 before each in the log.
fn snapshot_often(config: &mut QuorumConfig) {
    config.snapshot_every_entries = 20;
    config.keep_after_snapshot = 5;
}

/// Waits until `id`'s status satisfies `done`.
async fn status_until(
    cluster: &Cluster,
    id: u64,
    done: impl Fn(&QuorumStatus) -> bool,
) -> QuorumStatus {
    loop {
        let status = cluster.node(id).quorum.status().await.unwrap();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_purge_the_log_and_restarted_nodes_restore_the_same_state() {
    within(90, async {
        let mut cluster = Cluster::start(3, snapshot_often).await;
        let leader = cluster.leader().await;
        let last = cluster.propose(leader, 0..100).await;
        cluster.wait_applied(last).await;
        let expected: Vec<_> = (0..100).map(entry).collect();

        for id in 1..=3 {
            let status = status_until(&cluster, id, |s| {
                s.snapshot_index >= Some(80) && s.purged_index.is_some()
            })
            .await;
            let (snapshot, purged) = (status.snapshot_index.unwrap(), status.purged_index.unwrap());
            // The leader keeps 5 entries before its snapshot; a follower that fell more than
            // that behind was sent the leader's snapshot, and keeps none.
            let kept = if id == leader { 5 } else { 0 };
            assert!(
                purged + kept <= snapshot,
                "node {id}: purged {purged}, snapshot {snapshot}"
            );
            assert!(cluster.data_dir(id).join("raft/snapshot").is_file());
        }

        // Every node restarts from its data directory alone.
        for id in 1..=3 {
            cluster.kill(id).await;
        }
        for id in 1..=3 {
            cluster.restart(id).await;
        }
        cluster.wait_applied(last).await;
        for (id, node) in &cluster.nodes {
            assert_eq!(
                node.machine.restores(),
                1,
                "node {id} starts from its snapshot"
            );
            assert_eq!(node.machine.entries(), expected, "node {id}");
            assert!(node.machine.indexes().windows(2).all(|w| w[0] < w[1]));
        }
        let leader = cluster.leader().await;
        let last = cluster.propose(leader, 100..110).await;
        cluster.wait_applied(last).await;
        let expected: Vec<_> = (0..110).map(entry).collect();
        for node in cluster.nodes.values() {
            assert_eq!(node.machine.entries(), expected);
        }
        cluster.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_catches_up_from_the_leaders_snapshot() {
    within(90, async {
        let mut cluster = Cluster::start(3, snapshot_often).await;
        let leader = cluster.leader().await;
        let follower = cluster.follower_of(leader);
        cluster.wipe(follower).await;

        let last = cluster.propose(leader, 0..100).await;
        cluster.wait_applied(last).await;
        let purged = status_until(&cluster, leader, |s| s.purged_index.is_some())
            .await
            .purged_index
            .unwrap();
        assert!(purged > 0);

        cluster.restart(follower).await;
        cluster
            .node(follower)
            .quorum
            .wait_applied(last)
            .await
            .unwrap();
        let machine = &cluster.node(follower).machine;
        assert_eq!(
            machine.restores(),
            1,
            "the follower was sent the leader's snapshot"
        );
        assert_eq!(machine.entries(), (0..100).map(entry).collect::<Vec<_>>());
        // It could not have been sent the purged log: it was sent a snapshot.
        let status = cluster.node(follower).quorum.status().await.unwrap();
        assert!(
            status.snapshot_index.is_some_and(|s| s > purged),
            "{status:?}"
        );
        assert!(cluster.data_dir(follower).join("raft/snapshot").is_file());
        cluster.shutdown().await;
    })
    .await
}
