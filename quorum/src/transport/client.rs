//! openraft's network over gRPC: [`NetworkFactory`] makes one [`PeerClient`] per peer, on a
//! channel that connects lazily (so a peer that is down never delays a start; it fails each
//! call instead). Every call has a client-side deadline — openraft's `hard_ttl` — since the
//! `grpc-timeout` header is enforced only by a server that answers.
//!
//! Failures map onto openraft's errors so that its replication reacts as intended:
//!
//! | what happened                                 | openraft error |
//! |-----------------------------------------------|----------------|
//! | the deadline passed                           | `Timeout`      |
//! | gRPC `Unavailable` (refused, reset: peer down) | `Unreachable` (openraft backs off) |
//! | any other gRPC status, an undecodable reply   | `Network`      |
//! | the peer's Raft answered with an error        | `RemoteError`  |
//! | entries over `max_message_bytes`              | `PayloadTooLarge` (openraft sends fewer) |
//!
//! A successful AppendEntries (heartbeats included) is recorded in the [`PeerClock`] as the
//! peer's last contact, for [`crate::QuorumStatus`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, BasicNode, OptionalSend, Snapshot, Vote};
use serde::de::DeserializeOwned;
use tonic::transport::{Channel, Endpoint};
use tonic::{Response, Status};

use super::{decode, encode};
use crate::pb::raft_reply::Result as Reply;
use crate::pb::raft_service_client::RaftServiceClient;
use crate::pb::{RaftReply, RaftRequest, SnapshotRequest};
use crate::status::PeerClock;
use crate::types::{NodeId, TypeConfig};

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

/// Makes the [`PeerClient`]s openraft replicates through.
#[derive(Debug, Clone)]
pub(crate) struct NetworkFactory {
    pub(crate) me: NodeId,
    pub(crate) clock: Arc<PeerClock>,
    pub(crate) max_message_bytes: usize,
    pub(crate) local_address: Option<std::net::IpAddr>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        let client = match Endpoint::from_shared(format!("http://{}", node.addr)) {
            Ok(endpoint) => Some(
                RaftServiceClient::new(
                    endpoint
                        .connect_timeout(Duration::from_secs(1))
                        .local_address(self.local_address)
                        .connect_lazy(),
                )
                .max_decoding_message_size(self.max_message_bytes)
                .max_encoding_message_size(self.max_message_bytes),
            ),
            Err(e) => {
                tracing::warn!(target, addr = %node.addr, error = %e, "a raft peer's address is not host:port");
                None
            }
        };
        PeerClient {
            me: self.me,
            target,
            client,
            clock: self.clock.clone(),
            max_message_bytes: self.max_message_bytes,
        }
    }
}

/// The gRPC client of one peer.
#[derive(Debug)]
pub(crate) struct PeerClient {
    me: NodeId,
    target: NodeId,
    /// `None` when the peer's address is unusable: every call fails as unreachable.
    client: Option<RaftServiceClient<Channel>>,
    clock: Arc<PeerClock>,
    max_message_bytes: usize,
}

/// Why a call got no reply.
enum CallError {
    Status(Status),
    Timeout(Timeout<NodeId>),
}

impl PeerClient {
    /// Sends one call made by `send` with a client-side deadline of `ttl`.
    async fn call<F, Fut>(
        &self,
        action: RPCTypes,
        ttl: Duration,
        send: F,
    ) -> Result<RaftReply, CallError>
    where
        F: FnOnce(RaftServiceClient<Channel>) -> Fut,
        Fut: Future<Output = Result<Response<RaftReply>, Status>>,
    {
        let Some(client) = self.client.clone() else {
            return Err(CallError::Status(Status::unavailable(
                "the peer's address is not host:port",
            )));
        };
        match tokio::time::timeout(ttl, send(client)).await {
            Ok(Ok(reply)) => Ok(reply.into_inner()),
            Ok(Err(status)) => Err(CallError::Status(status)),
            Err(_) => Err(CallError::Timeout(Timeout {
                action,
                id: self.me,
                target: self.target,
                timeout: ttl,
            })),
        }
    }

    /// The peer's answer, or the openraft error for its absence (see the module docs). The
    /// error is openraft's, as large as openraft makes it.
    #[allow(clippy::result_large_err)]
    fn answer<T: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        reply: Result<RaftReply, CallError>,
    ) -> Result<T, RPCError<NodeId, BasicNode, E>> {
        let reply = match reply {
            Ok(reply) => reply,
            Err(CallError::Timeout(t)) => return Err(RPCError::Timeout(t)),
            Err(CallError::Status(s)) if s.code() == tonic::Code::Unavailable => {
                return Err(RPCError::Unreachable(Unreachable::new(&s)));
            }
            Err(CallError::Status(s)) => return Err(network_error(&s)),
        };
        match reply.result {
            Some(Reply::Ok(bytes)) => decode(&bytes).map_err(|e| network_error(&e)),
            Some(Reply::Err(bytes)) => {
                let e: E = decode(&bytes).map_err(|e| network_error(&e))?;
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            None => Err(network_error(&Status::internal(
                "a RaftReply with neither ok nor err",
            ))),
        }
    }
}

fn network_error<X: std::error::Error + 'static, E: std::error::Error>(
    e: &X,
) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(e))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        let data = encode(&rpc).map_err(|e| network_error(&e))?;
        if data.len() > self.max_message_bytes && rpc.entries.len() > 1 {
            // openraft sends again with fewer entries.
            let hint = rpc.entries.len() as u64 / 2;
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(hint),
            ));
        }
        let reply = self
            .call(
                RPCTypes::AppendEntries,
                option.hard_ttl(),
                |mut c| async move { c.append_entries(RaftRequest { data }).await },
            )
            .await;
        let answer = self.answer(reply);
        if answer.is_ok() {
            self.clock.contacted(self.target);
        }
        answer
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        let data = encode(&rpc).map_err(|e| network_error(&e))?;
        let reply = self
            .call(RPCTypes::Vote, option.hard_ttl(), |mut c| async move {
                c.vote(RaftRequest { data }).await
            })
            .await;
        self.answer(reply)
    }

    /// The chunked snapshot transfer, which openraft never uses once `full_snapshot` is
    /// implemented (feature `generic-snapshot-data`).
    #[allow(deprecated)]
    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcError<InstallSnapshotError>> {
        Err(RPCError::Network(NetworkError::new(&AnyError::error(
            "chunked snapshots are not supported",
        ))))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<NodeId>,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let request = encode(&vote).and_then(|vote| Ok((vote, encode(&snapshot.meta)?)));
        let (vote, meta) = request.map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let data = bytes::Bytes::from(*snapshot.snapshot);
        if data.len() > self.max_message_bytes {
            tracing::error!(
                target_node = self.target,
                bytes = data.len(),
                limit = self.max_message_bytes,
                "the snapshot is larger than max_message_bytes and cannot be sent"
            );
        }
        let send = |mut c: RaftServiceClient<Channel>| async move {
            c.install_snapshot(SnapshotRequest { vote, meta, data })
                .await
        };
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            reply = self.call(RPCTypes::InstallSnapshot, option.hard_ttl(), send) => reply,
        };
        self.answer::<SnapshotResponse<NodeId>, Fatal<NodeId>>(reply)
            .map_err(|e| match e {
                RPCError::Timeout(t) => StreamingError::Timeout(t),
                RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                RPCError::Network(n) => StreamingError::Network(n),
                RPCError::RemoteError(r) => StreamingError::RemoteError(r),
                RPCError::PayloadTooLarge(p) => StreamingError::Network(NetworkError::new(&p)),
            })
    }
}
