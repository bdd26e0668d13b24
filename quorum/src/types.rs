//! The openraft type configuration: node ids are `u64`, a node is its gRPC address
//! (`BasicNode`), an entry's application data is an opaque [`Payload`], a snapshot is the state
//! machine's bytes (`Vec<u8>`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A voter's id.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft's type configuration for Fjord's quorum.
    pub TypeConfig:
        D = Payload,
        R = (),
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Vec<u8>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The openraft handle for [`TypeConfig`].
pub(crate) type Raft = openraft::Raft<TypeConfig>;

/// One log entry's application bytes, opaque to the quorum. Serialised as a base64 string so
/// that the JSON of an openraft entry (on disk and on the wire) stays compact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload(pub Vec<u8>);

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        BASE64
            .decode(text.as_bytes())
            .map(Payload)
            .map_err(serde::de::Error::custom)
    }
}
