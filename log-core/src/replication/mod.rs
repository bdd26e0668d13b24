//! Replication in Kafka's ISR model, as pure logic: events in, effects out.
//!
//! Nothing here does I/O, reads a clock or holds a lock. A driver (the replica manager)
//! feeds each partition's state machine what happened — a local append, a follower's fetch,
//! a leader-and-ISR change from the metadata image, the passing of time — and performs the
//! effects it returns: publish a new high watermark, send an ISR change to the controller,
//! truncate or append to the local log. That is what lets the simulation in
//! `log-core/tests/replication/` run thousands of seeded schedules of crashes, lost and
//! delayed messages deterministically.
//!
//! - [`leader`]: [`LeaderReplica`], one partition on its leader — follower progress, the
//!   high watermark, ISR shrink and expand, and when an acks=all produce may be answered.
//! - [`follower`]: [`FollowerReplica`], one partition on a follower — what to fetch next and
//!   what a fetch answer means for the local log (append, truncate to the divergence point,
//!   start over at the leader's log start).
//! - [`divergence`]: the check both sides share: does a replica's log, described by its end
//!   offset and last epoch, continue the leader's log, and if not, where do they part?
//!
//! Offsets are `u64`; times are milliseconds on a monotonic clock the driver owns.

pub mod divergence;
pub mod follower;
pub mod leader;

pub use divergence::{check_fetch_position, EpochHistory, FetchPosition, PositionCheck};
pub use follower::{FetchAnswer, FollowerAction, FollowerReplica, LocalLog};
pub use leader::{AckState, AlterIsr, FollowerFetch, FollowerFetchOutcome, LeaderEffect, LeaderReplica, ReplicationConfig};

/// A partition's leader and in-sync replicas as the controller last committed them (Kafka's
/// `LeaderAndIsr`): what a broker learns from the metadata image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaderAndIsr {
    /// The leader's node id, or -1 when the partition has none (offline).
    pub leader: i32,
    /// Bumped on every change of leader.
    pub leader_epoch: i32,
    /// Bumped on every change of the partition's state (leader, ISR, replicas).
    pub partition_epoch: i32,
    /// All replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
}
