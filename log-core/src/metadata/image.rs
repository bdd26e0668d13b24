//! [`MetadataImage`]: the cluster as the metadata log describes it — registered brokers,
//! topics, their partitions (leader, epochs, replicas, ISR), topic configs and dynamic broker
//! configs — and how each [`MetadataRecord`] changes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::MetadataRecord;
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
}

impl PartitionImage {
    /// A new partition on `replicas`, led by the first, all in sync.
    pub fn new(replicas: Vec<i32>) -> Self {
        Self { leader: replicas.first().copied().unwrap_or(-1), leader_epoch: 0, partition_epoch: 0, isr: replicas.clone(), replicas }
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
        Self { leader: s.leader, leader_epoch: s.leader_epoch, partition_epoch: s.partition_epoch, replicas: s.replicas, isr: s.isr }
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
    /// Number of records applied; grows with every change.
    pub version: u64,
}

impl MetadataImage {
    /// An empty image of a new cluster.
    pub fn new(cluster_id: String, controller_id: i32) -> Self {
        Self { cluster_id, controller_id, brokers: Vec::new(), topics: BTreeMap::new(), broker_configs: BTreeMap::new(), version: 0 }
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
                if let Some(p) = self.topics.get_mut(topic).and_then(|t| usize::try_from(*partition).ok().and_then(|i| t.partitions.get_mut(i))) {
                    *p = PartitionImage::from(state.clone());
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

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        self.topics.get(topic).and_then(|t| usize::try_from(partition).ok().and_then(|i| t.partitions.get(i)))
    }
}
