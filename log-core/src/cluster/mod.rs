//! A node's part in a multi-node cluster: the controller quorum it votes in, the active
//! controller's handling of brokers' requests, and the broker's side of membership.
//!
//! ```text
//!  broker ─ Register / Heartbeat / AlterPartition / admin ops ─► active controller (the
//!          (requests.rs; gRPC ControllerService, or in-process)   quorum's Raft leader)
//!                                                                   │ controller:: decisions
//!                                                                   ▼ records
//!  every voter ◄── committed metadata entries (fjord-quorum) ◄── Quorum::propose
//!        │ ReplicatedMetadata → MetadataCache
//!        ▼
//!  image applier ─► ReplicaManager (open/close partitions, become leader/follower)
//! ```
//!
//! A node started without `controller.quorum.voters` runs alone, with its metadata in a
//! local file, and none of this runs.

pub mod requests;

pub use requests::{AdminOp, ControllerRequest, ControllerResponse, QuorumView, VoterView};
