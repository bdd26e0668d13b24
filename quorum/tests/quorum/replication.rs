use std::time::Duration;

use fjord_quorum::QuorumError;

use crate::cluster::{Cluster, entry, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_a_leader_and_apply_every_proposal_in_order_everywhere() {
    within(60, async {
        let cluster = Cluster::start(3, |_| {}).await;
        let leader = cluster.leader().await;
        let last = cluster.propose(leader, 0..200).await;
        cluster.wait_applied(last).await;

        let expected: Vec<_> = (0..200).map(entry).collect();
        for (id, node) in &cluster.nodes {
            assert_eq!(node.machine.entries(), expected, "node {id}");
            let indexes = node.machine.indexes();
            assert!(
                indexes.windows(2).all(|w| w[0] < w[1]),
                "node {id} applied out of order: {indexes:?}"
            );
            assert_eq!(indexes.last(), Some(&last));
        }
        cluster.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_refuses_a_proposal_and_names_the_leader() {
    within(60, async {
        let cluster = Cluster::start(3, |_| {}).await;
        let leader = cluster.leader().await;
        let follower = cluster.follower_of(leader);
        let err = cluster
            .node(follower)
            .quorum
            .propose(b"refused".to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(err, QuorumError::NotLeader { leader: Some(l) } if l == leader),
            "{err:?}"
        );

        let index = cluster
            .node(leader)
            .quorum
            .propose(b"accepted".to_vec())
            .await
            .unwrap();
        cluster.wait_applied(index).await;
        for node in cluster.nodes.values() {
            assert_eq!(node.machine.entries(), [b"accepted".to_vec()]);
        }
        cluster.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_reports_every_voter_with_its_lag_and_last_contact() {
    within(60, async {
        let mut cluster = Cluster::start(3, |_| {}).await;
        let leader = cluster.leader().await;
        let last = cluster.propose(leader, 0..20).await;
        cluster.wait_applied(last).await;

        let status = loop {
            let status = cluster.node(leader).quorum.status().await.unwrap();
            if status.voters.iter().all(|v| v.lag == Some(0)) {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            (status.node_id, status.leader, status.is_leader),
            (leader, Some(leader), true)
        );
        assert!(status.term >= 1);
        assert_eq!(status.committed_index, Some(last));
        assert_eq!(status.last_log_index, Some(last));
        assert_eq!(
            status.voters.iter().map(|v| v.node_id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        for voter in &status.voters {
            assert_eq!(
                voter.address,
                cluster.config(voter.node_id).voters[&voter.node_id]
            );
            assert_eq!(voter.matched_index, Some(last), "{voter:?}");
            assert!(
                voter.last_contact_ms_ago.is_some_and(|ms| ms < 5_000),
                "{voter:?}"
            );
            assert!(
                voter.last_caught_up_ms_ago.is_some_and(|ms| ms < 5_000),
                "{voter:?}"
            );
        }

        // A follower knows the leader but not the replication progress.
        let follower = cluster.follower_of(leader);
        let seen = cluster.node(follower).quorum.status().await.unwrap();
        assert_eq!(
            (seen.leader, seen.term, seen.is_leader),
            (Some(leader), status.term, false)
        );
        assert!(
            seen.voters
                .iter()
                .all(|v| v.lag.is_none() && v.matched_index.is_none())
        );

        // A stopped follower falls behind by exactly what was committed without it.
        cluster.kill(follower).await;
        let now_last = cluster.propose(leader, 20..30).await;
        let status = cluster.node(leader).quorum.status().await.unwrap();
        assert_eq!(status.committed_index, Some(now_last));
        let stopped = status
            .voters
            .iter()
            .find(|v| v.node_id == follower)
            .unwrap();
        assert_eq!(
            (stopped.matched_index, stopped.lag),
            (Some(last), Some(now_last - last))
        );
        cluster.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_changes_are_published_and_the_watch_ends_at_shutdown() {
    within(60, async {
        let cluster = Cluster::start(3, |_| {}).await;
        let leader = cluster.leader().await;
        let node = cluster.node(leader);
        let mut watch = node.quorum.watch_leader();
        assert_eq!(watch.borrow_and_update().leader, Some(leader));
        node.quorum.shutdown().await.unwrap();
        watch.wait_for(|s| s.leader.is_none()).await.unwrap();
        assert!(matches!(
            node.quorum.propose(b"late".to_vec()).await,
            Err(QuorumError::Shutdown)
        ));
        assert!(matches!(
            node.quorum.status().await,
            Err(QuorumError::Shutdown)
        ));
        cluster.shutdown().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_is_sent_the_log_in_batches_under_the_message_limit() {
    within(60, async {
        let mut cluster = Cluster::start(3, |c| c.max_message_bytes = 8 * 1024).await;
        let leader = cluster.leader().await;
        let follower = cluster.follower_of(leader);
        cluster.kill(follower).await;

        // 50 entries of 1000 bytes: about 70 KiB of AppendEntries to catch up with.
        let big = |i: usize| [entry(i), vec![b'x'; 1000 - entry(i).len()]].concat();
        let mut last = 0;
        for i in 0..50 {
            last = cluster.node(leader).quorum.propose(big(i)).await.unwrap();
        }
        let too_big = cluster
            .node(leader)
            .quorum
            .propose(vec![0; 4097])
            .await
            .unwrap_err();
        assert!(
            matches!(too_big, QuorumError::TooLarge { limit: 4096, .. }),
            "{too_big:?}"
        );

        cluster.restart(follower).await;
        cluster.wait_applied(last).await;
        let machine = &cluster.node(follower).machine;
        assert_eq!(machine.entries(), (0..50).map(big).collect::<Vec<_>>());
        assert_eq!(
            machine.restores(),
            0,
            "caught up from the log, not a snapshot"
        );
        cluster.shutdown().await;
    })
    .await
}
