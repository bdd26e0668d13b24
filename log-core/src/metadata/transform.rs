//! [`TransformDeployment`]: a WebAssembly transform deployed on the cluster — its plugin, the
//! topic it reads, the topics it may write, what happens to a record that fails, and whether
//! it runs. Kept in the metadata image, so every broker knows every deployment and a
//! deployment survives restarts and moves with partition leadership.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a transform does with a record its plugin fails on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "policy")]
pub enum OnError {
    /// Write the input record to this topic, with headers saying why, and go on.
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
    },
    /// Drop the record (logged) and go on.
    Skip,
    /// Stop the whole deployment; the record stays the next one to process.
    Stop,
}

impl OnError {
    /// The policy's name, as `--on-error` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DeadLetter { .. } => "dead-letter",
            Self::Skip => "skip",
            Self::Stop => "stop",
        }
    }

    /// The dead-letter topic, for that policy.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        match self {
            Self::DeadLetter { topic } => Some(topic),
            Self::Skip | Self::Stop => None,
        }
    }
}

/// Whether a deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum TransformState {
    /// Runs next to the leader of each input partition.
    Running,
    /// Stopped by a record it failed on (`on-error stop`); deploy it again to resume from
    /// that record.
    Stopped {
        /// The input partition of the failed record.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// Why it failed.
        reason: String,
    },
}

impl TransformState {
    /// `running` or `stopped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped { .. } => "stopped",
        }
    }
}

/// A deployed transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformDeployment {
    /// Its name (also names the consumer group holding its input offsets).
    pub name: String,
    /// The topic it reads.
    pub input: String,
    /// The topics it may write; records that name no topic go to the first.
    pub outputs: Vec<String>,
    /// Settings handed to the plugin's `init`, in the order given.
    pub config: Vec<(String, String)>,
    /// What a failed record does.
    pub on_error: OnError,
    /// What the plugin may reach beyond its memory (`stderr`, `clock`: `fjord_plugins::Grants`
    /// names); nothing when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Hex SHA-256 of the plugin.
    pub wasm_sha256: String,
    /// The plugin: a WebAssembly component of the `fjord:transform` world.
    #[serde(with = "base64_bytes")]
    pub wasm: Arc<[u8]>,
    /// When it was deployed (Unix ms): a redeployment is a new generation of runners.
    pub deployed_at_ms: i64,
    /// Whether it runs.
    pub state: TransformState,
}

impl TransformDeployment {
    /// The consumer group whose committed offsets are this transform's input positions.
    pub fn group_id(&self) -> String {
        group_id(&self.name)
    }
}

/// The consumer group holding transform `name`'s input offsets.
pub fn group_id(name: &str) -> String {
    format!("fjord-transform-{name}")
}

/// Plugin bytes as base64 in JSON (the metadata log and image, and the transform admin
/// requests, are JSON).
pub(crate) mod base64_bytes {
    use std::sync::Arc;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Arc<[u8]>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<[u8]>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map(Arc::from).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_round_trips_through_json_with_its_plugin_as_base64() {
        let deployment = TransformDeployment {
            name: "mask".into(),
            input: "in".into(),
            outputs: vec!["out".into()],
            config: vec![("k".into(), "v".into())],
            on_error: OnError::DeadLetter { topic: "dlq".into() },
            allow: vec!["stderr".into()],
            wasm_sha256: "00".into(),
            wasm: Arc::from(&b"\0asm\x0d\0\x01\0"[..]),
            deployed_at_ms: 7,
            state: TransformState::Stopped { partition: 1, offset: 2, reason: "boom".into() },
        };
        let json = serde_json::to_string(&deployment).unwrap();
        assert!(json.contains("\"AGFzbQ0AAQA=\""), "{json}");
        assert_eq!(serde_json::from_str::<TransformDeployment>(&json).unwrap(), deployment);
    }
}
