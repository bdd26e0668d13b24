//! Produce: validate and append each partition's batches, answer per partition.

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::broker::metrics::TopicLabel;
use crate::broker::{Broker, PartitionError};

impl Broker {
    /// `None` for acks=0: the producer expects no answer.
    pub(super) async fn produce(&self, request: ProduceRequest, _version: i16) -> Option<ProduceResponse> {
        let acks = request.acks;
        let mut responses = Vec::with_capacity(request.topic_data.len());
        for topic in request.topic_data {
            let name = topic.name.to_string();
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for data in topic.partition_data {
                let result = if !matches!(acks, -1..=1) {
                    Err(PartitionError::new(ResponseError::InvalidRequiredAcks, format!("acks must be -1 (all), 0 or 1, got {acks}")))
                } else {
                    self.produce_partition(&name, data.index, data.records.as_deref(), acks == -1)
                };
                let response = PartitionProduceResponse::default().with_index(data.index);
                partitions.push(match result {
                    Ok(appended) => response
                        .with_base_offset(appended.base_offset as i64)
                        .with_log_append_time_ms(appended.log_append_time)
                        .with_log_start_offset(appended.log_start_offset as i64),
                    Err(e) => {
                        if e.code != ResponseError::UnknownTopicOrPartition {
                            tracing::debug!(topic = %name, partition = data.index, error = %e, "produce refused");
                        }
                        response.with_error_code(e.code.code()).with_base_offset(-1).with_error_message(Some(str_bytes(e.message)))
                    }
                });
            }
            responses.push(TopicProduceResponse::default().with_name(topic_name(&name)).with_partition_responses(partitions));
        }
        (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
    }

    fn produce_partition(&self, topic: &str, index: i32, records: Option<&[u8]>, acks_all: bool) -> Result<crate::broker::Appended, PartitionError> {
        let partition = self
            .partition(topic, index)
            .ok_or_else(|| PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("{topic}-{index} is not hosted by this broker")))?;
        let records = records.filter(|r| !r.is_empty()).ok_or_else(|| PartitionError::new(ResponseError::InvalidRecord, "no records"))?;
        let mut owned = records.to_vec();
        let durable = acks_all && self.config.flush_on_acks_all;
        let appended = partition.append_from_client(&mut owned, acks_all, durable)?;
        if appended.records > 0 {
            let label = TopicLabel { topic: topic.to_string() };
            self.metrics.records_in.get_or_create(&label).inc_by(appended.records);
            self.metrics.record_bytes_in.get_or_create(&label).inc_by(appended.bytes as u64);
        }
        Ok(appended)
    }
}
