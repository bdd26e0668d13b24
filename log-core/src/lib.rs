//! `fjord-log-core`: the commit-log cluster.
//!
//! It holds the storage engine, the Kafka protocol (framing and codecs), the broker with its
//! request handlers, the group coordinator, and the inter-broker gRPC services ([`rpc`]:
//! replica fetch); the Raft metadata controller will join them. The path data takes:
//!
//! ```text
//!  produce request bytes ──► storage::PartitionLog::append ──► validate each RecordBatch v2
//!                                 │                             (length, magic, CRC32C, counts)
//!                                 ▼
//!                           assign offsets / LogAppendTime ──► active Segment (.log + .index + .timeindex)
//!                                                                │ roll by segment.bytes / segment.ms
//!  fetch request ──► PartitionLog::read(offset, max_bytes) ◄─────┘ whole batches, one read per fetch
//!
//!  background: retention (delete whole segments) · compaction (newest record per key)
//! ```
//!
//! Invariant: only [`storage`] knows the on-disk format. Nothing here panics on file contents.

pub mod broker;
pub mod cluster;
pub mod controller;
pub mod group;
pub mod metadata;
pub mod protocol;
pub mod replication;
pub mod rpc;
pub mod server;
pub mod storage;
pub mod transform;

mod error;

pub use error::Error;
