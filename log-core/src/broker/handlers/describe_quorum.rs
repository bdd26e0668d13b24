//! DescribeQuorum: the metadata quorum — its leader, term (leader epoch), high watermark and
//! every voter's position — as `kafka-metadata-quorum.sh describe --status/--replication`
//! reads it. Any broker answers, asking the active controller (the quorum's leader, the only
//! node that knows each voter's progress). The metadata log is Kafka's `__cluster_metadata`
//! partition 0; the voters' endpoints are their inter-broker (gRPC) listeners.

use std::time::Duration;

use kafka_protocol::messages::describe_quorum_response::{Listener, Node, PartitionData, ReplicaState, TopicData};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::broker::Broker;
use crate::cluster::{ControllerRequest, ControllerResponse, QuorumView, VoterView};

/// The metadata log's name, as Kafka calls it.
pub(crate) const METADATA_TOPIC: &str = "__cluster_metadata";

impl Broker {
    pub(super) async fn describe_quorum(&self, request: DescribeQuorumRequest, version: i16) -> DescribeQuorumResponse {
        let asked_for_metadata_log = request.topics.len() == 1
            && request.topics[0].topic_name.as_str() == METADATA_TOPIC
            && request.topics[0].partitions.len() == 1
            && request.topics[0].partitions[0].partition_index == 0;
        if !asked_for_metadata_log {
            let topics = request
                .topics
                .into_iter()
                .map(|t| {
                    let partitions = t.partitions.into_iter().map(|p| PartitionData::default().with_partition_index(p.partition_index).with_error_code(ResponseError::UnknownTopicOrPartition.code())).collect();
                    TopicData::default().with_topic_name(t.topic_name).with_partitions(partitions)
                })
                .collect();
            return DescribeQuorumResponse::default().with_topics(topics);
        }
        let view = match self.quorum_view().await {
            Ok(view) => view,
            Err((code, message)) => {
                let partition = PartitionData::default().with_partition_index(0).with_error_code(code).with_error_message((version >= 2).then(|| str_bytes(message.clone())));
                return DescribeQuorumResponse::default()
                    .with_error_code(code)
                    .with_error_message((version >= 2).then(|| str_bytes(message)))
                    .with_topics(vec![TopicData::default().with_topic_name(topic_name(METADATA_TOPIC)).with_partitions(vec![partition])]);
            }
        };
        let voters = view.voters.iter().map(replica_state).collect();
        let partition = PartitionData::default()
            .with_partition_index(0)
            .with_leader_id(BrokerId(view.leader_id))
            .with_leader_epoch(view.leader_epoch)
            .with_high_watermark(view.high_watermark)
            .with_current_voters(voters)
            .with_observers(view.observers.iter().map(replica_state).collect());
        DescribeQuorumResponse::default()
            .with_topics(vec![TopicData::default().with_topic_name(topic_name(METADATA_TOPIC)).with_partitions(vec![partition])])
            .with_nodes(if version >= 2 { self.voter_nodes() } else { Vec::new() })
    }

    /// The quorum as its leader sees it: asked of the active controller in a cluster; a node
    /// alone is a quorum of one whose log is its metadata store.
    pub(crate) async fn quorum_view(&self) -> Result<QuorumView, (i16, String)> {
        if self.cluster().is_none() {
            let image = self.image();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let end = image.version as i64;
            let me = VoterView { node_id: self.config.node_id, log_end_offset: end, last_fetch_timestamp: now, last_caught_up_timestamp: now };
            return Ok(QuorumView { leader_id: self.config.node_id, leader_epoch: 1, high_watermark: end, voters: vec![me], observers: Vec::new() });
        }
        match self.call_controller(ControllerRequest::DescribeQuorum, Duration::from_secs(10)).await {
            ControllerResponse::Quorum(view) => Ok(view),
            ControllerResponse::Error { code, message } => Err((code, message)),
            other => Err((ResponseError::UnknownServerError.code(), format!("unexpected answer from the controller: {other:?}"))),
        }
    }

    /// Every voter with its inter-broker endpoint, as the CONTROLLER listener.
    fn voter_nodes(&self) -> Vec<Node> {
        let Some(node) = self.cluster() else {
            return Vec::new();
        };
        node.settings
            .voters
            .iter()
            .filter_map(|(&id, endpoint)| {
                let (host, port) = endpoint.rsplit_once(':')?;
                let listener = Listener::default().with_name(str_bytes("CONTROLLER")).with_host(str_bytes(host.trim_start_matches('[').trim_end_matches(']'))).with_port(port.parse().ok()?);
                Some(Node::default().with_node_id(BrokerId(id)).with_listeners(vec![listener]))
            })
            .collect()
    }
}

fn replica_state(v: &VoterView) -> ReplicaState {
    ReplicaState::default()
        .with_replica_id(BrokerId(v.node_id))
        .with_log_end_offset(v.log_end_offset)
        .with_last_fetch_timestamp(v.last_fetch_timestamp)
        .with_last_caught_up_timestamp(v.last_caught_up_timestamp)
}
