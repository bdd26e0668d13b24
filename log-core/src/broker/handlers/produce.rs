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

impl Broker {
    pub(super) async fn produce(&self, request: ProduceRequest, _version: i16) -> Produced {
        let acks = request.acks;
        // Every partition is appended first; the fsyncs acks=all needs run after, together,
        // off the async runtime, and a partition whose fsync fails is answered with its error.
        let mut appends = Vec::new();
        let mut syncs = Vec::new();
        for topic in request.topic_data {
            let name = topic.name.to_string();
            for data in topic.partition_data {
                let result = if !matches!(acks, -1..=1) {
                    Err(PartitionError::new(ResponseError::InvalidRequiredAcks, format!("acks must be -1 (all), 0 or 1, got {acks}")))
                } else {
                    self.produce_partition(&name, data.index, data.records.as_deref(), acks == -1)
                };
                let result = result.map(|(appended, sync)| {
                    if let Some(sync) = sync {
                        syncs.push((appends.len(), sync));
                    }
                    appended
                });
                appends.push((name.clone(), data.index, result));
            }
        }
        if !syncs.is_empty() {
            let waiting: Vec<usize> = syncs.iter().map(|(at, _)| *at).collect();
            let outcomes = tokio::task::spawn_blocking(move || {
                syncs.into_iter().map(|(at, (partition, pending))| (at, partition.sync(pending))).collect::<Vec<_>>()
            })
            .await
            // The fsync task did not finish (it panicked, or the runtime is shutting down):
            // nothing it covered may be acknowledged as durable.
            .unwrap_or_else(|e| {
                let failed = || PartitionError::new(ResponseError::KafkaStorageError, format!("fsync did not complete: {e}"));
                waiting.iter().map(|&at| (at, Err(failed()))).collect()
            });
            for (at, outcome) in outcomes {
                if let (Err(e), Some(append)) = (outcome, appends.get_mut(at)) {
                    tracing::error!(topic = %append.0, partition = append.1, error = %e, "acks=all fsync failed");
                    append.2 = Err(e);
                }
            }
        }

        let mut responses: Vec<TopicProduceResponse> = Vec::new();
        for (name, index, result) in appends {
            let response = PartitionProduceResponse::default().with_index(index);
            let response = match result {
                Ok(appended) => response
                    .with_base_offset(appended.base_offset as i64)
                    .with_log_append_time_ms(appended.log_append_time)
                    .with_log_start_offset(appended.log_start_offset as i64),
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

    /// Appends one partition's records; with acks=all on a durable broker, also what must be
    /// fsynced before the answer.
    fn produce_partition(
        &self,
        topic: &str,
        index: i32,
        records: Option<&[u8]>,
        acks_all: bool,
    ) -> Result<(Appended, Option<DeferredSync>), PartitionError> {
        let partition = self
            .partition(topic, index)
            .ok_or_else(|| PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("{topic}-{index} is not hosted by this broker")))?;
        let records = records.filter(|r| !r.is_empty()).ok_or_else(|| PartitionError::new(ResponseError::InvalidRecord, "no records"))?;
        let mut owned = records.to_vec();
        let durable = acks_all && self.config.flush_on_acks_all;
        let (appended, pending) = partition.append_deferred(&mut owned, acks_all, durable)?;
        if appended.records > 0 {
            let label = TopicLabel { topic: topic.to_string() };
            self.metrics.records_in.get_or_create(&label).inc_by(appended.records);
            self.metrics.record_bytes_in.get_or_create(&label).inc_by(appended.bytes as u64);
        }
        Ok((appended, pending.map(|p| (partition, p))))
    }
}
