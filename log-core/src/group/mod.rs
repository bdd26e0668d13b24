//! The group coordinator: Kafka's classic consumer group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup — with KIP-394 required member ids, KIP-345 static membership) and
//! offset storage (OffsetCommit, OffsetFetch, OffsetDelete), plus ListGroups, DescribeGroups
//! and DeleteGroups. The broker's handlers decode a request, call the [`GroupCoordinator`]
//! method with its API version, and encode the response they get back.
//!
//! ```text
//! handler ──► GroupCoordinator (coordinator.rs) ── group by id, each behind its own lock
//!               join.rs  sync.rs  membership.rs  offsets.rs  admin.rs   one API family each
//!                  │        │          │             │
//!                  ▼        ▼          ▼             ▼
//!               Group (state.rs) ── rebalance.rs: the state machine, pure logic on Now
//!                  │ persisted changes                         ▲ expiry.rs: background ticks
//!                  ▼                                           │ (sessions, join deadlines,
//!               records.rs (Kafka's __consumer_offsets layout)  │  offset retention)
//!                  ▼
//!               OffsetsTopic (store.rs) ── the broker's __consumer_offsets; load.rs replays it
//! ```
//!
//! Invariants: a commit and a leader's assignment are durable before they are answered; a
//! group's records reach the offsets topic in the order its state changed; nothing here panics
//! on a request or on the offsets topic's bytes. There is a single coordinator, so
//! `NOT_COORDINATOR` is never returned, and `load` completes before any request is served.

mod admin;
mod config;
mod consumer_protocol;
mod coordinator;
mod error;
mod expiry;
mod join;
mod load;
mod membership;
mod offsets;
mod rebalance;
pub mod records;
mod state;
mod store;
mod sync;

pub use config::GroupConfig;
pub use coordinator::{ClientInfo, GroupCoordinator};
pub use error::GroupError;
pub use state::GroupState;
pub use store::{AppendFuture, MemoryOffsetsTopic, OffsetsRecord, OffsetsTopic};
