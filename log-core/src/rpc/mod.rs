//! The inter-broker gRPC services (`proto/fjord/broker/v1/broker.proto`, tonic and prost):
//! replica fetch between brokers, and the envelope the controller's requests travel in.
//!
//! ```text
//!  follower broker                                         leader broker
//!  ReplicaFetcherManager ── one fetcher task per leader ──► ReplicaFetchService
//!    Partition::next_follower_fetch (each followed           per stream, one request at a time:
//!    partition led by that broker, batched)                    Partition::serve_follower_fetch
//!        │  LeaderStream: one bidirectional stream,            (in place at the log end); nothing
//!        │  one request in flight                              new → long poll on the HW and log end
//!        ▼                                                     (Partition::subscribe_log_end)
//!    Partition::apply_follower_answer (small: in place) ◄── answers, in request order
//! ```
//!
//! - [`replica_server`]: [`ReplicaFetchService`], the leader's side, over a [`ReplicaSource`].
//! - [`replica_fetcher`]: [`ReplicaFetcherManager`], the follower's side, over a
//!   [`FollowerSource`]: one `leader_fetcher` task per leader broker.
//! - `leader_stream`: one follower-to-leader stream (connect, exchange, deadlines).
//! - `wire`: the conversions between the messages and [`crate::replication`]'s types.
//! - [`controller`]: the controller envelope, served ([`ControllerCalls`]) and sent
//!   ([`GrpcControllerTransport`]).
//! - [`pb`]: the generated code; [`pb::controller_service_server::ControllerService`] is the
//!   trait the controller's request handler implements.
//!
//! Replica fetches run on their own tasks, never on a Kafka client's request path. Their file
//! work runs on the blocking pool, except for a follower keeping up: its leader reads records
//! just written (page cache) and it appends at most [`IN_PLACE_BYTES`] a round on the
//! fetch's own task, which spares each round the hand-offs to the blocking pool and back — on
//! two shared cores they cost more than the work. Neither side panics on what the other
//! sends: bad input is answered with Kafka error codes, a bad answer drops the stream and the
//! fetcher reconnects.

pub mod controller;
mod leader_fetcher;
mod leader_stream;
pub mod replica_fetcher;
pub mod replica_server;
mod wire;

/// HTTP/2 flow-control window per stream on inter-broker connections, both ways: a replica
/// fetch answer (10 MiB at most by default) flows without waiting for window updates.
pub const WINDOW_BYTES: u32 = 16 << 20;
/// A replica-fetch answer carrying at most this many record bytes is applied on the
/// follower's fetch task rather than the blocking pool, and a follower whose last answer
/// carried at most this much is served on its stream's task: a follower keeping up.
pub const IN_PLACE_BYTES: usize = 1 << 20;

/// The largest HTTP/2 frame a node accepts on inter-broker connections (h2's default is
/// 16 KiB; the protocol allows up to 16 MiB).
pub const MAX_FRAME_BYTES: u32 = 1 << 20;

/// The gRPC code generated from `proto/fjord/broker/v1/broker.proto`.
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod pb {
    tonic::include_proto!("fjord.broker.v1");
}

pub use pb::controller_service_client::ControllerServiceClient;

/// The largest controller call either way: a transform deployment carries its plugin
/// (base64 in JSON) to the controller.
pub const MAX_CONTROLLER_MESSAGE_BYTES: usize = 128 << 20;
pub use pb::controller_service_server::{ControllerService, ControllerServiceServer};
pub use controller::{ControllerCalls, GrpcControllerTransport};
pub use replica_fetcher::{FollowerSource, ReplicaFetcherConfig, ReplicaFetcherManager};
pub use replica_server::{ReplicaFetchService, ReplicaSource};

use tokio::sync::watch;

/// Resolves once `shutdown` turns true, or once its sender is gone (no one can signal any
/// more: the broker is being dropped).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Whether [`stopped`] would resolve at once.
fn is_stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}
