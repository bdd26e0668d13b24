use crate::cluster::{Cluster, entry, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_proposals_continue() {
    within(90, async {
        let mut cluster = Cluster::start(3, |_| {}).await;
        let first = cluster.leader().await;
        cluster.propose(first, 0..50).await;
        let term = cluster.node(first).quorum.status().await.unwrap().term;

        cluster.kill(first).await;
        let second = cluster.leader().await;
        assert_ne!(second, first);
        assert!(cluster.node(second).quorum.status().await.unwrap().term > term);
        let last = cluster.propose(second, 50..100).await;
        cluster.wait_applied(last).await;
        let expected: Vec<_> = (0..100).map(entry).collect();
        for node in cluster.nodes.values() {
            assert_eq!(node.machine.entries(), expected);
        }

        // The old leader comes back as a follower and catches up.
        cluster.restart(first).await;
        cluster.wait_applied(last).await;
        assert_eq!(cluster.node(first).machine.entries(), expected);
        cluster.shutdown().await;
    })
    .await
}
