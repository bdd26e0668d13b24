//! [`ReplicaFetcherManager`]: the follower's side of replica fetch — one fetcher task per
//! leader broker, each copying every partition this broker follows on that leader over one
//! stream (see `leader_fetcher`).
//!
//! The manager looks for followed partitions every `rescan_interval` and whenever
//! [`ReplicaFetcherManager::wake`] is called (after a metadata change), and starts a fetcher
//! for each leader that has none. A fetcher re-reads its partitions every round, so a
//! leadership change moves a partition from one fetcher to another within a round; a fetcher
//! left with no partition ends. Nothing here runs on a Kafka client's request path.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::leader_fetcher::LeaderFetcher;
use super::stopped;
use crate::broker::Partition;

/// What the fetchers need from the broker: its partitions and where the leaders listen.
pub trait FollowerSource: Send + Sync + 'static {
    /// The partitions this broker may follow. Fetchers copy those whose
    /// [`Partition::next_follower_fetch`] is `Some`; returning leaders too is harmless.
    fn partitions(&self) -> Vec<Arc<Partition>>;

    /// The gRPC endpoint `host:port` of broker `node_id` (its `BrokerImage::rpc_endpoint`);
    /// `None` while unknown (the fetcher retries after a backoff).
    fn rpc_endpoint(&self, node_id: i32) -> Option<String>;

    /// The id of `topic` in this broker's metadata, sent so that the leader refuses a fetch
    /// for another incarnation of the topic. `None` (the default): not sent.
    fn topic_id(&self, topic: &str) -> Option<Uuid> {
        let _ = topic;
        None
    }

    /// The leader's port refused a connection: its process is gone (a network fault times
    /// out instead). The broker tells the controller, which then fences the leader as soon
    /// as it also misses heartbeats. The default does nothing.
    fn leader_refused(&self, leader: i32) {
        let _ = leader;
    }

    /// An answer from `leader` arrived carrying `record_bytes` bytes of records, for the
    /// broker's fetcher statistics. The default does nothing.
    fn answered(&self, leader: i32, record_bytes: usize) {
        let _ = (leader, record_bytes);
    }
}

/// How followers fetch; the defaults are Kafka's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaFetcherConfig {
    /// This broker's node id (the fetch's replica id).
    pub node_id: i32,
    /// `replica.fetch.wait.max.ms`: how long a leader may hold a fetch with nothing new.
    pub max_wait: Duration,
    /// `replica.fetch.min.bytes`.
    pub min_bytes: i32,
    /// `replica.fetch.response.max.bytes`: record bytes per answer (the first partition may
    /// exceed it by one batch).
    pub max_bytes: i32,
    /// `replica.fetch.max.bytes`: record bytes per partition (at least one batch).
    pub partition_max_bytes: i32,
    /// `replica.fetch.backoff.ms`: how long a partition whose fetch failed waits, and the
    /// longest wait before reconnecting to an unreachable leader.
    pub backoff: Duration,
    /// The first wait before reconnecting; it doubles up to `backoff`.
    pub reconnect_backoff: Duration,
    /// `replica.socket.timeout.ms`: how long an answer may take beyond `max_wait`.
    pub request_timeout: Duration,
    /// How long connecting to a leader may take.
    pub connect_timeout: Duration,
    /// How often the manager looks for leaders without a fetcher (besides `wake`).
    pub rescan_interval: Duration,
    /// The largest answer accepted (records and framing): a stream that receives more fails.
    pub max_response_bytes: usize,
    /// The local address connections to leaders leave from (`None`: the system chooses).
    pub local_address: Option<std::net::IpAddr>,
}

impl ReplicaFetcherConfig {
    /// Kafka's defaults for broker `node_id`.
    pub fn new(node_id: i32) -> Self {
        Self {
            node_id,
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 10 << 20,
            partition_max_bytes: 1 << 20,
            backoff: Duration::from_secs(1),
            reconnect_backoff: Duration::from_millis(50),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            rescan_interval: Duration::from_millis(500),
            max_response_bytes: 128 << 20,
            local_address: None,
        }
    }
}

/// The running fetchers. See the module docs.
pub struct ReplicaFetcherManager {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for ReplicaFetcherManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaFetcherManager").field("stopped", &*self.stop.borrow()).finish_non_exhaustive()
    }
}

impl ReplicaFetcherManager {
    /// Starts fetching for the followed partitions of `source`, on the current tokio
    /// runtime (it panics outside one, as `tokio::spawn` does). The manager holds `source`
    /// until [`shutdown`](Self::shutdown): a broker that owns the manager should hand it a
    /// source holding the broker weakly.
    pub fn start(source: Arc<dyn FollowerSource>, config: ReplicaFetcherConfig) -> Self {
        let wake = Arc::new(Notify::new());
        let (stop, stopping) = watch::channel(false);
        let supervisor = tokio::spawn(supervise(source, Arc::new(config), Arc::clone(&wake), stopping));
        Self { wake, stop, supervisor: Mutex::new(Some(supervisor)) }
    }

    /// Looks for followed partitions now rather than at the next rescan: call it after a
    /// metadata change made this broker follow a partition.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops every fetcher and returns once they have stopped: requests in flight are
    /// dropped, answers being applied are applied first. Later calls return at once.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let supervisor = self.supervisor.lock().map(|mut s| s.take()).unwrap_or_default();
        if let Some(supervisor) = supervisor
            && let Err(e) = supervisor.await
        {
            tracing::error!(error = %e, "the replica fetcher manager failed");
        }
    }
}

/// Starts a fetcher for every followed leader without one, until stopped; then waits for
/// the fetchers to end.
async fn supervise(source: Arc<dyn FollowerSource>, config: Arc<ReplicaFetcherConfig>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut fetchers: HashMap<i32, JoinHandle<()>> = HashMap::new();
    loop {
        reap(&mut fetchers).await;
        let scan = Arc::clone(&source);
        // `next_follower_fetch` takes each partition's lock: off the async workers.
        match tokio::task::spawn_blocking(move || followed_leaders(scan.as_ref())).await {
            Ok(leaders) => {
                for leader in leaders {
                    if fetchers.contains_key(&leader) {
                        continue;
                    }
                    tracing::debug!(leader, "starting a replica fetcher");
                    let fetcher = LeaderFetcher::new(leader, Arc::clone(&source), Arc::clone(&config), stop.clone());
                    fetchers.insert(leader, tokio::spawn(fetcher.run()));
                }
            }
            Err(e) => tracing::error!(error = %e, "looking for followed partitions failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(config.rescan_interval) => {}
            () = wake.notified() => {}
            () = stopped(&mut stop) => break,
        }
    }
    for (leader, fetcher) in fetchers {
        if let Err(e) = fetcher.await {
            tracing::error!(leader, error = %e, "a replica fetcher failed");
        }
    }
}

/// Forgets the fetchers that ended (no partition left on their leader), saying why if one
/// failed.
async fn reap(fetchers: &mut HashMap<i32, JoinHandle<()>>) {
    let ended: Vec<i32> = fetchers.iter().filter(|(_, f)| f.is_finished()).map(|(&leader, _)| leader).collect();
    for leader in ended {
        if let Some(fetcher) = fetchers.remove(&leader)
            && let Err(e) = fetcher.await
        {
            tracing::error!(leader, error = %e, "a replica fetcher failed; starting another");
        }
    }
}

/// The leaders of the partitions this broker follows.
fn followed_leaders(source: &dyn FollowerSource) -> BTreeSet<i32> {
    source.partitions().iter().filter_map(|p| p.next_follower_fetch()).map(|(leader, _)| leader).collect()
}
