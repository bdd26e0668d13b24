//! Connector and task states as Kafka Connect reports them, with Fjord's additions: how often
//! a task was restarted after failing and when it will be tried next.

use serde::{Deserialize, Serialize};

/// A task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
}

impl TaskState {
    /// Kafka Connect's name for the state (`RUNNING`, …), as the REST API and metrics write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unassigned => "UNASSIGNED",
            Self::Running => "RUNNING",
            Self::Paused => "PAUSED",
            Self::Failed => "FAILED",
            Self::Restarting => "RESTARTING",
            Self::Stopped => "STOPPED",
        }
    }
}

impl TaskStatus {
    /// A task no worker has reported running yet.
    pub fn unassigned(id: usize) -> Self {
        Self { id, state: TaskState::Unassigned, worker_id: String::new(), trace: None, restarts: 0 }
    }
}

/// A connector's own state.
pub type ConnectorState = TaskState;

/// One task's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub id: usize,
    pub state: TaskState,
    pub worker_id: String,
    /// The last failure, while failed or waiting to restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Automatic restarts since the task last ran healthily.
    #[serde(default)]
    pub restarts: u32,
}

/// A connector's status: its own state and its tasks'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorStatus {
    pub name: String,
    pub connector: ConnectorStateInfo,
    pub tasks: Vec<TaskStatus>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The connector part of a status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectorStateInfo {
    pub state: ConnectorState,
    pub worker_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}
