//! Produce: validate and append each partition's batches, answer per partition.

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use std::sync::Arc;

use super::{str_bytes, topic_name};
use crate::broker::metrics::TopicLabel;
use crate::broker::{Appended, Broker, Partition, PartitionError};
use crate::storage::PendingSync;

/// An fsync a partition still owes an acks=all produce.
type DeferredSync = (Arc<Partition>, PendingSync);

/// What a produce request gets.
#[derive(Debug)]
pub(super) enum Produced {
    /// The response (acks 1 and all).
    Respond(ProduceResponse),
    /// Nothing: acks=0 and every partition appended.
    Silent,
    /// acks=0 and some partition failed: Kafka closes the connection, the only way an acks=0
    /// producer learns that it should refresh its metadata.
    SilentFailure(String),
}

/// One partition's part of a request, resolved on the runtime and appended off it.
struct PartitionWrite {
    topic: String,
    index: i32,
    target: Result<(Arc<Partition>, Vec<u8>), PartitionError>,
}

/// What appending one partition's part gave, and the partition.
type WriteOutcome = (String, i32, Result<(Arc<Partition>, Appended), PartitionError>);

impl Broker {
    /// A Produce request from inside the broker (a transform's outputs), through the same
    /// validation and appends as a client's; acks 1 or all.
    pub(crate) async fn produce_in_process(&self, request: ProduceRequest) -> Result<ProduceResponse, String> {
        match self.produce(request, 9).await {
            Produced::Respond(response) => Ok(response),
            Produced::Silent => Err("acks=0 has no answer; use acks 1 or all".to_string()),
            Produced::SilentFailure(reason) => Err(reason),
        }
    }

    pub(super) async fn produce(&self, request: ProduceRequest, _version: i16) -> Produced {
        let acks = request.acks;
        let acks_all = acks == -1;
        let durable = acks_all && self.config.flush_on_acks_all;
        let mut writes = Vec::new();
        for topic in request.topic_data {
            let name = topic.name.to_string();
            for data in topic.partition_data {
                let target = if !matches!(acks, -1..=1) {
                    Err(PartitionError::new(ResponseError::InvalidRequiredAcks, format!("acks must be -1 (all), 0 or 1, got {acks}")))
                } else {
                    self.partition_for_produce(&name, data.index, data.records.as_deref())
                };
                writes.push(PartitionWrite { topic: name.clone(), index: data.index, target });
            }
        }
        // Validation, the appends' writes and the fsyncs acks=all needs all touch the disk or
        // burn CPU per record: they run on the blocking pool, never on the async workers.
        let outcomes = match tokio::task::spawn_blocking(move || append_all(writes, acks_all, durable)).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::error!(error = %e, "the produce task did not finish; answering KAFKA_STORAGE_ERROR");
                return Produced::SilentFailure(format!("produce task failed: {e}"));
            }
        };
        let outcomes = if acks_all { wait_for_replication(outcomes, request.timeout_ms).await } else { outcomes };

        let mut responses: Vec<TopicProduceResponse> = Vec::new();
        for (name, index, result) in outcomes {
            let response = PartitionProduceResponse::default().with_index(index);
            let response = match result {
                Ok((_, appended)) => {
                    if appended.records > 0 {
                        let label = TopicLabel { topic: name.clone() };
                        self.metrics.records_in.get_or_create(&label).inc_by(appended.records);
                        self.metrics.record_bytes_in.get_or_create(&label).inc_by(appended.bytes as u64);
                    }
                    response
                        .with_base_offset(appended.base_offset as i64)
                        .with_log_append_time_ms(appended.log_append_time)
                        .with_log_start_offset(appended.log_start_offset as i64)
                }
                Err(e) => {
                    if e.code != ResponseError::UnknownTopicOrPartition {
                        tracing::debug!(topic = %name, partition = index, error = %e, "produce refused");
                    }
                    response.with_error_code(e.code.code()).with_base_offset(-1).with_error_message(Some(str_bytes(e.message)))
                }
            };
            match responses.last_mut() {
                Some(topic) if topic.name.as_str() == name => topic.partition_responses.push(response),
                _ => responses.push(TopicProduceResponse::default().with_name(topic_name(&name)).with_partition_responses(vec![response])),
            }
        }
        if acks != 0 {
            return Produced::Respond(ProduceResponse::default().with_responses(responses));
        }
        let failed = responses.iter().flat_map(|t| t.partition_responses.iter().map(move |p| (t, p))).find(|(_, p)| p.error_code != 0);
        match failed {
            Some((topic, p)) => Produced::SilentFailure(format!(
                "an acks=0 produce to {}-{} failed with error code {} ({})",
                topic.name.as_str(),
                p.index,
                p.error_code,
                p.error_message.as_ref().map_or("", |m| m.as_str())
            )),
            None => Produced::Silent,
        }
    }

    /// The partition a produce names, with its records copied out of the request (the
    /// append stamps offsets into them).
    fn partition_for_produce(&self, topic: &str, index: i32, records: Option<&[u8]>) -> Result<(Arc<Partition>, Vec<u8>), PartitionError> {
        if topic == crate::broker::OFFSETS_TOPIC {
            // The group coordinator's own log: clients may read it, never write it (as Kafka).
            return Err(PartitionError::new(ResponseError::InvalidTopicException, format!("cannot append to the internal topic {topic}")));
        }
        let partition = self
            .partition(topic, index)
            .ok_or_else(|| PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("{topic}-{index} is not hosted by this broker")))?;
        let records = records.filter(|r| !r.is_empty()).ok_or_else(|| PartitionError::new(ResponseError::InvalidRecord, "no records"))?;
        Ok((partition, records.to_vec()))
    }
}

/// Appends every partition's records; then, for acks=all on a durable broker, runs the fsyncs
/// that partitions with a single replica owe (replicated ones are durable once their in-sync
/// replicas hold the records) together (each partition's covers all its appends so far: group commit). A
/// partition whose fsync fails is answered with its error.
fn append_all(writes: Vec<PartitionWrite>, acks_all: bool, durable: bool) -> Vec<WriteOutcome> {
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut syncs: Vec<(usize, DeferredSync)> = Vec::new();
    for PartitionWrite { topic, index, target } in writes {
        let result = target.and_then(|(partition, mut records)| {
            let durable = durable && partition.is_sole_replica();
            let (appended, pending) = partition.append_deferred(&mut records, acks_all, durable)?;
            if let Some(pending) = pending {
                syncs.push((outcomes.len(), (Arc::clone(&partition), pending)));
            }
            Ok((partition, appended))
        });
        outcomes.push((topic, index, result));
    }
    for (at, (partition, pending)) in syncs {
        if let Err(e) = partition.sync(pending)
            && let Some(outcome) = outcomes.get_mut(at)
        {
            tracing::error!(topic = %outcome.0, partition = outcome.1, error = %e, "acks=all fsync failed");
            outcome.2 = Err(e);
        }
    }
    outcomes
}

/// acks=all: waits until every appended partition's in-sync replicas hold the records, at
/// most `timeout_ms` in all (see [`Partition::wait_acknowledged`]).
async fn wait_for_replication(mut outcomes: Vec<WriteOutcome>, timeout_ms: i32) -> Vec<WriteOutcome> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms.max(0) as u64);
    for outcome in &mut outcomes {
        let Ok((partition, appended)) = &outcome.2 else { continue };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Err(e) = Arc::clone(partition).wait_acknowledged(appended.end_offset, left).await {
            outcome.2 = Err(e);
        }
    }
    outcomes
}
