//! Request handlers, one module per API family. [`Broker::handle`] dispatches a decoded
//! request to its handler and returns what to send back.

mod admin;
mod api_versions;
mod configs;
mod describe_quorum;
mod describe_topic_partitions;
mod elect_leaders;
mod fetch;
mod group_routing;
mod groups;
mod log_dirs;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
mod reassignments;
mod sasl;

use kafka_protocol::messages::{RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::topics::off_runtime;
use super::Broker;
use crate::protocol::Request;

/// Who sent a request.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client id from the request header.
    pub client_id: String,
    /// The peer's address.
    pub client_host: String,
}

/// What a handler produced.
#[derive(Debug)]
pub enum Handled {
    /// Send this response.
    Respond(Box<ResponseKind>),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Send nothing and close the connection, saying why in the log: what Kafka does when an
    /// acks=0 produce fails, since the producer learns of errors only that way.
    Close(String),
}

/// A topic name for a response.
pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A string for a response.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

impl Broker {
    /// Serves one request.
    pub async fn handle(&self, request: Request, client: &ClientInfo) -> Handled {
        use RequestKind as Rq;
        use ResponseKind as Rs;
        let v = request.version;
        if let Some(node) = self.cluster()
            && !matches!(request.body, Rq::ApiVersions(_))
        {
            node.wait_caught_up().await;
        }
        if let Some(response) = self.not_coordinator(&request.body) {
            return Handled::Respond(Box::new(response));
        }
        let response = match request.body {
            Rq::ApiVersions(r) => Rs::ApiVersions(self.api_versions(r, v)),
            Rq::Metadata(r) => Rs::Metadata(self.metadata(r, v).await),
            Rq::DescribeCluster(r) => Rs::DescribeCluster(self.describe_cluster(r, v)),
            Rq::Produce(r) => match self.produce(r, v).await {
                produce::Produced::Respond(response) => Rs::Produce(response),
                produce::Produced::Silent => return Handled::NoResponse,
                produce::Produced::SilentFailure(reason) => return Handled::Close(reason),
            },
            Rq::Fetch(r) => Rs::Fetch(self.fetch(r, v).await),
            // Lookups by timestamp read segment files.
            Rq::ListOffsets(r) => Rs::ListOffsets(off_runtime(|| self.list_offsets(r, v))),
            Rq::OffsetForLeaderEpoch(r) => Rs::OffsetForLeaderEpoch(self.offset_for_leader_epoch(r, v)),
            Rq::DeleteRecords(r) => Rs::DeleteRecords(off_runtime(|| self.delete_records(r, v))),
            Rq::CreateTopics(r) => Rs::CreateTopics(self.create_topics(r, v).await),
            Rq::DeleteTopics(r) => Rs::DeleteTopics(self.delete_topics(r, v).await),
            Rq::CreatePartitions(r) => Rs::CreatePartitions(self.create_partitions_request(r, v).await),
            Rq::DescribeConfigs(r) => Rs::DescribeConfigs(self.describe_configs(r, v)),
            Rq::AlterConfigs(r) => Rs::AlterConfigs(self.alter_configs(r, v).await),
            Rq::IncrementalAlterConfigs(r) => Rs::IncrementalAlterConfigs(self.incremental_alter_configs(r, v).await),
            Rq::InitProducerId(r) => Rs::InitProducerId(self.init_producer_id(r, v).await),
            Rq::FindCoordinator(r) => Rs::FindCoordinator(self.find_coordinator(r, v)),
            Rq::JoinGroup(r) => Rs::JoinGroup(self.groups.join_group(r, v, &self.group_client(client)).await),
            Rq::SyncGroup(r) => Rs::SyncGroup(self.groups.sync_group(r, v).await),
            Rq::Heartbeat(r) => Rs::Heartbeat(self.groups.heartbeat(r, v).await),
            Rq::LeaveGroup(r) => Rs::LeaveGroup(self.groups.leave_group(r, v).await),
            Rq::OffsetCommit(r) => Rs::OffsetCommit(self.offset_commit(r, v).await),
            Rq::OffsetFetch(r) => Rs::OffsetFetch(self.groups.offset_fetch(r, v).await),
            Rq::ListGroups(r) => Rs::ListGroups(self.groups.list_groups(r, v).await),
            Rq::DescribeGroups(r) => Rs::DescribeGroups(self.describe_groups_routed(r, v).await),
            Rq::DeleteGroups(r) => Rs::DeleteGroups(self.delete_groups_routed(r, v).await),
            Rq::OffsetDelete(r) => Rs::OffsetDelete(self.offset_delete(r, v).await),
            Rq::DescribeLogDirs(r) => Rs::DescribeLogDirs(off_runtime(|| self.describe_log_dirs(r, v))),
            Rq::AlterReplicaLogDirs(r) => Rs::AlterReplicaLogDirs(self.alter_replica_log_dirs(r, v)),
            Rq::DescribeQuorum(r) => Rs::DescribeQuorum(self.describe_quorum(r, v).await),
            Rq::ElectLeaders(r) => Rs::ElectLeaders(self.elect_leaders(r, v).await),
            Rq::AlterPartitionReassignments(r) => Rs::AlterPartitionReassignments(self.alter_partition_reassignments(r, v).await),
            Rq::ListPartitionReassignments(r) => Rs::ListPartitionReassignments(self.list_partition_reassignments(r, v)),
            Rq::DescribeTopicPartitions(r) => Rs::DescribeTopicPartitions(self.describe_topic_partitions(r, v)),
            Rq::SaslHandshake(r) => Rs::SaslHandshake(self.sasl_handshake(r, v)),
            Rq::SaslAuthenticate(r) => Rs::SaslAuthenticate(self.sasl_authenticate(r, v)),
            other => {
                // The decoder only lets through APIs listed in `protocol::versions`, and every
                // one of those has a branch above.
                tracing::error!(api = ?request.api_key, "no handler for a supported API: {other:?}");
                return Handled::NoResponse;
            }
        };
        Handled::Respond(Box::new(response))
    }
}
