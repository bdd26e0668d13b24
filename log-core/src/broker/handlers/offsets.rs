//! Offset lookups and moves: ListOffsets (earliest, latest, by timestamp, max timestamp),
//! OffsetForLeaderEpoch, DeleteRecords.

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};
use kafka_protocol::ResponseError;

use super::fetch::check_epoch;
use super::topic_name;
use crate::broker::{Broker, Partition, PartitionError};

/// ListOffsets special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// `(offset, timestamp, leader epoch)` answered by ListOffsets.
type Found = (i64, i64, i32);

impl Broker {
    fn hosted(&self, topic: &str, index: i32) -> Result<std::sync::Arc<Partition>, PartitionError> {
        self.partition(topic, index)
            .ok_or_else(|| PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("{topic}-{index} is not hosted by this broker")))
    }

    pub(super) fn list_offsets(&self, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
        let topics = request
            .topics
            .into_iter()
            .map(|topic| {
                let name = topic.name.to_string();
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let response = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                        let found = self.hosted(&name, p.partition_index).and_then(|partition| {
                            check_epoch(p.current_leader_epoch, partition.leader_epoch())?;
                            list_offset(&partition, p.timestamp)
                        });
                        match found {
                            // The leader epoch field exists from v4.
                            Ok((offset, timestamp, epoch)) => response.with_offset(offset).with_timestamp(timestamp).with_leader_epoch(if version >= 4 { epoch } else { -1 }),
                            Err(e) => response.with_error_code(e.code.code()).with_offset(-1).with_timestamp(-1),
                        }
                    })
                    .collect();
                ListOffsetsTopicResponse::default().with_name(topic_name(&name)).with_partitions(partitions)
            })
            .collect();
        ListOffsetsResponse::default().with_topics(topics)
    }

    pub(super) fn offset_for_leader_epoch(&self, request: OffsetForLeaderEpochRequest, _version: i16) -> OffsetForLeaderEpochResponse {
        let topics = request
            .topics
            .into_iter()
            .map(|topic| {
                let name = topic.topic.to_string();
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let response = EpochEndOffset::default().with_partition(p.partition);
                        let found = self.hosted(&name, p.partition).and_then(|partition| {
                            check_epoch(p.current_leader_epoch, partition.leader_epoch())?;
                            partition.end_offset_for_epoch(p.leader_epoch)
                        });
                        match found {
                            Ok(end) => response.with_leader_epoch(end.epoch).with_end_offset(end.end_offset),
                            Err(e) => response.with_error_code(e.code.code()).with_leader_epoch(-1).with_end_offset(-1),
                        }
                    })
                    .collect();
                OffsetForLeaderTopicResult::default().with_topic(topic_name(&name)).with_partitions(partitions)
            })
            .collect();
        OffsetForLeaderEpochResponse::default().with_topics(topics)
    }

    pub(super) fn delete_records(&self, request: DeleteRecordsRequest, _version: i16) -> DeleteRecordsResponse {
        let topics = request
            .topics
            .into_iter()
            .map(|topic| {
                let name = topic.name.to_string();
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let response = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                        let result = self.hosted(&name, p.partition_index).and_then(|partition| {
                            let target = match p.offset {
                                -1 => None,
                                o if o >= 0 => Some(o as u64),
                                o => return Err(PartitionError::new(ResponseError::OffsetOutOfRange, format!("offset {o} is negative"))),
                            };
                            partition.delete_records_before(target)
                        });
                        match result {
                            Ok(low) => {
                                tracing::info!(topic = %name, partition = p.partition_index, low_watermark = low, "deleted records");
                                response.with_low_watermark(low as i64)
                            }
                            Err(e) => response.with_error_code(e.code.code()).with_low_watermark(-1),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default().with_name(topic_name(&name)).with_partitions(partitions)
            })
            .collect();
        DeleteRecordsResponse::default().with_topics(topics)
    }
}

fn list_offset(partition: &Partition, timestamp: i64) -> Result<Found, PartitionError> {
    match timestamp {
        EARLIEST | EARLIEST_LOCAL => {
            let start = partition.log_start_offset()?;
            Ok((start as i64, -1, partition.epoch_at(start)?))
        }
        LATEST => {
            let hw = partition.high_watermark();
            Ok((hw as i64, -1, partition.leader_epoch()))
        }
        // Nothing is tiered: Kafka answers offset -1 without an error when tiered storage is off.
        LATEST_TIERED => Ok((-1, -1, -1)),
        MAX_TIMESTAMP => Ok(match partition.max_timestamp_offset()? {
            Some((t, epoch)) => (t.offset as i64, t.timestamp, epoch),
            None => (-1, -1, -1),
        }),
        t if t >= 0 => Ok(match partition.offset_for_timestamp(t)? {
            Some((found, epoch)) => (found.offset as i64, found.timestamp, epoch),
            // No record that late: Kafka answers offset -1, timestamp -1.
            None => (-1, -1, -1),
        }),
        t => Err(PartitionError::new(ResponseError::InvalidRequest, format!("unknown ListOffsets timestamp {t}"))),
    }
}
