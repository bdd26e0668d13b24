//! Replica fetch over gRPC on 127.0.0.1: a follower's fetcher copies its leader's partition
//! through the leader's `ReplicaFetchService`, the high watermarks follow, a long poll wakes
//! on new records, a leader change makes the old leader truncate its unreplicated tail, and
//! bad requests are answered with Kafka error codes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fjord_log_core::broker::{Isolation, Partition, TopicSettings};
use fjord_log_core::replication::{AckState, LeaderAndIsr};
use fjord_log_core::rpc::pb::replica_service_client::ReplicaServiceClient;
use fjord_log_core::rpc::pb::{ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse};
use fjord_log_core::rpc::{FollowerSource, ReplicaFetchService, ReplicaFetcherConfig, ReplicaFetcherManager, ReplicaSource};
use fjord_log_core::storage::{BatchBuilder, Batches, Compression, LogConfig, TimestampType};
use kafka_protocol::ResponseError;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use uuid::Uuid;

const TOPIC_ID: Uuid = Uuid::from_u128(0x5eed);

/// A broker hosting one partition, with the endpoints of the others.
struct Node {
    partition: Arc<Partition>,
    endpoints: Mutex<HashMap<i32, String>>,
}

impl ReplicaSource for Node {
    fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        (topic == self.partition.topic() && index == self.partition.index()).then(|| Arc::clone(&self.partition))
    }
    fn topic_id(&self, _topic: &str) -> Option<Uuid> {
        Some(TOPIC_ID)
    }
}

impl FollowerSource for Node {
    fn partitions(&self) -> Vec<Arc<Partition>> {
        vec![Arc::clone(&self.partition)]
    }
    fn rpc_endpoint(&self, node_id: i32) -> Option<String> {
        self.endpoints.lock().expect("endpoints").get(&node_id).cloned()
    }
    fn topic_id(&self, _topic: &str) -> Option<Uuid> {
        Some(TOPIC_ID)
    }
}

impl Node {
    fn open(node_id: i32, dir: &std::path::Path, state: &LeaderAndIsr) -> Arc<Self> {
        let settings = TopicSettings { log: LogConfig::default(), min_insync_replicas: 2, replica_lag_time_max_ms: 30_000 };
        let partition = Partition::open("t", 0, dir, &settings, node_id, state).expect("open");
        Arc::new(Self { partition: Arc::new(partition), endpoints: Mutex::new(HashMap::new()) })
    }

    fn set_endpoint(&self, node_id: i32, endpoint: String) {
        self.endpoints.lock().expect("endpoints").insert(node_id, endpoint);
    }

    fn log_end(&self) -> u64 {
        self.partition.log_end_offset().expect("log end")
    }
}

/// A node's gRPC server, stopped by its shutdown signal.
struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

async fn serve(node: &Arc<Node>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (shutdown, stopping) = watch::channel(false);
    let service = ReplicaFetchService::new(Arc::clone(node) as Arc<dyn ReplicaSource>, stopping.clone());
    let mut signal = stopping;
    let task = tokio::spawn(
        tonic::transport::Server::builder().add_service(service.into_server()).serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            let _ = signal.wait_for(|stop| *stop).await;
        }),
    );
    Server { addr, shutdown, task }
}

impl Server {
    /// Stops the server and checks it stops even with followers' streams open.
    async fn stop(self) {
        self.shutdown.send_replace(true);
        let stopped = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "the server stops within 30 s: {stopped:?}");
    }
}

fn fetcher(node: &Arc<Node>, node_id: i32, max_wait: Duration) -> ReplicaFetcherManager {
    let config = ReplicaFetcherConfig {
        max_wait,
        reconnect_backoff: Duration::from_millis(20),
        backoff: Duration::from_millis(200),
        rescan_interval: Duration::from_millis(50),
        ..ReplicaFetcherConfig::new(node_id)
    };
    ReplicaFetcherManager::start(Arc::clone(node) as Arc<dyn FollowerSource>, config)
}

fn state(leader: i32, leader_epoch: i32, isr: &[i32]) -> LeaderAndIsr {
    LeaderAndIsr { leader, leader_epoch, partition_epoch: leader_epoch, replicas: vec![1, 2], isr: isr.to_vec() }
}

fn batch(value: &str) -> Vec<u8> {
    let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
    builder.push(0, 1_700_000_000_000, None, Some(value.as_bytes()), &[]);
    builder.build().expect("batch")
}

/// Appends one record on the blocking pool, as the produce handler does; returns its end.
async fn append(node: &Arc<Node>, value: &str, acks_all: bool) -> u64 {
    let partition = Arc::clone(&node.partition);
    let value = value.to_string();
    tokio::task::spawn_blocking(move || partition.append_deferred(&mut batch(&value), acks_all, false).expect("append").0.end_offset)
        .await
        .expect("append task")
}

/// Every batch of the partition's log, as stored (it must lead to be read).
fn log_bytes(partition: &Partition) -> Bytes {
    partition.read(0, 1 << 20, Isolation::ReadUncommitted).expect("read").records
}

/// Polls `check` every 10 ms until it holds; fails after `within`.
async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const GENEROUS: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_copies_its_leader_over_grpc_and_the_old_leader_truncates_after_a_leader_change() {
    let (dir1, dir2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let initial = state(1, 0, &[1, 2]);
    let node1 = Node::open(1, dir1.path(), &initial);
    let node2 = Node::open(2, dir2.path(), &initial);
    let server1 = serve(&node1).await;

    // The follower starts before it can reach the leader: first no endpoint, then a port
    // nobody listens on; it retries until the metadata gives the right one.
    let follower = fetcher(&node2, 2, Duration::from_millis(500));
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    node2.set_endpoint(1, closed.to_string());
    let mut ends = Vec::new();
    for value in ["a0", "a1", "a2"] {
        ends.push(append(&node1, value, true).await);
    }
    assert_eq!(node1.partition.high_watermark(), 0, "acks=all records wait for the follower");
    tokio::time::sleep(Duration::from_millis(100)).await;
    node2.set_endpoint(1, server1.addr.to_string());

    eventually("the follower copies the leader's log", GENEROUS, || node2.log_end() == node1.log_end()).await;
    eventually("the leader's high watermark reaches its log end", GENEROUS, || node1.partition.high_watermark() == 3).await;
    eventually("the follower's high watermark follows", GENEROUS, || node2.partition.high_watermark() == 3).await;
    for end in ends {
        assert_eq!(node1.partition.ack_state(end).expect("ack state"), AckState::Acknowledged);
    }
    follower.shutdown().await;

    // A follower long-polling for 20 s gets a new record long before: the append wakes the
    // leader's wait.
    let follower = fetcher(&node2, 2, Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let appended = Instant::now();
    append(&node1, "a3", false).await;
    eventually("the waiting fetch answers with the new record", Duration::from_secs(10), || node2.log_end() == 4).await;
    eventually("and the high watermarks follow", Duration::from_secs(10), || node2.partition.high_watermark() == 4).await;
    assert!(appended.elapsed() < Duration::from_secs(10));
    follower.shutdown().await;

    // Node 1 takes two records node 2 never sees; then node 2 is elected and takes one.
    append(&node1, "lost-1", false).await;
    append(&node1, "lost-2", false).await;
    let elected = state(2, 1, &[2]);
    node2.partition.apply_state(&elected).expect("node 2 leads");
    node1.partition.apply_state(&elected).expect("node 1 follows");
    append(&node2, "b", false).await;
    let server2 = serve(&node2).await;
    node1.set_endpoint(2, server2.addr.to_string());
    let old_leader = fetcher(&node1, 1, Duration::from_millis(500));

    eventually("the old leader truncates its tail and copies the new leader's log", GENEROUS, || node1.log_end() == 5 && node2.log_end() == 5).await;
    eventually("the new leader's high watermark reaches its log end", GENEROUS, || node2.partition.high_watermark() == 5).await;
    eventually("the old leader's high watermark follows", GENEROUS, || node1.partition.high_watermark() == 5).await;
    old_leader.shutdown().await;
    server1.stop().await;
    server2.stop().await;

    // Node 2 never had the lost records: equal logs mean node 1's tail is gone.
    let leader_log = log_bytes(&node2.partition);
    assert_eq!(Batches::new(&leader_log).count(), 5);
    node1.partition.apply_state(&state(1, 2, &[1, 2])).expect("node 1 leads again");
    assert_eq!(log_bytes(&node1.partition), leader_log, "the replicas' logs are identical, byte for byte");
}

/// Every batch of the partition's log, read 1 MiB at a time (it must lead to be read).
fn whole_log(partition: &Partition) -> Vec<u8> {
    let (mut bytes, mut offset) = (Vec::new(), 0);
    loop {
        let read = partition.read(offset, 1 << 20, Isolation::ReadUncommitted).expect("read").records;
        let Some(last) = Batches::new(&read).filter_map(Result::ok).last() else { return bytes };
        let header = fjord_log_core::storage::BatchHeader::parse(last.1).expect("header");
        offset = (header.base_offset + i64::from(header.last_offset_delta) + 1) as u64;
        bytes.extend_from_slice(&read);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_catches_up_in_large_answers_then_keeps_up_in_small_ones() {
    let (dir1, dir2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let initial = state(1, 0, &[1, 2]);
    let node1 = Node::open(1, dir1.path(), &initial);
    let node2 = Node::open(2, dir2.path(), &initial);
    let server1 = serve(&node1).await;
    node2.set_endpoint(1, server1.addr.to_string());

    // 6 MiB before the follower starts: answers of 1 MiB or more, applied on the blocking
    // pool; then records one at a time, answered and applied in place.
    let big = "x".repeat(96 << 10);
    for _ in 0..64 {
        append(&node1, &big, false).await;
    }
    let follower = fetcher(&node2, 2, Duration::from_millis(500));
    eventually("the follower catches up", GENEROUS, || node2.log_end() == 64).await;
    for i in 0..50 {
        append(&node1, &format!("small-{i}"), true).await;
    }
    eventually("the follower keeps up", GENEROUS, || node2.log_end() == 114).await;
    eventually("the high watermarks reach the log end", GENEROUS, || node1.partition.high_watermark() == 114 && node2.partition.high_watermark() == 114).await;
    follower.shutdown().await;
    server1.stop().await;

    let leader_log = whole_log(&node1.partition);
    assert!(leader_log.len() > 6 << 20, "the whole log is read: {} bytes", leader_log.len());
    node1.partition.apply_state(&state(2, 1, &[1, 2])).expect("node 1 follows");
    node2.partition.apply_state(&state(2, 1, &[1, 2])).expect("node 2 leads");
    assert_eq!(whole_log(&node2.partition), leader_log, "the replicas' logs are identical, byte for byte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_refused_for_a_stale_leader_epoch_resumes_once_the_follower_learns_the_new_one() {
    let (dir1, dir2) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let node1 = Node::open(1, dir1.path(), &state(1, 1, &[1, 2]));
    let node2 = Node::open(2, dir2.path(), &state(1, 0, &[1, 2]));
    append(&node1, "x", false).await;
    let server = serve(&node1).await;
    node2.set_endpoint(1, server.addr.to_string());
    // Refused partitions would wait an hour: only the new epoch can release this one.
    let config = ReplicaFetcherConfig { backoff: Duration::from_secs(3600), rescan_interval: Duration::from_millis(50), ..ReplicaFetcherConfig::new(2) };
    let follower = ReplicaFetcherManager::start(Arc::clone(&node2) as Arc<dyn FollowerSource>, config);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node2.log_end(), 0, "FENCED_LEADER_EPOCH: nothing copied in epoch 0");
    node2.partition.apply_state(&state(1, 1, &[1, 2])).expect("the follower learns epoch 1");
    eventually("the follower copies the record in epoch 1", Duration::from_secs(10), || node2.log_end() == 1).await;
    // The leader stops while the follower's stream is open (and long-polling).
    server.stop().await;
    follower.shutdown().await;
}

fn fetch_partition(topic: &str, partition: i32, current_leader_epoch: i32, fetch_offset: i64) -> ReplicaFetchPartition {
    ReplicaFetchPartition {
        topic_id: Bytes::copy_from_slice(TOPIC_ID.as_bytes()),
        topic: topic.to_string(),
        partition,
        current_leader_epoch,
        fetch_offset,
        last_fetched_epoch: -1,
        high_watermark: 0,
    }
}

fn request(max_wait_ms: i32, partitions: Vec<ReplicaFetchPartition>) -> ReplicaFetchRequest {
    ReplicaFetchRequest { replica_id: 2, max_wait_ms, min_bytes: 1, max_bytes: 1 << 20, partition_max_bytes: 1 << 20, partitions }
}

/// One request on a fresh stream to `addr`.
async fn exchange(addr: SocketAddr, request: ReplicaFetchRequest) -> ReplicaFetchResponse {
    let mut client = ReplicaServiceClient::connect(format!("http://{addr}")).await.expect("connect");
    let (requests, outbound) = mpsc::channel(1);
    requests.send(request).await.expect("send");
    let mut answers = client.fetch(ReceiverStream::new(outbound)).await.expect("stream").into_inner();
    let answer = tokio::time::timeout(GENEROUS, answers.message()).await.expect("answered in time");
    answer.expect("no error").expect("an answer")
}

fn codes(response: &ReplicaFetchResponse) -> Vec<Option<ResponseError>> {
    response.partitions.iter().map(|p| ResponseError::try_from_code(i16::try_from(p.error_code).expect("a Kafka code"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fetches_are_answered_with_kafka_error_codes_and_an_idle_fetch_waits_at_most_max_wait() {
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::open(1, dir.path(), &state(1, 3, &[1, 2]));
    append(&node, "x", false).await;
    let server = serve(&node).await;

    let mut other_topic = fetch_partition("t", 0, 3, 0);
    other_topic.topic_id = Bytes::copy_from_slice(Uuid::from_u128(1).as_bytes());
    let mut not_a_replica = request(0, vec![fetch_partition("t", 0, 3, 0)]);
    not_a_replica.replica_id = 7;
    let response = exchange(
        server.addr,
        request(
            10_000,
            vec![
                fetch_partition("missing", 0, 3, 0),
                fetch_partition("t", -1, 3, 0),
                fetch_partition("t", 0, 2, 0),
                fetch_partition("t", 0, 4, 0),
                fetch_partition("t", 0, 3, -5),
                fetch_partition("t", 0, 3, 7),
                other_topic,
                fetch_partition("t", 0, 3, 0),
            ],
        ),
    )
    .await;
    assert_eq!(
        codes(&response),
        [
            Some(ResponseError::UnknownTopicOrPartition),
            Some(ResponseError::UnknownTopicOrPartition),
            Some(ResponseError::FencedLeaderEpoch),
            Some(ResponseError::UnknownLeaderEpoch),
            Some(ResponseError::OffsetOutOfRange),
            Some(ResponseError::OffsetOutOfRange),
            Some(ResponseError::InconsistentTopicId),
            None,
        ]
    );
    assert_eq!((response.partitions[5].log_start_offset, response.partitions[5].log_end_offset), (0, 1), "the leader's bounds");
    assert!(!response.partitions[7].records.is_empty(), "the good partition is served beside the bad ones");
    let refused = exchange(server.addr, not_a_replica).await;
    assert_eq!(codes(&refused), [Some(ResponseError::NotLeaderOrFollower)]);

    // Caught up, with the leader's high watermark, and nothing arrives: answered empty after
    // about max_wait, not before.
    let mut caught_up = fetch_partition("t", 0, 3, 1);
    caught_up.high_watermark = 1;
    let asked = Instant::now();
    let idle = exchange(server.addr, request(300, vec![caught_up])).await;
    let waited = asked.elapsed();
    assert_eq!(codes(&idle), [None]);
    assert!(idle.partitions[0].records.is_empty());
    assert!(waited >= Duration::from_millis(250), "waited {waited:?}");
    server.stop().await;
}
