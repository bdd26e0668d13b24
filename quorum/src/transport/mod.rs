//! Raft between voters over gRPC (`proto/raft.proto`): [`client`] is openraft's network — one
//! lazily connected channel per peer, a client-side deadline on every call — and [`server`]
//! answers it by calling the local Raft. openraft's messages travel as JSON inside protobuf
//! `bytes` fields.

pub(crate) mod client;
pub(crate) mod server;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes an openraft message.
fn encode<T: Serialize>(value: &T) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(value).map(Bytes::from)
}

/// Decodes an openraft message.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}
