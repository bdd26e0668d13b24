//! [`ReplicaFetchService`]: the leader's side of replica fetch.
//!
//! Each stream a follower opens gets its own task, which answers one request at a time. A
//! request is served partition by partition with [`Partition::serve_follower_fetch`] (which
//! counts the follower's progress: the high watermark may move), within the request's byte
//! limits: on the stream's task while the follower is at the log end (its reads are of
//! records just written), on the blocking pool while it catches up. When nothing is to be
//! sent — no records, no error, no divergence — and the follower allows a wait, the task
//! long-polls every partition's high watermark and log end until one changes or
//! `max_wait_ms` passes, serving again after each change. A high watermark ahead of the one
//! the follower sent is sent too, after waiting a few milliseconds for records to carry it.
//! Waiting holds no thread: other streams and the runtime go on.
//!
//! Bad input never panics: a partition this broker does not host is answered
//! UNKNOWN_TOPIC_OR_PARTITION, another incarnation of its topic INCONSISTENT_TOPIC_ID, a
//! negative fetch offset OFFSET_OUT_OF_RANGE, and the partition's own refusals carry theirs
//! (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, KAFKA_STORAGE_ERROR).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use super::pb::replica_service_server::{ReplicaService, ReplicaServiceServer};
use super::pb::{ReplicaFetchPartition, ReplicaFetchRequest, ReplicaFetchResponse};
use super::{stopped, wire, IN_PLACE_BYTES};
use crate::broker::long_poll::wait_for_any;
use crate::broker::{Partition, PartitionError};
use crate::replication::{FollowerFetch, FollowerFetchOutcome};

/// Longest wait honoured, whatever a follower asks (Kafka's followers ask 500 ms).
const MAX_WAIT_CAP: Duration = Duration::from_secs(30);

/// How long an answer whose only news is a higher high watermark waits for records to carry
/// it (see `ServedStream::answer`).
const HIGH_WATERMARK_NEWS_DELAY: Duration = Duration::from_millis(20);

/// Most record bytes one answer carries, whatever a follower asks (Kafka's default
/// `replica.fetch.response.max.bytes` is 10 MiB).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// What the service needs from the broker: its hosted partitions.
pub trait ReplicaSource: Send + Sync + 'static {
    /// The partition `index` of `topic` when this broker hosts it (leading or not).
    fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>>;

    /// The id of `topic` in this broker's metadata, to refuse fetches for another
    /// incarnation of a topic of the same name. `None` (the default): not checked.
    fn topic_id(&self, topic: &str) -> Option<Uuid> {
        let _ = topic;
        None
    }
}

/// The replica-fetch gRPC service. Mount [`ReplicaFetchService::into_server`] on the broker's
/// gRPC listener.
#[derive(Clone)]
pub struct ReplicaFetchService {
    source: Arc<dyn ReplicaSource>,
    shutdown: watch::Receiver<bool>,
}

impl fmt::Debug for ReplicaFetchService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaFetchService").finish_non_exhaustive()
    }
}

impl ReplicaFetchService {
    /// Serves the partitions of `source`. When `shutdown` turns true (or its sender is
    /// dropped) every stream ends — waits included — so a graceful server shutdown is not
    /// held up by followers' streams, which never end on their own.
    pub fn new(source: Arc<dyn ReplicaSource>, shutdown: watch::Receiver<bool>) -> Self {
        Self { source, shutdown }
    }

    /// The service, ready for `tonic::transport::Server::add_service`.
    pub fn into_server(self) -> ReplicaServiceServer<Self> {
        ReplicaServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ReplicaService for ReplicaFetchService {
    type FetchStream = ReceiverStream<Result<ReplicaFetchResponse, Status>>;

    async fn fetch(&self, request: Request<Streaming<ReplicaFetchRequest>>) -> Result<Response<Self::FetchStream>, Status> {
        let peer = request.remote_addr();
        let (answers, stream) = mpsc::channel(1);
        let served = ServedStream { source: Arc::clone(&self.source), requests: request.into_inner(), answers, shutdown: self.shutdown.clone(), at_log_end: false };
        tokio::spawn(async move {
            served.run().await;
            tracing::debug!(?peer, "replica fetch stream ended");
        });
        Ok(Response::new(ReceiverStream::new(stream)))
    }
}

/// One follower's stream.
struct ServedStream {
    source: Arc<dyn ReplicaSource>,
    requests: Streaming<ReplicaFetchRequest>,
    answers: mpsc::Sender<Result<ReplicaFetchResponse, Status>>,
    shutdown: watch::Receiver<bool>,
    /// The follower is at the log end: its last answer carried at most [`IN_PLACE_BYTES`],
    /// so its next reads are of records just written, in the page cache.
    at_log_end: bool,
}

impl ServedStream {
    /// Answers requests until the follower goes away or the broker shuts down.
    async fn run(mut self) {
        loop {
            let request = tokio::select! {
                request = self.requests.message() => request,
                () = stopped(&mut self.shutdown) => return,
            };
            let request = match request {
                Ok(Some(request)) => request,
                Ok(None) => return,
                Err(status) => {
                    tracing::debug!(%status, "a replica fetch stream failed");
                    return;
                }
            };
            let Some(answer) = self.answer(request).await else { return };
            if self.answers.send(Ok(answer)).await.is_err() {
                return;
            }
        }
    }

    /// Serves `request`, long-polling while there is nothing to send. `None`: the follower
    /// went away or the broker is shutting down.
    ///
    /// A high watermark ahead of the follower's is news worth an answer, but not at once:
    /// the answer waits up to [`HIGH_WATERMARK_NEWS_DELAY`] for records to go with it, so that
    /// under load the high watermark rides along with the next records (as in Kafka, whose
    /// followers learn it only then) instead of costing a round of its own after every
    /// append, while an idle follower still learns it within milliseconds.
    async fn answer(&mut self, request: ReplicaFetchRequest) -> Option<ReplicaFetchResponse> {
        let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0)).min(MAX_WAIT_CAP);
        let mut deadline = Instant::now() + wait;
        let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
        let plan = Arc::new(FetchPlan::resolve(self.source.as_ref(), request));
        let mut news = false;
        loop {
            // Subscribed before the pass, so a change between the pass and the wait is seen.
            // With news held back, only new records matter until the deadline.
            let watchers = plan.watchers(!news);
            let pass = plan.serve(self.at_log_end).await;
            if pass.complete || pass.bytes >= min_bytes || watchers.is_empty() || Instant::now() >= deadline {
                self.at_log_end = !pass.complete && pass.bytes <= IN_PLACE_BYTES;
                return Some(pass.answer);
            }
            if pass.news && !news {
                news = true;
                deadline = deadline.min(Instant::now() + HIGH_WATERMARK_NEWS_DELAY);
            }
            let changed = tokio::select! {
                changed = wait_for_any(watchers, deadline) => changed,
                () = stopped(&mut self.shutdown) => return None,
                () = self.answers.closed() => return None,
            };
            if !changed {
                // Nothing changed: the pass still holds.
                return Some(pass.answer);
            }
        }
    }
}

/// One requested partition, resolved against the broker.
struct Requested {
    wire: ReplicaFetchPartition,
    target: Result<(Arc<Partition>, FollowerFetch), PartitionError>,
}

/// A request, resolved once and served one or more times.
struct FetchPlan {
    partitions: Vec<Requested>,
    max_bytes: usize,
    partition_max_bytes: usize,
}

/// What one serving of a plan produced.
struct Pass {
    answer: ReplicaFetchResponse,
    /// Record bytes in the answer.
    bytes: usize,
    /// The answer must go at once: an error, a divergence, an offset out of range.
    complete: bool,
    /// A high watermark in the answer is ahead of the follower's.
    news: bool,
}

impl FetchPlan {
    fn resolve(source: &dyn ReplicaSource, request: ReplicaFetchRequest) -> Self {
        let limit = |bytes: i32| usize::try_from(bytes).unwrap_or(0).min(MAX_RESPONSE_BYTES);
        let replica = request.replica_id;
        let partitions = request
            .partitions
            .into_iter()
            .map(|wire| {
                let target = resolve_partition(source, replica, &wire);
                Requested { wire, target }
            })
            .collect();
        Self { partitions, max_bytes: limit(request.max_bytes), partition_max_bytes: limit(request.partition_max_bytes) }
    }

    /// A receiver for every partition's log end and, with `high_watermarks`, its high
    /// watermark.
    fn watchers(&self, high_watermarks: bool) -> Vec<watch::Receiver<u64>> {
        let partitions = self.partitions.iter().filter_map(|p| p.target.as_ref().ok());
        partitions.flat_map(|(partition, _)| std::iter::once(partition.subscribe_log_end()).chain(high_watermarks.then(|| partition.subscribe()))).collect()
    }

    /// Serves every partition: for a follower at the log end in place, on this task (reading
    /// records just written costs less than the two thread hand-offs of the blocking pool),
    /// otherwise on the blocking pool (a follower catching up may read from disk).
    async fn serve(self: &Arc<Self>, at_log_end: bool) -> Pass {
        if at_log_end {
            return self.serve_here();
        }
        let plan = Arc::clone(self);
        match tokio::task::spawn_blocking(move || plan.serve_here()).await {
            Ok(pass) => pass,
            Err(e) => {
                tracing::error!(error = %e, "a replica fetch task did not finish");
                let partitions = self.partitions.iter().map(|p| wire::error_answer(&p.wire, ResponseError::KafkaStorageError)).collect();
                Pass { answer: ReplicaFetchResponse { partitions }, bytes: 0, complete: true, news: false }
            }
        }
    }

    /// Serves every partition within the byte limits: the first with records may exceed the
    /// response's limit by one batch, later ones never do. Every fetch is served (so every
    /// follower position counts) even when its records are then left out. Blocks for reads.
    fn serve_here(&self) -> Pass {
        let mut budget = self.max_bytes;
        let (mut bytes, mut complete, mut news) = (0, false, false);
        let mut partitions = Vec::with_capacity(self.partitions.len());
        for requested in &self.partitions {
            let served = requested.target.as_ref().map_err(Clone::clone).and_then(|(partition, fetch)| {
                let limit = self.partition_max_bytes.min(budget);
                let mut served = partition.serve_follower_fetch(*fetch, limit.max(1))?;
                if bytes > 0 && served.records.len() > limit {
                    served.records = Bytes::new();
                }
                Ok((served, partition.high_watermark()))
            });
            partitions.push(match served {
                Ok((served, high_watermark)) => {
                    complete |= !matches!(served.outcome, FollowerFetchOutcome::Read { .. });
                    bytes += served.records.len();
                    budget = budget.saturating_sub(served.records.len());
                    let answer = wire::served_answer(&requested.wire, served, high_watermark);
                    news |= answer.high_watermark > requested.wire.high_watermark;
                    answer
                }
                Err(e) => {
                    complete = true;
                    tracing::debug!(topic = %requested.wire.topic, partition = requested.wire.partition, error = %e, "replica fetch refused");
                    wire::error_answer(&requested.wire, e.code)
                }
            });
        }
        Pass { answer: ReplicaFetchResponse { partitions }, bytes, complete, news }
    }
}

/// The partition a request names and the follower's fetch of it, or the error answered.
fn resolve_partition(source: &dyn ReplicaSource, replica: i32, wire: &ReplicaFetchPartition) -> Result<(Arc<Partition>, FollowerFetch), PartitionError> {
    let unknown = || PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("this broker does not host {}-{}", wire.topic, wire.partition));
    let requested_id = wire::requested_topic_id(wire)?;
    let partition = source.partition(&wire.topic, wire.partition).ok_or_else(unknown)?;
    if let (Some(requested), Some(ours)) = (requested_id, source.topic_id(&wire.topic))
        && requested != ours
    {
        return Err(PartitionError::new(ResponseError::InconsistentTopicId, format!("topic {} has id {ours}, not {requested}", wire.topic)));
    }
    Ok((partition, wire::follower_fetch(replica, wire)?))
}
