//! [`MetadataRecord`]: one change to the cluster metadata — the entries of the metadata log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BrokerImage, PartitionImage, Reassignment, TopicImage, TransformDeployment, TransformState};
use crate::replication::LeaderAndIsr;

/// One change to the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// The cluster is formed: its id (the first record of a replicated metadata log).
    InitCluster {
        /// The cluster id, as Kafka prints them.
        cluster_id: String,
    },
    /// A topic is created.
    CreateTopic {
        /// Its name.
        name: String,
        /// Its definition.
        topic: TopicImage,
    },
    /// A topic is removed.
    DeleteTopic {
        /// Its name.
        name: String,
    },
    /// Partitions are appended to a topic.
    AddPartitions {
        /// The topic.
        name: String,
        /// The new partitions, in index order after the existing ones.
        partitions: Vec<PartitionImage>,
    },
    /// A topic's config overrides are replaced.
    SetTopicConfigs {
        /// The topic.
        name: String,
        /// The complete new set of overrides.
        configs: BTreeMap<String, String>,
    },
    /// A broker resource's dynamic settings are replaced (`""`: the cluster-wide default).
    SetBrokerConfigs {
        /// The resource name.
        resource: String,
        /// The complete new set; empty removes the resource's entry.
        configs: BTreeMap<String, String>,
    },
    /// A broker registers (or re-registers after a restart, with a new incarnation).
    RegisterBroker {
        /// Its registration.
        broker: BrokerImage,
    },
    /// A broker is removed from the cluster.
    UnregisterBroker {
        /// Its node id.
        node_id: i32,
    },
    /// A broker is fenced or unfenced, or starts a controlled shutdown.
    BrokerState {
        /// Its node id.
        node_id: i32,
        /// Fenced: it leads nothing and joins no ISR.
        fenced: bool,
        /// Moving its leadership away before it stops.
        in_controlled_shutdown: bool,
    },
    /// A partition's leader, ISR or replicas change.
    PartitionChange {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
        /// The new state.
        state: LeaderAndIsr,
    },
    /// A broker takes the producer ids `[first, first + count)`.
    ProducerIdBlock {
        /// The broker.
        node_id: i32,
        /// The first id.
        first: i64,
        /// How many.
        count: i64,
    },
    /// A partition reassignment starts, changes (`Some`), or ends (`None`).
    SetReassignment {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
        /// The reassignment.
        reassignment: Option<Reassignment>,
    },
    /// A transform is deployed, or deployed again (replacing the one of that name).
    DeployTransform {
        /// The deployment.
        deployment: TransformDeployment,
    },
    /// A transform is removed.
    DeleteTransform {
        /// Its name.
        name: String,
    },
    /// A transform stops or runs again.
    SetTransformState {
        /// Its name.
        name: String,
        /// The new state.
        state: TransformState,
    },
}
