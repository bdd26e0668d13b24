//! DescribeTopicPartitions (KIP-966): topics and their partitions in name order, a page at a
//! time. A page holds at most `response_partition_limit` partitions (and never more than
//! [`MAX_PARTITIONS_PER_PAGE`], Kafka's `max.request.partition.size.limit`); when more are
//! left, `next_cursor` names the topic and partition the next page starts at.

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse};
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::topic_name;
use crate::broker::topics::validate_topic_name;
use crate::broker::{Broker, TopicImage};

/// Kafka's `max.request.partition.size.limit` default.
pub const MAX_PARTITIONS_PER_PAGE: i32 = 2000;

/// Every topic operation (READ … ALTER_CONFIGS) allowed: what Kafka reports with no authorizer.
const ALL_TOPIC_OPERATIONS: i32 = 3576;

impl Broker {
    pub(super) fn describe_topic_partitions(&self, request: DescribeTopicPartitionsRequest, _version: i16) -> DescribeTopicPartitionsResponse {
        let image = self.image();
        let limit = request.response_partition_limit.clamp(1, MAX_PARTITIONS_PER_PAGE) as usize;
        let cursor = request.cursor.map(|c| (c.topic_name.to_string(), c.partition_index.max(0) as usize));
        let listed = !request.topics.is_empty();
        let mut names: Vec<String> = if listed {
            request.topics.iter().map(|t| t.name.to_string()).collect()
        } else {
            image.topics.keys().cloned().collect()
        };
        names.sort_unstable();
        names.dedup();
        if let Some((from, _)) = &cursor {
            if listed && !names.contains(from) {
                return DescribeTopicPartitionsResponse::default().with_topics(vec![
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(topic_name(from)))
                        .with_error_code(ResponseError::InvalidRequest.code()),
                ]);
            }
            names.retain(|n| n >= from);
        }

        let mut topics = Vec::new();
        let mut budget = limit;
        let mut next_cursor = None;
        for (i, name) in names.iter().enumerate() {
            let Some(topic) = image.topics.get(name) else {
                // Only a listed name can be unknown; it costs no budget.
                let code = if validate_topic_name(name).is_err() { ResponseError::InvalidTopicException } else { ResponseError::UnknownTopicOrPartition };
                topics.push(DescribeTopicPartitionsResponseTopic::default().with_name(Some(topic_name(name))).with_error_code(code.code()));
                continue;
            };
            if budget == 0 {
                next_cursor = Some(Cursor::default().with_topic_name(topic_name(name)).with_partition_index(0));
                break;
            }
            let start = match &cursor {
                Some((from, partition)) if i == 0 && from == name => (*partition).min(topic.partitions.len()),
                _ => 0,
            };
            let end = topic.partitions.len().min(start + budget);
            topics.push(describe(name, topic, start..end));
            budget -= end - start;
            if end < topic.partitions.len() {
                next_cursor = Some(Cursor::default().with_topic_name(topic_name(name)).with_partition_index(end as i32));
                break;
            }
        }
        DescribeTopicPartitionsResponse::default().with_topics(topics).with_next_cursor(next_cursor)
    }
}

fn describe(name: &str, topic: &TopicImage, range: std::ops::Range<usize>) -> DescribeTopicPartitionsResponseTopic {
    let ids = |nodes: &[i32]| nodes.iter().map(|&n| BrokerId(n)).collect::<Vec<_>>();
    let partitions = topic.partitions[range.clone()]
        .iter()
        .zip(range)
        .map(|(p, index)| {
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(ids(&p.replicas))
                .with_isr_nodes(ids(&p.isr))
                // Eligible leader replicas (KIP-966) are off: empty lists, as Kafka sends.
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
                .with_offline_replicas(Vec::new())
        })
        .collect();
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_topic_id(Uuid::from_bytes(*topic.id.as_bytes()))
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(ALL_TOPIC_OPERATIONS)
}
