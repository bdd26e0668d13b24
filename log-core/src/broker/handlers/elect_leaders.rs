//! ElectLeaders: preferred or unclean leader elections an operator asks for
//! (`kafka-leader-election.sh`, `fjord topic elect-leaders`). Decided by the active
//! controller ([`crate::controller::elections`]); this handler translates the request and
//! each partition's outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::broker::Broker;
use crate::cluster::{ControllerRequest, ControllerResponse};
use crate::controller::{elect_leaders, ElectionKind, ElectionOutcome};

/// The Kafka error code and message for one partition's outcome.
fn outcome_error(kind: ElectionKind, topic: &str, partition: i32, outcome: ElectionOutcome) -> (i16, Option<String>) {
    let failed = |code: ResponseError, why: &str| (code.code(), Some(format!("{topic}-{partition}: {why}")));
    match outcome {
        ElectionOutcome::Elected(_) => (0, None),
        ElectionOutcome::NotNeeded if kind == ElectionKind::Preferred => failed(ResponseError::ElectionNotNeeded, "the preferred replica already leads"),
        ElectionOutcome::NotNeeded => failed(ResponseError::ElectionNotNeeded, "the partition has a leader"),
        ElectionOutcome::PreferredNotAvailable => failed(ResponseError::PreferredLeaderNotAvailable, "the preferred replica is not alive or not in sync"),
        ElectionOutcome::EligibleNotAvailable => failed(ResponseError::EligibleLeadersNotAvailable, "no replica is alive"),
        ElectionOutcome::UnknownPartition => failed(ResponseError::UnknownTopicOrPartition, "no such topic or partition"),
    }
}

impl Broker {
    pub(super) async fn elect_leaders(&self, request: ElectLeadersRequest, version: i16) -> ElectLeadersResponse {
        let kind = match (version, request.election_type) {
            (0, _) | (_, 0) => ElectionKind::Preferred,
            (_, 1) => ElectionKind::Unclean,
            (_, _) => return ElectLeadersResponse::default().with_error_code(ResponseError::InvalidRequest.code()),
        };
        let partitions: Option<Vec<(String, i32)>> = request.topic_partitions.map(|topics| topics.into_iter().flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic.to_string(), p))).collect());
        let answer = if self.cluster().is_some() {
            let timeout = Duration::from_millis(request.timeout_ms.clamp(1_000, 300_000) as u64);
            self.call_controller(ControllerRequest::ElectLeaders { kind, partitions: partitions.clone() }, timeout).await
        } else {
            // One node leads every partition it has: nothing to elect, and nothing to commit.
            ControllerResponse::Elections(elect_leaders(&self.image(), kind, partitions.as_deref()).outcomes)
        };
        let outcomes = match answer {
            ControllerResponse::Elections(outcomes) => outcomes,
            other => {
                let (code, message) = match other {
                    ControllerResponse::Error { code, message } => (code, message),
                    other => (ResponseError::UnknownServerError.code(), format!("unexpected answer from the controller: {other:?}")),
                };
                tracing::warn!(%message, "leader election refused");
                // v0 has no top-level error: every named partition carries it.
                let results = partitions.unwrap_or_default().into_iter().fold(BTreeMap::<String, Vec<PartitionResult>>::new(), |mut by_topic, (t, p)| {
                    by_topic.entry(t).or_default().push(PartitionResult::default().with_partition_id(p).with_error_code(code).with_error_message(Some(str_bytes(message.clone()))));
                    by_topic
                });
                return ElectLeadersResponse::default().with_error_code(code).with_replica_election_results(group(results));
            }
        };
        let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
        for (topic, partition, outcome) in outcomes {
            let (code, message) = outcome_error(kind, &topic, partition, outcome);
            by_topic.entry(topic).or_default().push(PartitionResult::default().with_partition_id(partition).with_error_code(code).with_error_message(message.map(str_bytes)));
        }
        ElectLeadersResponse::default().with_replica_election_results(group(by_topic))
    }
}

fn group(by_topic: BTreeMap<String, Vec<PartitionResult>>) -> Vec<ReplicaElectionResult> {
    by_topic.into_iter().map(|(topic, results)| ReplicaElectionResult::default().with_topic(topic_name(&topic)).with_partition_result(results)).collect()
}
