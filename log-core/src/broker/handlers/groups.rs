//! FindCoordinator and the group APIs that need broker state (OffsetCommit checks that the
//! committed partitions exist). The other group APIs go straight to the coordinator.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::broker::Broker;

/// FindCoordinator key types.
const KEY_GROUP: i8 = 0;

impl Broker {
    pub(super) fn find_coordinator(&self, request: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
        let me = self.image().broker(self.config.node_id).cloned();
        let answer = |key: &str| -> Coordinator {
            let c = Coordinator::default().with_key(str_bytes(key));
            match (&me, request.key_type) {
                (Some(b), KEY_GROUP) => c.with_node_id(BrokerId(b.node_id)).with_host(str_bytes(b.host.clone())).with_port(b.port),
                (_, KEY_GROUP) => c.with_error_code(ResponseError::CoordinatorNotAvailable.code()).with_node_id(BrokerId(-1)).with_port(-1),
                _ => c
                    .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                    .with_error_message(Some(str_bytes("transactions are not supported by this broker yet")))
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
        let image = self.image();
        let exists = move |topic: &str, partition: i32| image.topics.get(topic).is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len());
        self.groups.offset_commit(request, version, exists).await
    }
}
