//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455), as
//! `kafka-reassign-partitions.sh` and `fjord topic reassign` use them: move partitions to new
//! replicas, cancel a move, and list the moves in progress with the replicas being added and
//! removed. Listing reads the local metadata image, which every broker has.

use std::collections::BTreeSet;

use kafka_protocol::messages::alter_partition_reassignments_response::{ReassignablePartitionResponse, ReassignableTopicResponse};
use kafka_protocol::messages::list_partition_reassignments_response::{OngoingPartitionReassignment, OngoingTopicReassignment};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::broker::Broker;

fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

impl Broker {
    pub(super) async fn alter_partition_reassignments(&self, request: AlterPartitionReassignmentsRequest, _version: i16) -> AlterPartitionReassignmentsResponse {
        let mut responses = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let name = topic.name.to_string();
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for p in topic.partitions {
                let target = p.replicas.map(|r| r.into_iter().map(|b| b.0).collect::<Vec<i32>>());
                let result = ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
                partitions.push(match self.reassign_partition(&name, p.partition_index, target).await {
                    Ok(()) => result,
                    Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(str_bytes(e.message))),
                });
            }
            responses.push(ReassignableTopicResponse::default().with_name(topic.name).with_partitions(partitions));
        }
        AlterPartitionReassignmentsResponse::default().with_responses(responses)
    }

    pub(super) fn list_partition_reassignments(&self, request: ListPartitionReassignmentsRequest, _version: i16) -> ListPartitionReassignmentsResponse {
        let image = self.image();
        let wanted: Option<BTreeSet<(String, i32)>> = request.topics.map(|topics| topics.into_iter().flat_map(|t| t.partition_indexes.into_iter().map(move |i| (t.name.to_string(), i))).collect());
        if let Some(wanted) = &wanted
            && let Some((topic, _)) = wanted.iter().find(|(t, i)| image.partition(t, *i).is_none())
        {
            // Kafka answers a request naming an unknown partition with a top-level error.
            return ListPartitionReassignmentsResponse::default()
                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                .with_error_message(Some(str_bytes(format!("topic {topic:?} or one of its listed partitions does not exist"))));
        }
        let mut topics: Vec<OngoingTopicReassignment> = Vec::new();
        for (topic, index, p, r) in image.reassignments() {
            if wanted.as_ref().is_some_and(|w| !w.contains(&(topic.to_string(), index))) {
                continue;
            }
            let ongoing = OngoingPartitionReassignment::default()
                .with_partition_index(index)
                .with_replicas(broker_ids(&p.replicas))
                .with_adding_replicas(broker_ids(&r.adding()))
                .with_removing_replicas(broker_ids(&r.removing()));
            match topics.last_mut() {
                Some(last) if last.name.as_str() == topic => last.partitions.push(ongoing),
                _ => topics.push(OngoingTopicReassignment::default().with_name(topic_name(topic)).with_partitions(vec![ongoing])),
            }
        }
        ListPartitionReassignmentsResponse::default().with_topics(topics)
    }
}
