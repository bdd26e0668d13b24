//! The active controller: how the quorum's leader answers brokers' requests
//! ([`ControllerRequest`]) and what its periodic pass does. Decisions come from
//! [`crate::controller`]; this file turns them into committed records. Requests other than
//! admin operations are serialised by the controller lock (admin operations take it
//! themselves).

use kafka_protocol::ResponseError;

use super::partition::{monotonic_ms, PartitionError};
use super::Broker;
use crate::cluster::{AdminOp, ControllerRequest, ControllerResponse, QuorumView, VoterView};
use crate::controller::brokers::{self, AlterPartitionRefusal};
use crate::controller::elect_leaders;
use crate::metadata::{new_cluster_id, MetadataRecord};

fn error(code: ResponseError, message: impl Into<String>) -> ControllerResponse {
    ControllerResponse::Error { code: code.code(), message: message.into() }
}

/// The quorum as DescribeQuorum reports it: Raft indexes as offsets one past them, times
/// since as Unix milliseconds.
fn quorum_view(status: &fjord_quorum::QuorumStatus) -> QuorumView {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let at = |ago: Option<u64>| ago.map_or(-1, |ago| now - ago as i64);
    QuorumView {
        leader_id: status.leader.map_or(-1, |l| l as i32),
        leader_epoch: status.term as i32,
        high_watermark: status.committed_index.map_or(0, |i| i as i64 + 1),
        voters: status.voters.iter().map(|v| voter_view(v, at)).collect(),
        observers: status.observers.iter().map(|v| voter_view(v, at)).collect(),
    }
}

fn voter_view(v: &fjord_quorum::VoterStatus, at: impl Fn(Option<u64>) -> i64) -> VoterView {
    VoterView {
        node_id: v.node_id as i32,
        log_end_offset: v.matched_index.map_or(-1, |i| i as i64 + 1),
        last_fetch_timestamp: at(v.last_contact_ms_ago),
        last_caught_up_timestamp: at(v.last_caught_up_ms_ago),
    }
}

impl From<PartitionError> for ControllerResponse {
    fn from(e: PartitionError) -> Self {
        error(e.code, e.message)
    }
}

impl Broker {
    /// Answers a request as the active controller (or says who is).
    pub async fn handle_controller_request(&self, request: ControllerRequest) -> ControllerResponse {
        let Some(node) = &self.cluster else { return error(ResponseError::NotController, "this broker is not in a cluster") };
        let leader = node.controller_id();
        if leader != Some(self.config.node_id) {
            return ControllerResponse::NotController { leader };
        }
        let request = match request {
            ControllerRequest::Admin(op) => return self.admin_here(op).await,
            other => other,
        };
        let _guard = self.controller.lock().await;
        let now = monotonic_ms();
        let result = match request {
            ControllerRequest::Register { broker } => {
                let node_id = broker.node_id;
                // A broker-only node receives the metadata log as a Raft observer (learner).
                if !node.is_voter(node_id) {
                    let Some(endpoint) = broker.rpc_endpoint.clone() else {
                        return error(ResponseError::InvalidRequest, format!("broker {node_id} registered without an inter-broker endpoint"));
                    };
                    if let Err(e) = node.quorum.add_observer(node_id as u64, &endpoint).await {
                        return error(ResponseError::NotController, format!("could not add broker {node_id} to the metadata quorum as an observer: {e}"));
                    }
                }
                let records = brokers::register(&self.image(), broker);
                self.commit(&records).await.map(|()| {
                    let version = self.image().version;
                    node.registered_at.lock().unwrap_or_else(|p| p.into_inner()).insert(node_id, version);
                    node.sessions.lock().unwrap_or_else(|p| p.into_inner()).touch(node_id, now);
                    tracing::info!(node_id, "broker registered");
                    ControllerResponse::Registered
                })
            }
            ControllerRequest::Heartbeat { node_id, incarnation, applied_version, shutting_down } => {
                self.heartbeat_here(node_id, incarnation, applied_version, shutting_down, now).await
            }
            ControllerRequest::AlterPartition { topic, partition, change } => match brokers::alter_partition(&self.image(), &topic, partition, &change) {
                Ok((state, records)) => self.commit(&records).await.map(|()| ControllerResponse::Partition(state)),
                Err(AlterPartitionRefusal::UnknownPartition) => Ok(error(ResponseError::UnknownTopicOrPartition, format!("{topic}-{partition} does not exist"))),
                Err(AlterPartitionRefusal::Refused(e)) => Ok(error(e.code(), e.to_string())),
            },
            ControllerRequest::ElectLeaders { kind, partitions } => {
                let elections = elect_leaders(&self.image(), kind, partitions.as_deref());
                if !elections.records.is_empty() {
                    tracing::info!(?kind, partitions = elections.records.len(), "electing leaders as an operator asked");
                }
                self.commit(&elections.records).await.map(|()| ControllerResponse::Elections(elections.outcomes))
            }
            ControllerRequest::ReportRefused { broker } => {
                node.sessions.lock().unwrap_or_else(|p| p.into_inner()).report_refused(broker, now);
                tracing::debug!(broker, "a broker's inter-broker port refuses connections; fencing it once it misses its heartbeats");
                Ok(ControllerResponse::Done)
            }
            ControllerRequest::AllocateProducerIds { node_id } => {
                let first = self.image().next_producer_id;
                let count = super::producer_ids::BLOCK_SIZE;
                self.commit(&[MetadataRecord::ProducerIdBlock { node_id, first, count }]).await.map(|()| ControllerResponse::ProducerIds { first, count })
            }
            ControllerRequest::DescribeQuorum => match node.quorum.status().await {
                Ok(status) => Ok(ControllerResponse::Quorum(quorum_view(&status))),
                Err(e) => Ok(error(ResponseError::UnknownServerError, format!("the quorum's state is unavailable: {e}"))),
            },
            ControllerRequest::Admin(_) => Ok(error(ResponseError::InvalidRequest, "admin operations are handled above")),
        };
        result.unwrap_or_else(ControllerResponse::from)
    }

    async fn heartbeat_here(&self, node_id: i32, incarnation: u64, applied_version: u64, shutting_down: bool, now: u64) -> Result<ControllerResponse, PartitionError> {
        let Some(node) = &self.cluster else { return Ok(error(ResponseError::NotController, "not in a cluster")) };
        let image = self.image();
        let Some(broker) = image.broker(node_id).filter(|b| b.incarnation == incarnation) else {
            return Ok(error(ResponseError::StaleBrokerEpoch, format!("broker {node_id} (incarnation {incarnation}) is not registered; register first")));
        };
        node.sessions.lock().unwrap_or_else(|p| p.into_inner()).touch(node_id, now);
        if shutting_down {
            let (records, ready) = brokers::controlled_shutdown(&image, node_id);
            self.commit(&records).await?;
            return Ok(ControllerResponse::Heartbeat { fenced: broker.fenced, shutdown_ready: ready });
        }
        let mut fenced = broker.fenced;
        let needed = node.registered_at.lock().unwrap_or_else(|p| p.into_inner()).get(&node_id).copied().unwrap_or(0);
        if fenced && applied_version >= needed {
            self.commit(&brokers::unfence(&image, node_id)).await?;
            tracing::info!(node_id, "broker caught up with the metadata log; unfenced");
            fenced = false;
        }
        Ok(ControllerResponse::Heartbeat { fenced, shutdown_ready: false })
    }

    async fn admin_here(&self, op: AdminOp) -> ControllerResponse {
        let result = match op {
            AdminOp::CreateTopic { new, validate_only } => self.create_topic_here(new, validate_only).await.map(ControllerResponse::Topic),
            AdminOp::DeleteTopic { name } => self.delete_topic_here(&name).await.map(ControllerResponse::Deleted),
            AdminOp::CreatePartitions { name, count, assignments, validate_only } => {
                self.create_partitions_here(&name, count, assignments, validate_only).await.map(|()| ControllerResponse::Done)
            }
            AdminOp::SetTopicConfigs { name, configs, validate_only } => self.set_topic_configs_here(&name, configs, validate_only).await.map(|()| ControllerResponse::Done),
            AdminOp::SetBrokerConfigs { resource, configs, validate_only } => {
                self.set_broker_configs_here(&resource, configs, validate_only).await.map(|()| ControllerResponse::Done)
            }
            AdminOp::Reassign { topic, partition, target } => self.reassign_here(&topic, partition, target).await.map(|()| ControllerResponse::Done),
            AdminOp::DeployTransform { deployment } => self.deploy_transform_here(deployment).await.map(|()| ControllerResponse::Done),
            AdminOp::DeleteTransform { name } => self.delete_transform_here(&name).await.map(|()| ControllerResponse::Done),
            AdminOp::SetTransformState { name, state } => self.set_transform_state_here(&name, state).await.map(|()| ControllerResponse::Done),
        };
        result.unwrap_or_else(ControllerResponse::from)
    }

    /// The active controller's periodic work: form the cluster on first leadership, fence
    /// brokers whose sessions expired.
    pub(super) async fn controller_maintenance(&self, now: u64) -> Result<(), PartitionError> {
        let Some(node) = &self.cluster else { return Ok(()) };
        let _guard = self.controller.lock().await;
        let image = self.image();
        if image.cluster_id.is_empty() {
            let cluster_id = new_cluster_id();
            tracing::info!(%cluster_id, "forming a new cluster");
            self.commit(&[MetadataRecord::InitCluster { cluster_id }]).await?;
        }
        if !image.topics.contains_key(super::OFFSETS_TOPIC) {
            // Created once as many brokers as its replication factor are in service: up to
            // three replicas (offsets.topic.replication.factor), never more than the voters.
            let replication = node.settings.voters.len().min(3);
            if image.brokers.iter().filter(|b| b.is_eligible()).count() >= replication {
                let partitions = super::topics::place(&image, 0, self.config.offsets_topic_partitions.max(1) as usize, replication)?;
                let topic = super::topics::offsets_topic(partitions);
                tracing::info!(partitions = topic.partitions.len(), replication, "creating {}", super::OFFSETS_TOPIC);
                self.commit(&[MetadataRecord::CreateTopic { name: super::OFFSETS_TOPIC.into(), topic }]).await?;
            }
        }
        let expired: Vec<i32> = {
            let sessions = node.sessions.lock().unwrap_or_else(|p| p.into_inner());
            image.brokers.iter().filter(|b| !b.fenced && !sessions.is_live(b.node_id, now)).map(|b| b.node_id).collect()
        };
        for node_id in expired {
            tracing::warn!(node_id, timeout_ms = node.settings.broker_session_timeout_ms, "broker stopped heartbeating; fencing it and moving its leadership");
            self.commit(&brokers::fence(&self.image(), node_id)).await?;
        }
        self.complete_reassignments().await?;
        // Leadership goes back to preferred replicas that are in sync again (Kafka's
        // auto.leader.rebalance.enable), every leader.imbalance.check.interval.seconds.
        let due = {
            let mut last = node.last_rebalance_ms.lock().unwrap_or_else(|p| p.into_inner());
            let due = self.config.auto_leader_rebalance && now.saturating_sub(*last) >= self.config.leader_imbalance_check_interval_ms;
            if due {
                *last = now;
            }
            due
        };
        if due {
            let records = brokers::preferred_elections(&self.image(), None);
            if !records.is_empty() {
                tracing::info!(partitions = records.len(), "moving leadership back to preferred replicas");
                self.commit(&records).await?;
            }
        }
        Ok(())
    }
}
