//! Fetch: whole batches from each requested partition, within the per-partition and
//! per-response byte limits, long-polling up to `max_wait_ms` until `min_bytes` are there.
//!
//! Sessions (KIP-227) are not kept: every response carries session id 0, which tells clients
//! to send full fetch requests — the protocol's sessionless mode.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::topic_name;
use crate::broker::long_poll::wait_for_any;
use crate::broker::metrics::TopicLabel;
use crate::broker::{Broker, Isolation, Partition, PartitionError};

/// Longest wait honoured, whatever the client asks (Kafka clients use ≤ 500 ms by default).
const MAX_WAIT_CAP: Duration = Duration::from_secs(30);

/// One requested partition, resolved on the runtime; read on the blocking pool.
struct PartitionFetch {
    index: i32,
    partition: Option<Arc<Partition>>,
    fetch_offset: i64,
    current_leader_epoch: i32,
    max_bytes: usize,
}

/// One requested topic: by name (v4–12) or by id (v13+).
struct TopicFetch {
    name: String,
    id: Uuid,
    /// What its partitions answer when it does not exist.
    missing: ResponseError,
    partitions: Vec<PartitionFetch>,
}

/// The requested topics, in request order.
type FetchPlan = Vec<TopicFetch>;

/// What one pass over the plan read.
struct FetchPass {
    topics: Vec<FetchableTopicResponse>,
    bytes: usize,
    errors: bool,
}

impl Broker {
    pub(super) async fn fetch(&self, request: FetchRequest, version: i16) -> FetchResponse {
        let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP);
        let deadline = Instant::now() + wait;
        let isolation = if request.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
        // fetch.max.bytes bounds every response, whatever the request asks for (v3+ clients
        // send their own fetch.max.bytes; v0-2 have none and ask per partition only).
        let budget = (request.max_bytes.max(0) as usize).min(self.config.fetch_max_bytes);
        let min_bytes = request.min_bytes.max(0) as usize;
        let mut plan: Arc<FetchPlan> = Arc::new(self.fetch_plan(&request, version));
        loop {
            // Subscribed before the read, so an append between the read and the wait is seen.
            let watchers: Vec<watch::Receiver<u64>> =
                plan.iter().flat_map(|t| t.partitions.iter().filter_map(|p| p.partition.as_ref().map(|p| p.subscribe()))).collect();
            let pass = if caught_up(&plan) {
                // Every partition is read up to its high watermark: the pass reads no record
                // (each partition answers from its state), so it runs here rather than paying a
                // hop to the blocking pool per long-poll wake-up. Records that arrive meanwhile
                // wake the wait below and are read on the next pass.
                Ok(read_plan(&plan, budget, isolation, Reads::None))
            } else {
                let plan = Arc::clone(&plan);
                // Reads touch the disk: off the async workers.
                tokio::task::spawn_blocking(move || read_plan(&plan, budget, isolation, Reads::Records)).await
            };
            let pass = match pass {
                Ok(pass) => pass,
                Err(e) => {
                    tracing::error!(error = %e, "a fetch task did not finish");
                    FetchPass { topics: unavailable(&plan), bytes: 0, errors: true }
                }
            };
            if pass.bytes >= min_bytes || pass.errors || Instant::now() >= deadline || watchers.is_empty() {
                self.count_fetched(&pass.topics);
                return FetchResponse::default().with_session_id(0).with_responses(pass.topics);
            }
            wait_for_any(watchers, deadline).await;
            // Partitions may have been created or deleted while waiting.
            plan = Arc::new(self.fetch_plan(&request, version));
        }
    }

    /// Resolves the requested partitions: topics by name up to v12, by topic id from v13.
    fn fetch_plan(&self, request: &FetchRequest, version: i16) -> FetchPlan {
        let image = (version >= 13).then(|| self.image());
        request
            .topics
            .iter()
            .map(|topic| {
                let (name, id, missing) = match &image {
                    Some(image) => {
                        let found = image.topics.iter().find(|(_, t)| Uuid::from_bytes(*t.id.as_bytes()) == topic.topic_id);
                        (found.map(|(n, _)| n.clone()).unwrap_or_default(), topic.topic_id, ResponseError::UnknownTopicId)
                    }
                    None => (topic.topic.to_string(), Uuid::nil(), ResponseError::UnknownTopicOrPartition),
                };
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| PartitionFetch {
                        index: p.partition,
                        partition: if name.is_empty() { None } else { self.partition(&name, p.partition) },
                        fetch_offset: p.fetch_offset,
                        current_leader_epoch: p.current_leader_epoch,
                        max_bytes: p.partition_max_bytes.max(0) as usize,
                    })
                    .collect();
                TopicFetch { name, id, missing, partitions }
            })
            .collect()
    }

    fn count_fetched(&self, responses: &[FetchableTopicResponse]) {
        for topic in responses {
            let bytes: usize = topic.partitions.iter().map(|p| p.records.as_ref().map_or(0, Bytes::len)).sum();
            if bytes > 0 {
                self.metrics.record_bytes_out.get_or_create(&TopicLabel { topic: topic.topic.to_string() }).inc_by(bytes as u64);
            }
        }
    }
}

/// Whether a pass reads records or only answers with each partition's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    Records,
    None,
}

/// True when every requested partition exists and is fetched exactly at its high watermark:
/// a pass would read nothing from disk.
fn caught_up(plan: &FetchPlan) -> bool {
    plan.iter().flat_map(|t| &t.partitions).all(|p| p.partition.as_ref().is_some_and(|partition| p.fetch_offset == partition.high_watermark() as i64))
}

/// One pass over the requested partitions, within the per-partition limits and the
/// response's `budget`: the first partition with data may exceed it (one whole batch), later
/// ones never do.
fn read_plan(plan: &FetchPlan, mut budget: usize, isolation: Isolation, reads: Reads) -> FetchPass {
    let mut pass = FetchPass { topics: Vec::with_capacity(plan.len()), bytes: 0, errors: false };
    for topic in plan {
        let mut out = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let response = PartitionData::default()
                .with_partition_index(p.index)
                .with_aborted_transactions(if isolation == Isolation::ReadCommitted { Some(Vec::new()) } else { None });
            let Some(partition) = &p.partition else {
                pass.errors = true;
                out.push(response.with_error_code(topic.missing.code()).with_high_watermark(-1).with_records(Some(Bytes::new())));
                continue;
            };
            let total = pass.bytes;
            let result = check_epoch(p.current_leader_epoch, partition.leader_epoch()).and_then(|()| {
                let offset = u64::try_from(p.fetch_offset)
                    .map_err(|_| PartitionError::new(ResponseError::OffsetOutOfRange, format!("negative fetch offset {}", p.fetch_offset)))?;
                let limit = p.max_bytes.min(budget);
                if (total > 0 && limit == 0) || reads == Reads::None {
                    // Response full (only the first partition may exceed the limit), or a pass
                    // that reads nothing: watermarks only.
                    return partition.peek(offset);
                }
                let mut fetched = partition.read(offset, limit.max(1), isolation)?;
                if total > 0 && fetched.records.len() > limit {
                    fetched.records = Bytes::new();
                }
                Ok(fetched)
            });
            out.push(match result {
                Ok(fetched) => {
                    pass.bytes += fetched.records.len();
                    budget = budget.saturating_sub(fetched.records.len());
                    response
                        .with_high_watermark(fetched.high_watermark as i64)
                        .with_last_stable_offset(fetched.last_stable_offset as i64)
                        .with_log_start_offset(fetched.log_start_offset as i64)
                        .with_records(Some(fetched.records))
                }
                Err(e) => {
                    pass.errors = true;
                    let hw = partition.high_watermark() as i64;
                    let start = partition.log_start_offset().map_or(-1, |o| o as i64);
                    response
                        .with_error_code(e.code.code())
                        .with_high_watermark(hw)
                        .with_last_stable_offset(hw)
                        .with_log_start_offset(start)
                        .with_records(Some(Bytes::new()))
                }
            });
        }
        pass.topics.push(FetchableTopicResponse::default().with_topic(topic_name(&topic.name)).with_topic_id(topic.id).with_partitions(out));
    }
    pass
}

/// Every requested partition answered KAFKA_STORAGE_ERROR (the read task failed).
fn unavailable(plan: &FetchPlan) -> Vec<FetchableTopicResponse> {
    plan.iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p.index)
                        .with_error_code(ResponseError::KafkaStorageError.code())
                        .with_high_watermark(-1)
                        .with_records(Some(Bytes::new()))
                })
                .collect();
            FetchableTopicResponse::default().with_topic(topic_name(&topic.name)).with_topic_id(topic.id).with_partitions(partitions)
        })
        .collect()
}

/// Checks the client's idea of the leader epoch against ours (-1: the client doesn't say).
pub(super) fn check_epoch(client: i32, ours: i32) -> Result<(), PartitionError> {
    if client < 0 || client == ours {
        Ok(())
    } else if client > ours {
        Err(PartitionError::new(ResponseError::UnknownLeaderEpoch, format!("leader epoch {client} is newer than this broker's {ours}")))
    } else {
        Err(PartitionError::new(ResponseError::FencedLeaderEpoch, format!("leader epoch {client} is older than the current {ours}")))
    }
}
