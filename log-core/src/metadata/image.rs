//! [`MetadataImage`]: the cluster as the metadata log describes it — registered brokers,
//! topics, their partitions (leader, epochs, replicas, ISR), topic configs and dynamic broker
//! configs — and how each [`MetadataRecord`] changes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MetadataRecord, TransformDeployment};
use crate::replication::LeaderAndIsr;

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerImage {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host of the Kafka listener.
    pub host: String,
    /// Advertised port of the Kafka listener.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
    /// The inter-broker (gRPC) endpoint, `host:port`; `None` for a node alone.
    #[serde(default)]
    pub rpc_endpoint: Option<String>,
    /// Which run of the broker registered: a new value on every start.
    #[serde(default)]
    pub incarnation: u64,
    /// Fenced brokers lead nothing and join no ISR: they stopped heartbeating, or have just
    /// registered and not yet caught up with the metadata log.
    #[serde(default)]
    pub fenced: bool,
    /// The broker is shutting down cleanly and is moving its leadership away.
    #[serde(default)]
    pub in_controlled_shutdown: bool,
}

impl BrokerImage {
    /// May lead partitions and join ISRs.
    pub fn is_eligible(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    /// The broker's state in words: `fenced` (stopped, or not yet caught up), `shutting
    /// down` (moving its leadership away) or `alive`.
    pub fn state(&self) -> &'static str {
        match (self.fenced, self.in_controlled_shutdown) {
            (true, _) => "fenced",
            (false, true) => "shutting down",
            (false, false) => "alive",
        }
    }
}

/// One partition's placement and replication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// Leader's node id; -1 when the partition has no leader (offline).
    pub leader: i32,
    /// Incremented whenever leadership changes.
    pub leader_epoch: i32,
    /// Incremented on every change of leader, ISR or replicas.
    #[serde(default)]
    pub partition_epoch: i32,
    /// Replica node ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// A reassignment in progress: `replicas` holds the target and the original replicas
    /// until every target replica is in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassignment: Option<Reassignment>,
}

/// A partition moving to new replicas (Kafka's AlterPartitionReassignments): while it runs,
/// the partition's replicas are the target followed by the original ones not in it; the
/// added replicas fetch from the leader and join the ISR, and once every target replica is
/// in sync the removed ones go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// The replicas asked for, preferred leader first.
    pub target: Vec<i32>,
    /// The replicas before the reassignment started.
    pub original: Vec<i32>,
}

impl Reassignment {
    /// Target replicas that were not replicas before.
    pub fn adding(&self) -> Vec<i32> {
        self.target.iter().copied().filter(|b| !self.original.contains(b)).collect()
    }

    /// Original replicas that are not in the target.
    pub fn removing(&self) -> Vec<i32> {
        self.original.iter().copied().filter(|b| !self.target.contains(b)).collect()
    }

    /// The replicas while the reassignment runs: the target, then the original ones not in it.
    pub fn merged(&self) -> Vec<i32> {
        let mut all = self.target.clone();
        all.extend(self.removing());
        all
    }
}

impl PartitionImage {
    /// A new partition on `replicas`, led by the first, all in sync.
    pub fn new(replicas: Vec<i32>) -> Self {
        Self { leader: replicas.first().copied().unwrap_or(-1), leader_epoch: 0, partition_epoch: 0, isr: replicas.clone(), replicas, reassignment: None }
    }

    /// The state replication works from.
    pub fn leader_and_isr(&self) -> LeaderAndIsr {
        LeaderAndIsr {
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
        }
    }
}

impl From<LeaderAndIsr> for PartitionImage {
    fn from(s: LeaderAndIsr) -> Self {
        Self { leader: s.leader, leader_epoch: s.leader_epoch, partition_epoch: s.partition_epoch, replicas: s.replicas, isr: s.isr, reassignment: None }
    }
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Topic id (Kafka's topic UUID).
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: Vec<PartitionImage>,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
    /// Internal topics (`__consumer_offsets`) are flagged in Metadata responses.
    pub internal: bool,
}

/// The whole image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Cluster id, chosen when the cluster is first formed.
    pub cluster_id: String,
    /// The active controller's node id.
    pub controller_id: i32,
    /// Registered brokers, by node id order.
    #[serde(default)]
    pub brokers: Vec<BrokerImage>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Broker settings changed at runtime (IncrementalAlterConfigs on a broker resource), by
    /// resource name: `""` for the cluster-wide default, a node id for one broker.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The first producer id no block has taken yet (Kafka's producer-id blocks).
    #[serde(default)]
    pub next_producer_id: i64,
    /// Deployed WebAssembly transforms, by name.
    #[serde(default)]
    pub transforms: BTreeMap<String, TransformDeployment>,
    /// Number of records applied; grows with every change.
    pub version: u64,
}

impl MetadataImage {
    /// An empty image of a new cluster.
    pub fn new(cluster_id: String, controller_id: i32) -> Self {
        Self { cluster_id, controller_id, brokers: Vec::new(), topics: BTreeMap::new(), broker_configs: BTreeMap::new(), next_producer_id: 0, transforms: BTreeMap::new(), version: 0 }
    }

    /// Applies one record. Records that name a topic, partition or broker that is not (or
    /// already) there change nothing: the controller validates before it writes.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::InitCluster { cluster_id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                }
            }
            MetadataRecord::CreateTopic { name, topic } => {
                self.topics.entry(name.clone()).or_insert_with(|| topic.clone());
            }
            MetadataRecord::DeleteTopic { name } => {
                self.topics.remove(name);
            }
            MetadataRecord::AddPartitions { name, partitions } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.partitions.extend(partitions.iter().cloned());
                }
            }
            MetadataRecord::SetTopicConfigs { name, configs } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.configs = configs.clone();
                }
            }
            MetadataRecord::SetBrokerConfigs { resource, configs } => {
                if configs.is_empty() {
                    self.broker_configs.remove(resource);
                } else {
                    self.broker_configs.insert(resource.clone(), configs.clone());
                }
            }
            MetadataRecord::RegisterBroker { broker } => {
                self.brokers.retain(|b| b.node_id != broker.node_id);
                self.brokers.push(broker.clone());
                self.brokers.sort_by_key(|b| b.node_id);
            }
            MetadataRecord::UnregisterBroker { node_id } => {
                self.brokers.retain(|b| b.node_id != *node_id);
            }
            MetadataRecord::BrokerState { node_id, fenced, in_controlled_shutdown } => {
                if let Some(b) = self.brokers.iter_mut().find(|b| b.node_id == *node_id) {
                    b.fenced = *fenced;
                    b.in_controlled_shutdown = *in_controlled_shutdown;
                }
            }
            MetadataRecord::PartitionChange { topic, partition, state } => {
                if let Some(p) = self.partition_mut(topic, *partition) {
                    let reassignment = p.reassignment.take();
                    *p = PartitionImage::from(state.clone());
                    p.reassignment = reassignment;
                }
            }
            MetadataRecord::ProducerIdBlock { first, count, .. } => {
                self.next_producer_id = self.next_producer_id.max(first.saturating_add(*count));
            }
            MetadataRecord::SetReassignment { topic, partition, reassignment } => {
                if let Some(p) = self.partition_mut(topic, *partition) {
                    p.reassignment = reassignment.clone();
                }
            }
            MetadataRecord::DeployTransform { deployment } => {
                self.transforms.insert(deployment.name.clone(), deployment.clone());
            }
            MetadataRecord::DeleteTransform { name } => {
                self.transforms.remove(name);
            }
            MetadataRecord::SetTransformState { name, state } => {
                if let Some(t) = self.transforms.get_mut(name) {
                    t.state = state.clone();
                }
            }
        }
        self.version += 1;
    }

    /// The broker with this node id.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerImage> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// Brokers clients may use: registered and not fenced (what Metadata lists).
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.iter().filter(|b| !b.fenced)
    }

    /// Whether `node_id` may lead partitions and join ISRs.
    pub fn is_eligible(&self, node_id: i32) -> bool {
        self.broker(node_id).is_some_and(BrokerImage::is_eligible)
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionImage> {
        self.topics.get_mut(topic).and_then(|t| usize::try_from(partition).ok().and_then(|i| t.partitions.get_mut(i)))
    }

    /// Partitions being reassigned, in topic and partition order.
    pub fn reassignments(&self) -> impl Iterator<Item = (&str, i32, &PartitionImage, &Reassignment)> {
        self.topics.iter().flat_map(|(name, t)| {
            t.partitions.iter().enumerate().filter_map(move |(i, p)| p.reassignment.as_ref().map(|r| (name.as_str(), i as i32, p, r)))
        })
    }

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        self.topics.get(topic).and_then(|t| usize::try_from(partition).ok().and_then(|i| t.partitions.get(i)))
    }
}
