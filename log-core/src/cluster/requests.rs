//! What brokers ask the active controller, and its answers: the body of the inter-broker
//! `ControllerService.Call` envelope (JSON), also used in-process when this node is the
//! active controller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::broker::NewTopic;
use crate::controller::{ElectionKind, ElectionOutcome};
use crate::metadata::{BrokerImage, TopicImage, TransformDeployment, TransformState};
use crate::replication::{AlterIsr, LeaderAndIsr};

/// A request to the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// A broker starts (a new incarnation).
    Register {
        /// Its registration.
        broker: BrokerImage,
    },
    /// A broker is alive; it has applied the metadata image up to `applied_version`.
    Heartbeat {
        /// Its node id.
        node_id: i32,
        /// Its incarnation.
        incarnation: u64,
        /// The image version it has applied.
        applied_version: u64,
        /// It wants to stop: move its leadership away.
        shutting_down: bool,
    },
    /// A leader's ISR change.
    AlterPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The change.
        change: AlterIsr,
    },
    /// An admin operation, forwarded from the broker a client asked.
    Admin(AdminOp),
    /// Leader elections an operator asks for (ElectLeaders).
    ElectLeaders {
        /// Preferred or unclean.
        kind: ElectionKind,
        /// The partitions; `None`: every partition.
        partitions: Option<Vec<(String, i32)>>,
    },
    /// The metadata quorum's state as its leader sees it (DescribeQuorum).
    DescribeQuorum,
    /// A broker found another's inter-broker port refusing connections (its process is gone).
    ReportRefused {
        /// The broker refusing connections.
        broker: i32,
    },
    /// A block of producer ids for a broker (Kafka's AllocateProducerIds).
    AllocateProducerIds {
        /// The broker.
        node_id: i32,
    },
}

/// An admin operation on topics or configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminOp {
    /// CreateTopics (one topic).
    CreateTopic {
        /// The topic.
        new: NewTopic,
        /// Only check.
        validate_only: bool,
    },
    /// DeleteTopics (one topic).
    DeleteTopic {
        /// Its name.
        name: String,
    },
    /// CreatePartitions (one topic).
    CreatePartitions {
        /// The topic.
        name: String,
        /// The new partition count.
        count: i32,
        /// Replicas of each new partition, if given.
        assignments: Option<Vec<Vec<i32>>>,
        /// Only check.
        validate_only: bool,
    },
    /// A topic's config overrides replaced.
    SetTopicConfigs {
        /// The topic.
        name: String,
        /// The complete new set.
        configs: BTreeMap<String, String>,
        /// Only check.
        validate_only: bool,
    },
    /// A partition reassignment started, replaced (`target`) or cancelled (`None`).
    Reassign {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The target replicas.
        target: Option<Vec<i32>>,
    },
    /// A broker resource's dynamic configs replaced.
    SetBrokerConfigs {
        /// `""` or a node id.
        resource: String,
        /// The complete new set.
        configs: BTreeMap<String, String>,
        /// Only check.
        validate_only: bool,
    },
    /// A transform deployed (checked by the broker that took the request).
    DeployTransform {
        /// The deployment.
        deployment: TransformDeployment,
    },
    /// A transform removed.
    DeleteTransform {
        /// Its name.
        name: String,
    },
    /// A transform's state recorded.
    SetTransformState {
        /// Its name.
        name: String,
        /// The state.
        state: TransformState,
    },
}

/// The active controller's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerResponse {
    /// Registered (fenced until it catches up and heartbeats).
    Registered,
    /// A heartbeat's answer.
    Heartbeat {
        /// Still fenced.
        fenced: bool,
        /// During a controlled shutdown: it leads nothing movable any more and may stop.
        shutdown_ready: bool,
    },
    /// The partition's state after an ISR change (committed, or the current one).
    Partition(LeaderAndIsr),
    /// A created (or validated) topic.
    Topic(TopicImage),
    /// A deleted topic's id.
    Deleted(Uuid),
    /// Done.
    Done,
    /// Each partition's election outcome.
    Elections(Vec<(String, i32, ElectionOutcome)>),
    /// The metadata quorum.
    Quorum(QuorumView),
    /// Producer ids `[first, first + count)`, now the asking broker's.
    ProducerIds {
        /// The first id.
        first: i64,
        /// How many.
        count: i64,
    },
    /// Refused, with a Kafka error code and a message.
    Error {
        /// The Kafka error code.
        code: i16,
        /// What went wrong.
        message: String,
    },
    /// This node is not the active controller; try `leader` (if known).
    NotController {
        /// The active controller's node id, if known.
        leader: Option<i32>,
    },
}

/// The metadata quorum as its leader sees it: what DescribeQuorum and `fjord cluster
/// describe` report. Offsets are Raft log positions (one past the last index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumView {
    /// The leader's node id.
    pub leader_id: i32,
    /// The Raft term (Kafka's leader epoch of the metadata log).
    pub leader_epoch: i32,
    /// One past the last committed entry.
    pub high_watermark: i64,
    /// Every voter.
    pub voters: Vec<VoterView>,
    /// Every observer: a broker-only node receiving the log without a vote.
    #[serde(default)]
    pub observers: Vec<VoterView>,
}

/// One voter (or observer) of the quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterView {
    /// Its node id.
    pub node_id: i32,
    /// One past the last entry the leader knows it holds (-1: unknown).
    pub log_end_offset: i64,
    /// Unix ms of its last answer to the leader (-1: never).
    pub last_fetch_timestamp: i64,
    /// Unix ms when it last had the leader's whole log (-1: never).
    pub last_caught_up_timestamp: i64,
}
