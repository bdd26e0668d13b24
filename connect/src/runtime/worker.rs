//! A worker: the connectors it runs, their configs, target states and tasks. Creating,
//! reconfiguring, pausing, resuming, stopping, restarting and deleting connectors all go
//! through here, whether asked by a config file at start or by the REST API.
//!
//! A worker on its own decides each change itself and keeps it in its config file, if it has
//! one. A worker in a group writes each change to the group's config topic and applies it when
//! it reads it back, as every other worker of the group does (`runtime::distributed`); a call
//! returns once this worker has applied its change, so it reads its own writes. Creations,
//! config changes and deletions are asked of the group's leader, which decides them in one
//! order.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::ConnectorConfig;
use crate::converter::{self, Converter, Side};
use crate::error::{ConnectError, Result};
use crate::offsets::OffsetStore;
use crate::registry::{self, ConnectorPlugin};
use crate::runtime::assignment::Ownership;
use crate::runtime::distributed::{Change, ConfigRecord, Distributed};
use crate::runtime::running::{Running, TaskEnv};
use crate::runtime::status::{ConnectorStateInfo, ConnectorStatus, TaskState, TaskStatus};
use crate::runtime::{Cluster, ConfigFile, TargetState};

/// A worker's own settings.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How this worker names itself in statuses (`host:port` of its REST API).
    pub worker_id: String,
    pub key_converter: Converter,
    pub value_converter: Converter,
    /// How often source offsets are stored and sink offsets committed.
    pub offset_flush_interval: Duration,
    /// How long a stopping task may take to flush.
    pub shutdown_timeout: Duration,
    /// Where the worker's tasks count what they do.
    pub metrics: crate::runtime::ConnectMetrics,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            worker_id: "127.0.0.1:8083".into(),
            key_converter: converter::DEFAULT,
            value_converter: converter::DEFAULT,
            offset_flush_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            metrics: crate::runtime::ConnectMetrics::default(),
        }
    }
}

/// A connector's config and tasks, as the REST API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    pub name: String,
    pub config: ConnectorConfig,
    pub tasks: Vec<TaskId>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A task's coordinates.
#[derive(Debug, Clone, Serialize)]
pub struct TaskId {
    pub connector: String,
    pub task: usize,
}

/// Who decides changes.
pub(crate) enum Mode {
    /// This worker, keeping its connectors in a file when it has one.
    Alone(Option<Arc<ConfigFile>>),
    /// The group, through its config topic.
    Group(Arc<Distributed>),
}

/// Runs connectors against one cluster.
#[derive(Debug, Clone)]
pub struct Worker {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub env: TaskEnv,
    pub mode: Mode,
    pub running: tokio::sync::Mutex<Running>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("cluster", &self.env.cluster).field("settings", &self.env.settings).finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker on its own, keeping nothing across restarts but source offsets.
    pub fn new(cluster: Cluster, settings: WorkerSettings, offsets: Arc<dyn OffsetStore>) -> Self {
        Self::build(TaskEnv { cluster, settings, offsets }, Mode::Alone(None), Ownership::All)
    }

    pub(crate) fn build(env: TaskEnv, mode: Mode, ownership: Ownership) -> Self {
        let running = tokio::sync::Mutex::new(Running::new(env.clone(), ownership));
        Self { inner: Arc::new(Inner { env, mode, running }) }
    }

    /// A worker on its own that keeps its connectors in `configs` and starts the ones stored
    /// there.
    pub async fn with_config_file(cluster: Cluster, settings: WorkerSettings, offsets: Arc<dyn OffsetStore>, configs: ConfigFile) -> Result<Self> {
        let configs = Arc::new(configs);
        let stored = configs.load();
        let worker = Self::build(TaskEnv { cluster, settings, offsets }, Mode::Alone(Some(configs)), Ownership::All);
        for (config, state) in stored {
            let name = config.name().to_string();
            match worker.create_in_state(config, state).await {
                Ok(_) => {}
                Err(e) => tracing::error!(connector = %name, error = %e, "a stored connector could not be started; fix it with PUT /connectors/{name}/config or delete it"),
            }
        }
        Ok(worker)
    }

    fn persist(&self, name: &str, entry: Option<(&ConnectorConfig, TargetState)>) -> Result<()> {
        match &self.inner.mode {
            Mode::Alone(Some(store)) => store.save(name, entry),
            _ => Ok(()),
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.inner.env.settings
    }

    /// Checks a config without running it: the connector type exists, every setting it
    /// defines is acceptable, converters are known.
    pub fn check(config: &ConnectorConfig) -> Result<&'static ConnectorPlugin> {
        let plugin = registry::find(config.class())?;
        let def = plugin.full_definition();
        let mut problems = Vec::new();
        for (key, errors) in def.validate(config) {
            for e in errors {
                problems.push(if e.contains(key) { e } else { format!("{key}: {e}") });
            }
        }
        if let Err(e) = crate::transforms::Chain::from_config(config) {
            problems.push(e.to_string());
        }
        if let Err(e) = crate::runtime::errors::ErrorPolicy::from_config(config) {
            problems.push(e.to_string());
        }
        Converter::from_config(config, Side::Key, converter::DEFAULT)?;
        Converter::from_config(config, Side::Value, converter::DEFAULT)?;
        if problems.is_empty() {
            Ok(plugin)
        } else {
            Err(ConnectError::Config(problems.join("; ")))
        }
    }

    /// Starts a new connector.
    pub async fn create(&self, config: ConnectorConfig) -> Result<ConnectorInfo> {
        self.create_in_state(config, TargetState::Running).await
    }

    async fn create_in_state(&self, config: ConnectorConfig, state: TargetState) -> Result<ConnectorInfo> {
        let plugin = Self::check(&config)?;
        let name = config.name().to_string();
        match &self.inner.mode {
            Mode::Alone(_) => {
                let mut running = self.inner.running.lock().await;
                if running.connectors.contains_key(&name) {
                    return Err(ConnectError::Conflict(format!("Connector {name} already exists")));
                }
                self.persist(&name, Some((&config, state)))?;
                running.set_connector(&name, config, plugin, state).await?;
            }
            Mode::Group(group) => {
                if self.inner.running.lock().await.connectors.contains_key(&name) {
                    return Err(ConnectError::Conflict(format!("Connector {name} already exists")));
                }
                group.ask(Change::Create { name: name.clone(), config: config.entries().clone(), state }).await?;
            }
        }
        self.info(&name).await
    }

    /// Creates the connector, or gives an existing one a new config (its tasks restart with
    /// it). Returns the info and whether it was created.
    pub async fn put(&self, config: ConnectorConfig) -> Result<(ConnectorInfo, bool)> {
        let name = config.name().to_string();
        match &self.inner.mode {
            Mode::Alone(_) => {
                let mut running = self.inner.running.lock().await;
                if let Some(state) = running.connectors.get(&name).map(|c| c.state) {
                    let plugin = Self::check(&config)?;
                    self.persist(&name, Some((&config, state)))?;
                    running.set_connector(&name, config, plugin, state).await?;
                    drop(running);
                    return Ok((self.info(&name).await?, false));
                }
            }
            Mode::Group(group) => {
                Self::check(&config)?;
                let status = group.ask(Change::Put { name: name.clone(), config: config.entries().clone() }).await?;
                return Ok((self.info(&name).await?, status == 201));
            }
        }
        Ok((self.create(config).await?, true))
    }

    /// The names of the connectors, sorted.
    pub async fn names(&self) -> Vec<String> {
        self.inner.running.lock().await.connectors.keys().cloned().collect()
    }

    pub async fn info(&self, name: &str) -> Result<ConnectorInfo> {
        let running = self.inner.running.lock().await;
        let connector = running.connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        Ok(ConnectorInfo {
            name: name.to_string(),
            config: connector.config.clone(),
            tasks: (0..connector.task_configs.len()).map(|task| TaskId { connector: name.to_string(), task }).collect(),
            kind: connector.plugin.kind.name().to_string(),
        })
    }

    /// The task configs of a connector.
    pub async fn task_configs(&self, name: &str) -> Result<Vec<ConnectorConfig>> {
        let running = self.inner.running.lock().await;
        let connector = running.connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        Ok(connector.task_configs.clone())
    }

    pub async fn status(&self, name: &str) -> Result<ConnectorStatus> {
        let running = self.inner.running.lock().await;
        let connector = running.connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        let tasks: Vec<TaskStatus> = (0..connector.task_configs.len())
            .map(|id| match (connector.running.get(&id), &self.inner.mode) {
                (Some(task), _) => task.status(),
                (None, Mode::Group(group)) => group.task_status(name, id),
                (None, Mode::Alone(_)) => TaskStatus::unassigned(id),
            })
            .collect();
        let state = match connector.state {
            TargetState::Running => TaskState::Running,
            TargetState::Paused => TaskState::Paused,
            TargetState::Stopped => TaskState::Stopped,
        };
        // No connector instance runs apart from the tasks: the connector is shown where its
        // first task runs.
        let worker_id = tasks.first().map(|t| t.worker_id.clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| self.settings().worker_id.clone());
        Ok(ConnectorStatus {
            name: name.to_string(),
            connector: ConnectorStateInfo { state, worker_id, trace: None },
            tasks: if state == TaskState::Stopped { Vec::new() } else { tasks },
            kind: connector.plugin.kind.name().to_string(),
        })
    }

    /// Sets a connector's target state (pause, resume, stop).
    pub async fn set_state(&self, name: &str, state: TargetState) -> Result<()> {
        match &self.inner.mode {
            Mode::Alone(_) => {
                let mut running = self.inner.running.lock().await;
                let config = running.connectors.get(name).map(|c| c.config.clone()).ok_or_else(|| ConnectError::no_connector(name))?;
                self.persist(name, Some((&config, state)))?;
                running.set_state(name, state);
            }
            Mode::Group(group) => {
                self.info(name).await?;
                group.write_and_wait(ConfigRecord::TargetState { name: name.to_string(), state: Some(state) }).await?;
            }
        }
        Ok(())
    }

    /// Restarts a connector's tasks (all, or only the failed ones); the connector itself has
    /// no separate instance to restart here.
    pub async fn restart(&self, name: &str, only_failed: bool) -> Result<ConnectorStatus> {
        self.restart_tasks(name, None, only_failed).await?;
        self.status(name).await
    }

    /// Restarts one task.
    pub async fn restart_task(&self, name: &str, task: usize) -> Result<()> {
        let tasks = self.info(name).await?.tasks.len();
        if task >= tasks {
            return Err(ConnectError::NotFound(format!("Task {name}-{task} not found")));
        }
        self.restart_tasks(name, Some(task), false).await
    }

    async fn restart_tasks(&self, name: &str, task: Option<usize>, only_failed: bool) -> Result<()> {
        match &self.inner.mode {
            Mode::Alone(_) => {
                let mut running = self.inner.running.lock().await;
                if !running.connectors.contains_key(name) {
                    return Err(ConnectError::no_connector(name));
                }
                running.restart(name, task, only_failed);
            }
            Mode::Group(group) => {
                self.info(name).await?;
                group.write_and_wait(ConfigRecord::Restart { name: name.to_string(), task, only_failed }).await?;
            }
        }
        Ok(())
    }

    /// A connector's target state.
    pub async fn target_state(&self, name: &str) -> Result<TargetState> {
        let running = self.inner.running.lock().await;
        Ok(running.connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?.state)
    }

    /// The kind of a connector and its config.
    pub async fn plugin_of(&self, name: &str) -> Result<(&'static ConnectorPlugin, ConnectorConfig)> {
        let running = self.inner.running.lock().await;
        let connector = running.connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        Ok((connector.plugin, connector.config.clone()))
    }

    pub(crate) fn cluster(&self) -> &Cluster {
        &self.inner.env.cluster
    }

    pub(crate) fn offset_store(&self) -> &Arc<dyn OffsetStore> {
        &self.inner.env.offsets
    }

    /// Stops and forgets a connector (its stored source offsets stay, as in Kafka Connect).
    pub async fn delete(&self, name: &str) -> Result<()> {
        match &self.inner.mode {
            Mode::Alone(_) => {
                let mut running = self.inner.running.lock().await;
                if !running.connectors.contains_key(name) {
                    return Err(ConnectError::no_connector(name));
                }
                self.persist(name, None)?;
                running.remove_connector(name).await;
            }
            Mode::Group(group) => {
                let tasks = self.info(name).await?.tasks.len();
                group.ask(Change::Delete { name: name.to_string() }).await?;
                group.forget_statuses(name, tasks).await;
            }
        }
        Ok(())
    }

    /// Stops every connector, letting each task flush; a worker in a group leaves it, and
    /// the others take over its tasks.
    pub async fn shutdown(&self) {
        if let Mode::Group(group) = &self.inner.mode {
            group.leave().await;
        }
        self.inner.running.lock().await.shutdown().await;
    }
}
