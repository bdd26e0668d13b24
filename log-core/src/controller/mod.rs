//! The controller's decisions, as pure logic over partition states and broker liveness.
//!
//! The controller owns the metadata log: it validates what brokers and admin clients ask,
//! decides, and writes the outcome as metadata records. This module holds the decisions and
//! nothing else — no I/O, no clock, no Raft — so the replication simulation and unit tests run
//! them directly, and the Raft-backed controller calls the same functions.
//!
//! - [`partition_change`]: a partition's next leader and ISR — leader election (clean by
//!   default, unclean when allowed), brokers leaving and returning, preferred leaders.
//! - [`alter_partition`]: the checks on a leader's ISR change (Kafka's AlterPartition).
//! - [`liveness`]: broker sessions: heartbeats and when a silent broker is fenced.
//! - [`brokers`]: the records for brokers registering, being fenced and unfenced, shutting
//!   down cleanly, their ISR changes, and preferred-leader elections — image in, records out.
//! - [`elections`]: the leader elections an operator asks for (ElectLeaders: preferred or
//!   unclean), with each partition's outcome.
//! - [`reassignment`]: moving partitions to new replicas (AlterPartitionReassignments):
//!   start, replace, cancel, and finish once the target is in sync.
//! - [`placement`]: which brokers hold a new partition's replicas (spread across brokers and
//!   racks, leaders balanced).

pub mod alter_partition;
pub mod brokers;
pub mod elections;
pub mod liveness;
pub mod partition_change;
pub mod placement;
pub mod reassignment;

pub use alter_partition::{validate_alter_isr, AlterIsrError};
pub use elections::{elect_leaders, ElectionKind, ElectionOutcome, Elections};
pub use liveness::BrokerSessions;
pub use partition_change::{Election, PartitionChange};
pub use reassignment::{alter_reassignment, complete_ready, ReassignError};
pub use placement::{assign_replicas, BrokerPlacement, PlacementError};
