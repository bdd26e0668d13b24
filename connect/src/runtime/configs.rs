//! Where a worker keeps the connectors it was given, so that they come back after a restart:
//! each connector's config as written (placeholders, not secrets) and its target state. A
//! single-node worker (`fjord dev`, or standalone with `--config-file`) keeps them in a local
//! JSON file, replaced atomically on every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};
use crate::runtime::TargetState;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredConnector {
    config: BTreeMap<String, String>,
    state: String,
}

/// Connector configs in one file.
#[derive(Debug)]
pub struct ConfigFile {
    path: PathBuf,
    connectors: Mutex<BTreeMap<String, StoredConnector>>,
}

impl ConfigFile {
    /// Opens (or starts) the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let connectors = match std::fs::read(path) {
            Ok(bytes) if bytes.is_empty() => BTreeMap::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConnectError::ConfigFile { path: path.to_path_buf(), message: format!("not a connector store: {e}") })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ConnectError::io(path, e)),
        };
        Ok(Self { path: path.to_path_buf(), connectors: Mutex::new(connectors) })
    }

    /// The stored connectors with their target states.
    pub fn load(&self) -> Vec<(ConnectorConfig, TargetState)> {
        let connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        connectors
            .values()
            .filter_map(|c| {
                let state = match c.state.as_str() {
                    "PAUSED" => TargetState::Paused,
                    "STOPPED" => TargetState::Stopped,
                    _ => TargetState::Running,
                };
                ConnectorConfig::new(c.config.clone()).ok().map(|config| (config, state))
            })
            .collect()
    }

    /// Records a connector's config and state (`None`: deleted), durably.
    pub fn save(&self, name: &str, entry: Option<(&ConnectorConfig, TargetState)>) -> Result<()> {
        let snapshot = {
            let mut connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
            match entry {
                Some((config, state)) => {
                    let state = match state {
                        TargetState::Running => "RUNNING",
                        TargetState::Paused => "PAUSED",
                        TargetState::Stopped => "STOPPED",
                    };
                    connectors.insert(name.to_string(), StoredConnector { config: config.entries().clone(), state: state.to_string() });
                }
                None => {
                    connectors.remove(name);
                }
            }
            serde_json::to_vec_pretty(&*connectors).map_err(|e| ConnectError::Task(format!("connector store: {e}")))?
        };
        crate::durable::replace_file(&self.path, &snapshot)
    }
}
