//! The transform admin requests `fjord transform` sends on the Kafka listener, and their
//! answers: JSON bodies in Fjord's extension frames ([`crate::protocol::extensions`]).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::metadata::{OnError, TransformDeployment, TransformState};

/// Version 0 of the transform admin API: the only one.
pub const TRANSFORM_ADMIN_VERSION: i16 = 0;

/// The largest plugin a deployment may carry. The plugin travels in the metadata log (a Raft
/// entry, JSON-encoded on the wire, that followers must take within a heartbeat interval) and
/// lives in every broker's metadata image and snapshot: a 6 MB plugin wedged a debug-built
/// quorum's replication here, 2 MB ones deploy. Rust and C plugins are far smaller (the
/// examples are 19–108 KB).
pub const MAX_PLUGIN_BYTES: usize = 2 << 20;

/// A request to the transform admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum TransformRequest {
    /// Deploy a transform (or deploy one of that name again, replacing it).
    Deploy {
        /// Its name.
        name: String,
        /// The topic it reads.
        input: String,
        /// The topics it may write (the first is the default).
        outputs: Vec<String>,
        /// Settings for the plugin's `init`.
        config: Vec<(String, String)>,
        /// What a failed record does.
        on_error: OnError,
        /// What the plugin may reach beyond its memory (`stderr`, `clock`).
        #[serde(default)]
        allow: Vec<String>,
        /// The plugin.
        #[serde(with = "crate::metadata::base64_bytes")]
        wasm: Arc<[u8]>,
    },
    /// Every deployment.
    List,
    /// One deployment.
    Describe {
        /// Its name.
        name: String,
    },
    /// Remove a deployment.
    Delete {
        /// Its name.
        name: String,
    },
}

/// The answer to a [`TransformRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum TransformResponse {
    /// Deployed, or one deployment described.
    Transform {
        /// The deployment (boxed: it is far larger than the other answers).
        transform: Box<TransformView>,
    },
    /// Every deployment.
    Transforms {
        /// By name.
        transforms: Vec<TransformView>,
    },
    /// Removed.
    Deleted {
        /// Its name.
        name: String,
    },
    /// Refused.
    Error {
        /// The Kafka error code saying what kind of refusal.
        error_code: i16,
        /// What went wrong and what to do.
        message: String,
    },
}

/// A deployment as the admin API shows it (everything but the plugin's bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformView {
    /// Its name.
    pub name: String,
    /// The topic it reads.
    pub input: String,
    /// The topics it may write.
    pub outputs: Vec<String>,
    /// The plugin's settings.
    pub config: Vec<(String, String)>,
    /// `dead-letter`, `skip` or `stop`.
    pub on_error: String,
    /// The dead-letter topic, for `dead-letter`.
    pub dead_letter_topic: Option<String>,
    /// What the plugin may reach beyond its memory.
    #[serde(default)]
    pub allow: Vec<String>,
    /// `running` or `stopped`.
    pub state: String,
    /// Why it stopped, when it did.
    pub stopped: Option<StoppedView>,
    /// The consumer group holding its input offsets.
    pub group_id: String,
    /// Hex SHA-256 of the plugin.
    pub wasm_sha256: String,
    /// The plugin's size.
    pub wasm_bytes: usize,
    /// When it was deployed (Unix ms).
    pub deployed_at_ms: i64,
}

/// Where and why a transform stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedView {
    /// The input partition.
    pub partition: i32,
    /// The offset of the record it failed on.
    pub offset: i64,
    /// The failure.
    pub reason: String,
}

impl From<&TransformDeployment> for TransformView {
    fn from(d: &TransformDeployment) -> Self {
        Self {
            name: d.name.clone(),
            input: d.input.clone(),
            outputs: d.outputs.clone(),
            config: d.config.clone(),
            on_error: d.on_error.name().to_string(),
            dead_letter_topic: d.on_error.dead_letter_topic().map(str::to_string),
            allow: d.allow.clone(),
            state: d.state.name().to_string(),
            stopped: match &d.state {
                TransformState::Running => None,
                TransformState::Stopped { partition, offset, reason } => {
                    Some(StoppedView { partition: *partition, offset: *offset, reason: reason.clone() })
                }
            },
            group_id: d.group_id(),
            wasm_sha256: d.wasm_sha256.clone(),
            wasm_bytes: d.wasm.len(),
            deployed_at_ms: d.deployed_at_ms,
        }
    }
}
