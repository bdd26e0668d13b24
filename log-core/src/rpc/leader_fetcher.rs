//! [`LeaderFetcher`]: the task that copies every partition this broker follows on one
//! leader broker.
//!
//! Each round (on the blocking pool unless the answer is a small append, see
//! `LeaderFetcher::step`) it applies the previous answer partition by partition with
//! [`Partition::apply_follower_answer`] and builds the next request from
//! [`Partition::next_follower_fetch`] of each partition still led by that broker; then it
//! sends the request on its [`LeaderStream`] and waits for the answer. The partitions are
//! sent in a rotating order so that, when answers are full, none is always last. A partition
//! whose fetch failed (the leader refused it, or applying the answer did) is left out for
//! `backoff`, or until its leader epoch changes; a stream that fails is reopened after a
//! backoff that doubles up to `backoff`. With no partition left on its leader the fetcher
//! ends.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::{Duration, Instant};

use super::leader_stream::{LeaderStream, StreamError};
use super::pb::{ReplicaFetchRequest, ReplicaFetchResponse};
use super::replica_fetcher::{FollowerSource, ReplicaFetcherConfig};
use super::{is_stopping, stopped, wire, IN_PLACE_BYTES};
use crate::broker::Partition;
use crate::replication::{FetchAnswer, FollowerFetch};

/// A partition asked for in a request, with the fetch it sent.
type Sent = (Arc<Partition>, FollowerFetch);

/// What to do next.
enum Next {
    /// Send this request.
    Fetch(Round),
    /// Every partition is held back after a failure: look again then (or once its leader
    /// epoch changes).
    WaitUntil(Instant),
    /// No partition is led by this leader any more.
    Done,
}

/// One request and the partitions it asks for, in request order.
struct Round {
    request: ReplicaFetchRequest,
    sent: Vec<Sent>,
}

/// A partition left out after a failed fetch: until `until`, or until its leader epoch is no
/// longer `leader_epoch` (the metadata it waited for has come).
#[derive(Debug, Clone, Copy)]
struct Held {
    until: Instant,
    leader_epoch: i32,
}

/// What the fetcher remembers between rounds; moved to the blocking pool and back.
#[derive(Debug, Default)]
struct Book {
    /// Partitions left out after a failed fetch.
    delayed: HashMap<(String, i32), Held>,
    /// Where the next request's partition order starts.
    rotation: usize,
}

/// One leader's fetcher. See the module docs.
pub(super) struct LeaderFetcher {
    leader: i32,
    source: Arc<dyn FollowerSource>,
    config: Arc<ReplicaFetcherConfig>,
    stop: watch::Receiver<bool>,
    stream: Option<LeaderStream>,
    book: Book,
    reconnect_backoff: Duration,
    /// The last attempt to reach the leader failed (failures after the first log quietly).
    failing: bool,
}

impl LeaderFetcher {
    pub(super) fn new(leader: i32, source: Arc<dyn FollowerSource>, config: Arc<ReplicaFetcherConfig>, stop: watch::Receiver<bool>) -> Self {
        let reconnect_backoff = config.reconnect_backoff;
        Self { leader, source, config, stop, stream: None, book: Book::default(), reconnect_backoff, failing: false }
    }

    /// Fetches until no partition is led by this leader or the manager stops.
    pub(super) async fn run(mut self) {
        let mut answered: Option<(Vec<Sent>, ReplicaFetchResponse)> = None;
        loop {
            let Some(next) = self.step(answered.take()).await else { return };
            let round = match next {
                Next::Fetch(round) => round,
                Next::Done => {
                    tracing::debug!(leader = self.leader, "no partition left on this leader; replica fetcher ends");
                    return;
                }
                Next::WaitUntil(until) => {
                    // Not past the next rescan: a new leader epoch releases a partition.
                    let until = until.min(Instant::now() + self.config.rescan_interval);
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => continue,
                        () = stopped(&mut self.stop) => return,
                    }
                }
            };
            if !self.connect().await {
                if is_stopping(&self.stop) {
                    return;
                }
                continue;
            }
            let timeout = self.config.max_wait + self.config.request_timeout;
            let Some(stream) = self.stream.as_mut() else { continue };
            let exchanged = tokio::select! {
                exchanged = stream.exchange(round.request, timeout) => exchanged,
                () = stopped(&mut self.stop) => return,
            };
            match exchanged {
                Ok(response) => {
                    self.reachable();
                    self.source.answered(self.leader, record_bytes(&response));
                    answered = Some((round.sent, response));
                }
                Err(e) => {
                    self.stream = None;
                    self.unreachable(&e);
                    if self.back_off().await {
                        return;
                    }
                }
            }
        }
    }

    /// Applies the previous answer and plans the next round. `None`: a blocking task failed
    /// (the manager starts another fetcher).
    ///
    /// Both take partition locks, and the answer's writes block. An answer that only appends
    /// at most [`IN_PLACE_BYTES`] (a follower keeping up) is applied on this task: a write to
    /// the page cache costs less than handing the round to the blocking pool and back. Larger
    /// answers, truncations and errors go to the blocking pool.
    async fn step(&mut self, answered: Option<(Vec<Sent>, ReplicaFetchResponse)>) -> Option<Next> {
        if answered.as_ref().is_none_or(|(_, response)| appends_little(response)) {
            let (applied, next) = self.book.step(answered, self.source.as_ref(), self.leader, &self.config);
            self.check(applied);
            return Some(next);
        }
        let mut book = std::mem::take(&mut self.book);
        let (source, config, leader) = (Arc::clone(&self.source), Arc::clone(&self.config), self.leader);
        let stepped = tokio::task::spawn_blocking(move || {
            let (applied, next) = book.step(answered, source.as_ref(), leader, &config);
            (book, applied, next)
        })
        .await;
        match stepped {
            Ok((book, applied, next)) => {
                self.book = book;
                self.check(applied);
                Some(next)
            }
            Err(e) => {
                tracing::error!(leader = self.leader, error = %e, "a replica fetch round failed");
                None
            }
        }
    }

    /// Drops the stream when an answer did not match its request.
    fn check(&mut self, applied: Option<Result<(), String>>) {
        if let Some(Err(mismatch)) = applied {
            tracing::warn!(leader = self.leader, %mismatch, "the leader's answer does not match the request; reconnecting");
            self.stream = None;
        }
    }

    /// Makes sure a stream to the leader's current endpoint is open. `false`: not now (the
    /// backoff has been waited, or the manager is stopping).
    async fn connect(&mut self) -> bool {
        let endpoint = self.source.rpc_endpoint(self.leader);
        if self.stream.as_ref().is_some_and(|s| Some(s.endpoint()) == endpoint.as_deref()) {
            return true;
        }
        self.stream = None;
        let Some(endpoint) = endpoint else {
            self.log_failure(&format!("no gRPC endpoint is known for broker {}", self.leader));
            self.back_off().await;
            return false;
        };
        let (connect, open) = (self.config.connect_timeout, self.config.request_timeout);
        let opened = tokio::select! {
            opened = LeaderStream::open(&endpoint, self.config.local_address, connect, open, self.config.max_response_bytes) => opened,
            () = stopped(&mut self.stop) => return false,
        };
        match opened {
            Ok(stream) => {
                tracing::debug!(leader = self.leader, %endpoint, "replica fetch stream open");
                self.stream = Some(stream);
                true
            }
            Err(e) => {
                if e.is_connection_refused() {
                    self.source.leader_refused(self.leader);
                }
                self.unreachable(&e);
                self.back_off().await;
                false
            }
        }
    }

    fn reachable(&mut self) {
        if self.failing {
            tracing::info!(leader = self.leader, "replica fetching from the leader again");
        }
        self.failing = false;
        self.reconnect_backoff = self.config.reconnect_backoff;
    }

    fn unreachable(&mut self, error: &StreamError) {
        self.log_failure(&error.to_string());
    }

    fn log_failure(&mut self, error: &str) {
        if self.failing {
            tracing::debug!(leader = self.leader, error, "replica fetch still failing");
        } else {
            tracing::warn!(leader = self.leader, error, "replica fetch failed; retrying with backoff");
        }
        self.failing = true;
    }

    /// Waits the reconnect backoff and doubles it. Returns whether the manager is stopping.
    async fn back_off(&mut self) -> bool {
        let wait = self.reconnect_backoff;
        self.reconnect_backoff = (wait * 2).min(self.config.backoff.max(self.config.reconnect_backoff));
        tokio::select! {
            () = tokio::time::sleep(wait) => false,
            () = stopped(&mut self.stop) => true,
        }
    }
}

/// Whether `response` only appends, and at most [`IN_PLACE_BYTES`]: no error, no divergence
/// (which would truncate).
fn appends_little(response: &ReplicaFetchResponse) -> bool {
    let plain = response.partitions.iter().all(|p| p.error_code == 0 && p.diverging_epoch.is_none());
    plain && record_bytes(response) <= IN_PLACE_BYTES
}

/// The record bytes `response` carries, all partitions together.
fn record_bytes(response: &ReplicaFetchResponse) -> usize {
    response.partitions.iter().map(|p| p.records.len()).sum()
}

impl Book {
    /// One round's work: applies the previous answer (when there is one) and plans the next
    /// request. Blocks for the answer's writes and takes partition locks.
    fn step(&mut self, answered: Option<(Vec<Sent>, ReplicaFetchResponse)>, source: &dyn FollowerSource, leader: i32, config: &ReplicaFetcherConfig) -> (Option<Result<(), String>>, Next) {
        let applied = answered.map(|(sent, response)| self.apply(sent, response, config.backoff));
        (applied, self.plan(source, leader, config))
    }

    /// Applies `response`, the answer to a request for `sent`, partition by partition.
    /// Partitions whose answer is an error, or that failed to apply it, wait `backoff`. An
    /// answer that does not match the request is applied nowhere.
    fn apply(&mut self, sent: Vec<Sent>, response: ReplicaFetchResponse, backoff: Duration) -> Result<(), String> {
        let answers = response.partitions;
        if answers.len() != sent.len() {
            return Err(format!("{} answers to {} partitions", answers.len(), sent.len()));
        }
        if let Some((p, a)) = sent.iter().zip(&answers).find(|(p, a)| p.0.topic() != a.topic || p.0.index() != a.partition) {
            return Err(format!("{}-{} answered as {}-{}", p.0.topic(), p.0.index(), a.topic, a.partition));
        }
        let until = Instant::now() + backoff;
        for ((partition, fetch), answer) in sent.into_iter().zip(answers) {
            let (topic, index) = (partition.topic(), partition.index());
            let failed = match wire::fetch_answer(&answer) {
                Ok(fetch_answer) => match partition.apply_follower_answer(fetch, fetch_answer, &answer.records) {
                    Ok(action) => {
                        tracing::trace!(topic, partition = index, ?action, "applied the leader's answer");
                        if fetch_answer == FetchAnswer::NotLeader {
                            tracing::debug!(topic, partition = index, code = answer.error_code, "the leader refused the fetch; waiting for metadata");
                        }
                        fetch_answer == FetchAnswer::NotLeader
                    }
                    Err(e) => {
                        tracing::warn!(topic, partition = index, error = %e, "applying the leader's answer failed");
                        true
                    }
                },
                Err(code) => {
                    tracing::debug!(topic, partition = index, ?code, "the leader answered an error");
                    true
                }
            };
            if failed {
                self.delayed.insert((topic.to_string(), index), Held { until, leader_epoch: fetch.current_leader_epoch });
            }
        }
        Ok(())
    }

    /// The next request to `leader`: every partition followed on it that is not held back.
    fn plan(&mut self, source: &dyn FollowerSource, leader: i32, config: &ReplicaFetcherConfig) -> Next {
        let now = Instant::now();
        self.delayed.retain(|_, held| held.until > now);
        let mut followed: Vec<Sent> = Vec::new();
        let mut held_until: Option<Instant> = None;
        for partition in source.partitions() {
            let Some((followed_leader, fetch)) = partition.next_follower_fetch() else { continue };
            if followed_leader != leader {
                continue;
            }
            match self.delayed.get(&(partition.topic().to_string(), partition.index())) {
                Some(held) if held.leader_epoch == fetch.current_leader_epoch => {
                    held_until = Some(held_until.map_or(held.until, |h| h.min(held.until)));
                }
                _ => followed.push((partition, fetch)),
            }
        }
        if followed.is_empty() {
            return held_until.map_or(Next::Done, Next::WaitUntil);
        }
        followed.sort_by(|(a, _), (b, _)| (a.topic(), a.index()).cmp(&(b.topic(), b.index())));
        let start = self.rotation % followed.len();
        followed.rotate_left(start);
        self.rotation = self.rotation.wrapping_add(1);
        let partitions = followed
            .iter()
            .map(|(p, fetch)| wire::fetch_partition(p.topic(), source.topic_id(p.topic()), p.index(), fetch, p.high_watermark()))
            .collect();
        let request = ReplicaFetchRequest {
            replica_id: config.node_id,
            max_wait_ms: i32::try_from(config.max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: config.min_bytes,
            max_bytes: config.max_bytes,
            partition_max_bytes: config.partition_max_bytes,
            partitions,
        };
        Next::Fetch(Round { request, sent: followed })
    }
}
