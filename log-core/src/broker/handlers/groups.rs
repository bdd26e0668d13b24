//! FindCoordinator and the group APIs that need broker state (OffsetCommit and OffsetDelete
//! check that the partitions exist). The other group APIs go straight to the coordinator.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse,
};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::Broker;

/// FindCoordinator key types.
const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;
const KEY_SHARE: i8 = 2;

impl Broker {
    pub(super) fn find_coordinator(&self, request: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
        let image = self.image();
        // A node alone coordinates every group; in a cluster, the leader of the group's
        // `__consumer_offsets` partition does.
        let coordinator_of = |key: &str| match &self.cluster {
            None => image.broker(self.config.node_id).cloned(),
            Some(_) => {
                let partition = self.groups.group_partition(key);
                image.partition(crate::broker::OFFSETS_TOPIC, partition).filter(|p| p.leader >= 0).and_then(|p| image.broker(p.leader)).filter(|b| !b.fenced).cloned()
            }
        };
        let answer = |key: &str| -> Coordinator {
            let c = Coordinator::default().with_key(str_bytes(key));
            let me = if request.key_type == KEY_GROUP { coordinator_of(key) } else { None };
            match (&me, request.key_type) {
                (Some(b), KEY_GROUP) => c.with_node_id(BrokerId(b.node_id)).with_host(str_bytes(b.host.clone())).with_port(b.port),
                (_, KEY_GROUP) => c.with_error_code(ResponseError::CoordinatorNotAvailable.code()).with_node_id(BrokerId(-1)).with_port(-1),
                // TRANSACTIONAL_ID_AUTHORIZATION_FAILED is the one error every client (Java,
                // librdkafka, franz-go) treats as fatal for a transactional coordinator, so
                // init_transactions fails at once with this message instead of retrying until
                // its timeout, as it would on COORDINATOR_NOT_AVAILABLE.
                (_, KEY_TRANSACTION) => c
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
                    .with_error_message(Some(str_bytes(
                        "transactions are not supported by this broker yet; use an idempotent producer without transactional.id",
                    )))
                    .with_node_id(BrokerId(-1))
                    .with_port(-1),
                // Share groups (key type 2, v6+) do not exist here; other types are invalid.
                (_, KEY_SHARE) if version >= 6 => c
                    .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                    .with_error_message(Some(str_bytes("share groups are not supported by this broker")))
                    .with_node_id(BrokerId(-1))
                    .with_port(-1),
                (_, other) => c
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!("unknown coordinator key type {other}"))))
                    .with_node_id(BrokerId(-1))
                    .with_port(-1),
            }
        };
        if version >= 4 {
            let coordinators = request.coordinator_keys.iter().map(|k| answer(k.as_str())).collect();
            FindCoordinatorResponse::default().with_coordinators(coordinators)
        } else {
            let c = answer(request.key.as_str());
            FindCoordinatorResponse::default()
                .with_error_code(c.error_code)
                .with_error_message(c.error_message)
                .with_node_id(c.node_id)
                .with_host(c.host)
                .with_port(c.port)
        }
    }

    pub(super) async fn offset_commit(&self, request: OffsetCommitRequest, version: i16) -> OffsetCommitResponse {
        let exists = self.partition_exists();
        self.groups.offset_commit(request, version, exists).await
    }

    /// OffsetDelete: partitions that do not exist are answered UNKNOWN_TOPIC_OR_PARTITION, as
    /// Kafka does (unless the group itself is refused); the rest go to the coordinator.
    pub(super) async fn offset_delete(&self, mut request: OffsetDeleteRequest, version: i16) -> OffsetDeleteResponse {
        let exists = self.partition_exists();
        let mut unknown = Vec::new();
        for topic in &mut request.topics {
            let name = topic.name.to_string();
            let (known, missing): (Vec<_>, Vec<_>) = topic.partitions.drain(..).partition(|p| exists(&name, p.partition_index));
            topic.partitions = known;
            if !missing.is_empty() {
                let partitions = missing
                    .iter()
                    .map(|p| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    })
                    .collect();
                unknown.push(OffsetDeleteResponseTopic::default().with_name(topic.name.clone()).with_partitions(partitions));
            }
        }
        request.topics.retain(|t| !t.partitions.is_empty());
        let mut response = self.groups.offset_delete(request, version).await;
        if response.error_code == 0 {
            response.topics.extend(unknown);
        }
        response
    }

    /// Whether a topic partition exists, by the current metadata image.
    fn partition_exists(&self) -> impl Fn(&str, i32) -> bool + Send + Sync + 'static {
        let image = self.image();
        move |topic: &str, partition: i32| image.topics.get(topic).is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
    }
}
