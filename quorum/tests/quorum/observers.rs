//! Observers: nodes outside the voter set that the leader adds as learners. They receive and
//! apply the whole log (from a snapshot when the log was purged), never vote, and keep
//! receiving it under a new leader.

use crate::cluster::{Cluster, entry, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_added_by_the_leader_applies_the_log_and_never_leads() {
    within(90, async {
        let mut cluster = Cluster::start(3, |c| {
            c.snapshot_every_entries = 50;
            c.keep_after_snapshot = 10;
        })
        .await;
        let leader = cluster.leader().await;
        // Entries before the observer exists, some of them purged into a snapshot.
        cluster.propose(leader, 0..120).await;

        let addr = cluster.start_observer(4).await;
        let follower = cluster.follower_of(leader);
        let refused = cluster.node(follower).quorum.add_observer(4, &addr).await;
        assert!(
            refused.is_err(),
            "only the leader adds observers: {refused:?}"
        );
        cluster
            .node(leader)
            .quorum
            .add_observer(4, &addr)
            .await
            .unwrap();
        // Adding it again at the same address changes nothing.
        cluster
            .node(leader)
            .quorum
            .add_observer(4, &addr)
            .await
            .unwrap();
        let voter_as_observer = cluster
            .node(leader)
            .quorum
            .add_observer(follower, &addr)
            .await;
        assert!(voter_as_observer.is_err(), "a voter cannot be an observer");

        let last = cluster.propose(leader, 120..150).await;
        cluster.wait_applied(last).await;
        let expected: Vec<_> = (0..150).map(entry).collect();
        assert_eq!(cluster.node(4).machine.entries(), expected);

        let status = cluster.node(leader).quorum.status().await.unwrap();
        assert_eq!(
            status.voters.iter().map(|v| v.node_id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(status.observers.len(), 1);
        assert_eq!(status.observers[0].node_id, 4);
        assert_eq!(status.observers[0].lag, Some(0));

        // A new leader comes from the voters, and the observer follows it.
        cluster.kill(leader).await;
        let next = cluster.leader().await;
        assert_ne!(next, 4, "an observer never leads");
        let last = cluster.propose(next, 150..160).await;
        cluster.wait_applied(last).await;
        assert_eq!(
            cluster.node(4).machine.entries(),
            (0..160).map(entry).collect::<Vec<_>>()
        );
        cluster.shutdown().await;
    })
    .await
}
