//! [`RaftGrpc`]: the gRPC service peers replicate to. It decodes each request, hands it to the
//! local Raft and returns the Raft's result, error included, in a [`RaftReply`]; a gRPC error
//! status means only that the request itself was undecodable.

use std::fmt;

use openraft::raft::{AppendEntriesRequest, VoteRequest};
use openraft::{BasicNode, Snapshot, SnapshotMeta, Vote};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use super::{decode, encode};
use crate::pb::raft_reply::Result as Reply;
use crate::pb::raft_service_server::RaftService;
use crate::pb::{RaftReply, RaftRequest, SnapshotRequest};
use crate::types::{NodeId, Raft, TypeConfig};

/// The Raft gRPC service of one node; mount it with [`crate::Quorum::raft_service`].
#[derive(Clone)]
pub struct RaftGrpc {
    pub(crate) raft: Raft,
}

impl fmt::Debug for RaftGrpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaftGrpc").finish_non_exhaustive()
    }
}

fn reply<T: Serialize, E: Serialize>(result: Result<T, E>) -> Result<Response<RaftReply>, Status> {
    let encoded = match result {
        Ok(value) => encode(&value).map(Reply::Ok),
        Err(e) => encode(&e).map(Reply::Err),
    };
    let result =
        encoded.map_err(|e| Status::internal(format!("cannot encode the raft reply: {e}")))?;
    Ok(Response::new(RaftReply {
        result: Some(result),
    }))
}

fn request<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    decode(bytes).map_err(|e| Status::invalid_argument(format!("undecodable raft request: {e}")))
}

#[tonic::async_trait]
impl RaftService for RaftGrpc {
    async fn append_entries(
        &self,
        req: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = request(&req.get_ref().data)?;
        reply(self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let rpc: VoteRequest<NodeId> = request(&req.get_ref().data)?;
        reply(self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let req = req.into_inner();
        let vote: Vote<NodeId> = request(&req.vote)?;
        let meta: SnapshotMeta<NodeId, BasicNode> = request(&req.meta)?;
        let snapshot = Snapshot {
            meta,
            snapshot: Box::new(req.data.to_vec()),
        };
        reply(self.raft.install_full_snapshot(vote, snapshot).await)
    }
}
