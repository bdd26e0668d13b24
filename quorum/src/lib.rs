//! Fjord's Raft quorum: a small group of voters that agree on one log of opaque byte entries
//! and apply it, in order, to a state machine the caller supplies. It knows nothing of Kafka —
//! the broker's metadata records are just bytes here.
//!
//! ```text
//!  caller ── Quorum::propose(bytes) ──► openraft (leader) ── AppendEntries over gRPC ──► voters
//!                                          │  storage::LogStore: raft/log, fsynced
//!                                          ▼  once a majority has it (committed)
//!                 StateMachine::apply(index, bytes) on every voter, in log order
//!                                          │  every `snapshot_every_entries`
//!                                          ▼
//!       StateMachine::snapshot() ─► raft/snapshot; the log before it purged
//!       (a voter too far behind is sent the whole snapshot: StateMachine::restore)
//!
//!  start: restore raft/snapshot ─► re-apply the committed log after it ─► rejoin
//! ```
//!
//! - [`Quorum`] runs one node: [`Quorum::start`], [`Quorum::propose`],
//!   [`Quorum::status`], [`Quorum::watch_leader`], [`Quorum::wait_applied`],
//!   [`Quorum::shutdown`]. Its [`Quorum::raft_service`] is mounted on the caller's gRPC server.
//! - [`StateMachine`] is the caller's side, with its contract.
//! - [`storage`] is the durable state; `transport` the gRPC between voters (`proto/raft.proto`).
//!
//! The membership is fixed: the voters given at start. Built on openraft 0.9.

mod config;
mod error;
mod quorum;
mod state_machine;
mod status;
pub mod storage;
mod transport;
mod types;

/// The gRPC code generated from `proto/raft.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("fjord.quorum.v1");
}

pub use config::QuorumConfig;
pub use error::QuorumError;
pub use quorum::Quorum;
pub use state_machine::StateMachine;
pub use status::{LeaderState, QuorumStatus, VoterStatus};
pub use transport::server::RaftGrpc;
pub use types::{NodeId, Payload, TypeConfig};
