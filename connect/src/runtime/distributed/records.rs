//! The records of a group's internal topics, in Kafka Connect's layout where one exists:
//!
//! - config topic (one partition, compacted): `connector-NAME` → `{"properties": {...}}`
//!   (null: deleted); `target-state-NAME` → `{"state": "STARTED"|"PAUSED"|"STOPPED"}`;
//!   `restart-connector-NAME` → `{"include-tasks": true, "only-failed": B, "task": N|null}`
//!   (Fjord's `task` restarts one task wherever it runs).
//! - Fjord's own, in the config topic: `fjord-request-ID` → `{"request": {"op": "create" |
//!   "put" | "delete", "name", "config", "state"}}`, a change asked of the group's leader, then
//!   `{"answer": {"status", "message"}}` as the leader decided it, then a tombstone;
//!   `fjord-leader` → `{"worker": ID}`, written by a worker when it becomes the leader.
//! - status topic (compacted): `status-task-NAME-N` → a task's status as the REST API shows it.
//!
//! Keys this build does not know (Kafka Connect's `task-…` and `commit-…` records) are skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
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
    /// A change of connectors only the leader decides, asked by any worker.
    Request { id: String, change: Change },
    /// The leader's answer to request `id`; `None`: the request is done with.
    Answer { id: String, answer: Option<Answer> },
    /// Worker `worker` leads the group from here on.
    Leader { worker: String },
}

/// A change whose outcome depends on the connectors that exist when it is made, so that two
/// workers asking at once must not both succeed: the leader decides it (`leader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Create a connector that does not exist yet, in `state`.
    Create { name: String, config: BTreeMap<String, String>, state: TargetState },
    /// Create a connector or give it a new config.
    Put { name: String, config: BTreeMap<String, String> },
    /// Delete a connector that exists.
    Delete { name: String },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Self::Create { name, .. } | Self::Put { name, .. } | Self::Delete { name } => name,
        }
    }
}

/// How the leader decided a change: the HTTP status Kafka Connect's REST API answers with
/// (201 created, 200 updated, 204 deleted, 404, 409) and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Answer {
    pub status: u16,
    #[serde(default)]
    pub message: String,
}

const CONNECTOR: &str = "connector-";
const TARGET_STATE: &str = "target-state-";
const RESTART: &str = "restart-connector-";
const REQUEST: &str = "fjord-request-";
const LEADER: &str = "fjord-leader";

#[derive(Deserialize)]
struct Properties {
    properties: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct State {
    state: String,
}

/// A request or answer record's value.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Exchange {
    Request(ChangeText),
    Answer(Answer),
}

#[derive(Deserialize)]
struct ChangeText {
    op: String,
    name: String,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Deserialize)]
struct Leader {
    worker: String,
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
            Self::Request { change, .. } => change.name(),
            Self::Answer { id, .. } => id,
            Self::Leader { worker } => worker,
        }
    }

    pub fn key(&self) -> String {
        match self {
            Self::Connector { name, .. } => format!("{CONNECTOR}{name}"),
            Self::TargetState { name, .. } => format!("{TARGET_STATE}{name}"),
            Self::Restart { name, .. } => format!("{RESTART}{name}"),
            Self::Request { id, .. } | Self::Answer { id, .. } => format!("{REQUEST}{id}"),
            Self::Leader { .. } => LEADER.to_string(),
        }
    }

    /// The record's value; `None` is a tombstone.
    pub fn payload(&self) -> Option<Vec<u8>> {
        let value = match self {
            Self::Connector { config: Some(config), .. } => json!({ "properties": config }),
            Self::TargetState { state: Some(state), .. } => json!({ "state": state_name(*state) }),
            Self::Restart { task, only_failed, .. } => json!({ "include-tasks": true, "only-failed": only_failed, "task": task }),
            Self::Request { change, .. } => json!({ "request": match change {
                Change::Create { name, config, state } => json!({ "op": "create", "name": name, "config": config, "state": state_name(*state) }),
                Change::Put { name, config } => json!({ "op": "put", "name": name, "config": config }),
                Change::Delete { name } => json!({ "op": "delete", "name": name }),
            } }),
            Self::Answer { answer: Some(answer), .. } => json!({ "answer": answer }),
            Self::Leader { worker } => json!({ "worker": worker }),
            Self::Connector { config: None, .. } | Self::TargetState { state: None, .. } | Self::Answer { answer: None, .. } => return None,
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
        if let Some(id) = key.strip_prefix(REQUEST) {
            let id = id.to_string();
            let Some(bytes) = payload else { return Ok(Some(Self::Answer { id, answer: None })) };
            return Ok(Some(match serde_json::from_slice::<Exchange>(bytes).map_err(bad)? {
                Exchange::Answer(answer) => Self::Answer { id, answer: Some(answer) },
                Exchange::Request(text) => Self::Request { id, change: text.change().map_err(|e| format!("config record {key}: {e}"))? },
            }));
        }
        if key == LEADER {
            let Some(bytes) = payload else { return Ok(None) };
            return Ok(Some(Self::Leader { worker: serde_json::from_slice::<Leader>(bytes).map_err(bad)?.worker }));
        }
        Ok(None)
    }
}

impl ChangeText {
    fn change(self) -> Result<Change, String> {
        let Self { op, name, config, state } = self;
        Ok(match op.as_str() {
            "create" => {
                let state = match state.as_deref() {
                    None => TargetState::Running,
                    Some(text) => parse_state(text).ok_or_else(|| format!("unknown target state {text:?}"))?,
                };
                Change::Create { name, config, state }
            }
            "put" => Change::Put { name, config },
            "delete" => Change::Delete { name },
            other => return Err(format!("unknown request {other:?}")),
        })
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
        let config: BTreeMap<String, String> = [("name".into(), "x".into())].into();
        for change in [
            Change::Create { name: "x".into(), config: config.clone(), state: TargetState::Paused },
            Change::Put { name: "x".into(), config },
            Change::Delete { name: "x".into() },
        ] {
            round_trip(ConfigRecord::Request { id: "w-1".into(), change });
        }
        round_trip(ConfigRecord::Answer { id: "w-1".into(), answer: Some(Answer { status: 409, message: "Connector x already exists".into() }) });
        round_trip(ConfigRecord::Answer { id: "w-1".into(), answer: None });
        round_trip(ConfigRecord::Leader { worker: "127.0.0.1:8083".into() });
        assert!(ConfigRecord::decode(b"fjord-request-w-2", Some(br#"{"request":{"op":"rename","name":"x"}}"#)).is_err());
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
