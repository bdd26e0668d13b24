//! The records of a group's internal topics, in Kafka Connect's layout where one exists:
//!
//! - config topic (one partition, compacted): `connector-NAME` → `{"properties": {...}}`
//!   (null: deleted); `target-state-NAME` → `{"state": "STARTED"|"PAUSED"|"STOPPED"}`;
//!   `restart-connector-NAME` → `{"include-tasks": true, "only-failed": B, "task": N|null}`
//!   (Fjord's `task` restarts one task wherever it runs).
//! - status topic (compacted): `status-task-NAME-N` → a task's status as the REST API shows it.
//!
//! Keys this build does not know (Kafka Connect's `task-…` and `commit-…` records) are skipped.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use crate::runtime::TargetState;
use crate::runtime::status::TaskStatus;

/// A change of the group's connectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigRecord {
    /// A connector's config as written (placeholders, not secrets); `None`: deleted.
    Connector { name: String, config: Option<BTreeMap<String, String>> },
    /// A connector's target state; `None`: forgotten with the connector.
    TargetState { name: String, state: Option<TargetState> },
    /// Restart one task, or every task (or only the failed ones).
    Restart { name: String, task: Option<usize>, only_failed: bool },
}

const CONNECTOR: &str = "connector-";
const TARGET_STATE: &str = "target-state-";
const RESTART: &str = "restart-connector-";

#[derive(Deserialize)]
struct Properties {
    properties: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct State {
    state: String,
}

#[derive(Deserialize)]
struct Restart {
    #[serde(rename = "only-failed", default)]
    only_failed: bool,
    #[serde(default)]
    task: Option<usize>,
}

impl ConfigRecord {
    pub fn name(&self) -> &str {
        match self {
            Self::Connector { name, .. } | Self::TargetState { name, .. } | Self::Restart { name, .. } => name,
        }
    }

    pub fn key(&self) -> String {
        match self {
            Self::Connector { name, .. } => format!("{CONNECTOR}{name}"),
            Self::TargetState { name, .. } => format!("{TARGET_STATE}{name}"),
            Self::Restart { name, .. } => format!("{RESTART}{name}"),
        }
    }

    /// The record's value; `None` is a tombstone.
    pub fn payload(&self) -> Option<Vec<u8>> {
        let value = match self {
            Self::Connector { config: Some(config), .. } => json!({ "properties": config }),
            Self::TargetState { state: Some(state), .. } => json!({ "state": state_name(*state) }),
            Self::Restart { task, only_failed, .. } => json!({ "include-tasks": true, "only-failed": only_failed, "task": task }),
            Self::Connector { config: None, .. } | Self::TargetState { state: None, .. } => return None,
        };
        Some(value.to_string().into_bytes())
    }

    /// Reads a record back: `Ok(None)` for keys of records this build does not use.
    pub fn decode(key: &[u8], payload: Option<&[u8]>) -> Result<Option<Self>, String> {
        let key = std::str::from_utf8(key).map_err(|_| "a config record's key is not UTF-8".to_string())?;
        let bad = |e: serde_json::Error| format!("config record {key}: {e}");
        if let Some(name) = key.strip_prefix(CONNECTOR) {
            let config = match payload {
                None => None,
                Some(bytes) => Some(serde_json::from_slice::<Properties>(bytes).map_err(bad)?.properties),
            };
            return Ok(Some(Self::Connector { name: name.to_string(), config }));
        }
        if let Some(name) = key.strip_prefix(TARGET_STATE) {
            let state = match payload {
                None => None,
                Some(bytes) => {
                    let text = serde_json::from_slice::<State>(bytes).map_err(bad)?.state;
                    Some(parse_state(&text).ok_or_else(|| format!("config record {key}: unknown target state {text:?}"))?)
                }
            };
            return Ok(Some(Self::TargetState { name: name.to_string(), state }));
        }
        if let Some(name) = key.strip_prefix(RESTART) {
            let Some(bytes) = payload else { return Ok(None) };
            let restart: Restart = serde_json::from_slice(bytes).map_err(bad)?;
            return Ok(Some(Self::Restart { name: name.to_string(), task: restart.task, only_failed: restart.only_failed }));
        }
        Ok(None)
    }
}

/// Kafka Connect's names of target states in its config topic.
fn state_name(state: TargetState) -> &'static str {
    match state {
        TargetState::Running => "STARTED",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    }
}

fn parse_state(text: &str) -> Option<TargetState> {
    match text {
        "STARTED" | "RUNNING" => Some(TargetState::Running),
        "PAUSED" => Some(TargetState::Paused),
        "STOPPED" => Some(TargetState::Stopped),
        _ => None,
    }
}

/// The status topic's key of a task.
pub(crate) fn status_key(connector: &str, task: usize) -> String {
    format!("status-task-{connector}-{task}")
}

/// A status record read back: the task it is about, and its status (`None`: forgotten).
pub(crate) fn decode_status(key: &[u8], payload: Option<&[u8]>) -> Option<((String, usize), Option<TaskStatus>)> {
    let key = std::str::from_utf8(key).ok()?;
    let (connector, task) = key.strip_prefix("status-task-")?.rsplit_once('-')?;
    let task: usize = task.parse().ok()?;
    let status = match payload {
        None => None,
        Some(bytes) => Some(serde_json::from_slice::<TaskStatus>(bytes).ok()?),
    };
    Some(((connector.to_string(), task), status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::status::TaskState;

    fn round_trip(record: ConfigRecord) {
        let payload = record.payload();
        assert_eq!(ConfigRecord::decode(record.key().as_bytes(), payload.as_deref()), Ok(Some(record)));
    }

    #[test]
    fn config_records_read_back_as_written() {
        let config: BTreeMap<String, String> = [("name".into(), "a-b".into()), ("topic".into(), "t".into())].into();
        round_trip(ConfigRecord::Connector { name: "a-b".into(), config: Some(config) });
        round_trip(ConfigRecord::Connector { name: "a-b".into(), config: None });
        for state in [TargetState::Running, TargetState::Paused, TargetState::Stopped] {
            round_trip(ConfigRecord::TargetState { name: "x".into(), state: Some(state) });
        }
        round_trip(ConfigRecord::TargetState { name: "x".into(), state: None });
        round_trip(ConfigRecord::Restart { name: "x".into(), task: Some(3), only_failed: false });
        round_trip(ConfigRecord::Restart { name: "x".into(), task: None, only_failed: true });
    }

    #[test]
    fn kafka_connects_own_records_are_read_or_skipped() {
        let kafka = br#"{"properties":{"connector.class":"file-source","name":"n"}}"#;
        assert!(matches!(ConfigRecord::decode(b"connector-n", Some(kafka)), Ok(Some(ConfigRecord::Connector { .. }))));
        assert_eq!(ConfigRecord::decode(b"task-n-0", Some(b"{}")), Ok(None));
        assert_eq!(ConfigRecord::decode(b"commit-n", Some(b"{\"tasks\":1}")), Ok(None));
        assert!(ConfigRecord::decode(b"target-state-n", Some(b"{\"state\":\"DANCING\"}")).is_err());
        assert!(ConfigRecord::decode(b"connector-n", Some(b"not json")).is_err());
    }

    #[test]
    fn status_keys_keep_dashes_in_connector_names() {
        let status = TaskStatus { id: 12, state: TaskState::Failed, worker_id: "w:1".into(), trace: Some("boom".into()), restarts: 2 };
        let payload = serde_json::to_vec(&status).ok();
        assert_eq!(decode_status(status_key("my-sink", 12).as_bytes(), payload.as_deref()), Some((("my-sink".into(), 12), Some(status))));
        assert_eq!(decode_status(b"status-task-my-sink-3", None), Some((("my-sink".into(), 3), None)));
        assert_eq!(decode_status(b"status-connector-my-sink", None), None);
    }
}
