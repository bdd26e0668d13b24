//! Fetch: whole batches from each requested partition, within the per-partition and
//! per-response byte limits, long-polling up to `max_wait_ms` until `min_bytes` are there.
//!
//! Sessions (KIP-227) are not kept: every response carries session id 0, which tells clients
//! to send full fetch requests — the protocol's sessionless mode.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;

use super::topic_name;
use crate::broker::metrics::TopicLabel;
use crate::broker::{Broker, Isolation, PartitionError};

/// Longest wait honoured, whatever the client asks (Kafka clients use ≤ 500 ms by default).
const MAX_WAIT_CAP: Duration = Duration::from_secs(30);

impl Broker {
    pub(super) async fn fetch(&self, request: FetchRequest, _version: i16) -> FetchResponse {
        let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP);
        let deadline = Instant::now() + wait;
        let isolation = if request.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
        loop {
            let (responses, bytes, errors, watchers) = self.fetch_once(&request, isolation);
            if bytes >= request.min_bytes.max(0) as usize || errors || Instant::now() >= deadline || watchers.is_empty() {
                self.count_fetched(&responses);
                return FetchResponse::default().with_session_id(0).with_responses(responses);
            }
            wait_for_any(watchers, deadline).await;
        }
    }

    /// One pass over the requested partitions. Subscribes to each partition's high watermark
    /// before reading it, so an append between the read and the wait is never missed.
    fn fetch_once(&self, request: &FetchRequest, isolation: Isolation) -> (Vec<FetchableTopicResponse>, usize, bool, Vec<watch::Receiver<u64>>) {
        // fetch.max.bytes bounds every response, whatever the request asks for (v3+ clients
        // send their own fetch.max.bytes; v0-2 have none and ask per partition only).
        let mut budget = (request.max_bytes.max(0) as usize).min(self.config.fetch_max_bytes);
        let mut total = 0usize;
        let mut errors = false;
        let mut watchers = Vec::new();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in &request.topics {
            let name = topic.topic.to_string();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in &topic.partitions {
                let response = PartitionData::default()
                    .with_partition_index(p.partition)
                    .with_aborted_transactions(if isolation == Isolation::ReadCommitted { Some(Vec::new()) } else { None });
                let Some(partition) = self.partition(&name, p.partition) else {
                    errors = true;
                    partitions.push(response.with_error_code(ResponseError::UnknownTopicOrPartition.code()).with_high_watermark(-1).with_records(Some(Bytes::new())));
                    continue;
                };
                watchers.push(partition.subscribe());
                let result = check_epoch(p.current_leader_epoch, partition.leader_epoch()).and_then(|()| {
                    let offset = u64::try_from(p.fetch_offset).map_err(|_| PartitionError::new(ResponseError::OffsetOutOfRange, format!("negative fetch offset {}", p.fetch_offset)))?;
                    let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                    if total > 0 && limit == 0 {
                        // Response full: only the first partition may exceed the limit.
                        return partition.read(offset, 0, isolation).map(|mut f| {
                            f.records = Bytes::new();
                            f
                        });
                    }
                    let mut fetched = partition.read(offset, limit.max(1), isolation)?;
                    if total > 0 && fetched.records.len() > limit {
                        fetched.records = Bytes::new();
                    }
                    Ok(fetched)
                });
                partitions.push(match result {
                    Ok(fetched) => {
                        total += fetched.records.len();
                        budget = budget.saturating_sub(fetched.records.len());
                        response
                            .with_high_watermark(fetched.high_watermark as i64)
                            .with_last_stable_offset(fetched.last_stable_offset as i64)
                            .with_log_start_offset(fetched.log_start_offset as i64)
                            .with_records(Some(fetched.records))
                    }
                    Err(e) => {
                        errors = true;
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
            topics.push(FetchableTopicResponse::default().with_topic(topic_name(&name)).with_partitions(partitions));
        }
        (topics, total, errors, watchers)
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

/// Waits until any watched high watermark changes, or the deadline.
async fn wait_for_any(mut watchers: Vec<watch::Receiver<u64>>, deadline: Instant) {
    type Change<'a> = Pin<Box<dyn Future<Output = Result<(), watch::error::RecvError>> + Send + 'a>>;
    let mut changes: Vec<Change<'_>> = watchers.iter_mut().map(|w| Box::pin(w.changed()) as Change<'_>).collect();
    let any = std::future::poll_fn(|cx| {
        for change in changes.iter_mut() {
            if change.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    });
    let _ = tokio::time::timeout_at(deadline, any).await;
}
