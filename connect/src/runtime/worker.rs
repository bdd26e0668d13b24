//! A worker: the connectors it runs, their configs, target states and tasks. Creating,
//! reconfiguring, pausing, resuming, stopping, restarting and deleting connectors all go
//! through here, whether asked by a config file at start or (later) by the REST API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ConnectorConfig;
use crate::converter::{self, Converter, Side};
use crate::error::{ConnectError, Result};
use crate::offsets::OffsetStore;
use crate::registry::{self, ConnectorPlugin};
use crate::runtime::status::{ConnectorStateInfo, ConnectorStatus, TaskState, TaskStatus};
use crate::runtime::supervisor::{self, TaskSpec};
use crate::runtime::{Cluster, ConfigFile, Control, TargetState};

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

struct RunningTask {
    config: ConnectorConfig,
    status: Arc<Mutex<TaskStatus>>,
    /// The task's own control: the connector's target state, and its restart generation.
    control: watch::Sender<Control>,
    handle: JoinHandle<()>,
}

struct Connector {
    config: ConnectorConfig,
    plugin: &'static ConnectorPlugin,
    state: TargetState,
    tasks: Vec<RunningTask>,
}

/// Runs connectors against one cluster.
#[derive(Debug, Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Cluster,
    settings: WorkerSettings,
    offsets: Arc<dyn OffsetStore>,
    /// Where connectors are kept across restarts, when they are.
    configs: Option<Arc<ConfigFile>>,
    connectors: tokio::sync::Mutex<BTreeMap<String, Connector>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("cluster", &self.cluster).field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(cluster: Cluster, settings: WorkerSettings, offsets: Arc<dyn OffsetStore>) -> Self {
        Self { inner: Arc::new(Inner { cluster, settings, offsets, configs: None, connectors: tokio::sync::Mutex::new(BTreeMap::new()) }) }
    }

    /// A worker that keeps its connectors in `configs` and starts the ones stored there.
    pub async fn with_config_file(cluster: Cluster, settings: WorkerSettings, offsets: Arc<dyn OffsetStore>, configs: ConfigFile) -> Result<Self> {
        let configs = Arc::new(configs);
        let stored = configs.load();
        let worker = Self { inner: Arc::new(Inner { cluster, settings, offsets, configs: Some(configs), connectors: tokio::sync::Mutex::new(BTreeMap::new()) }) };
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
        match &self.inner.configs {
            Some(store) => store.save(name, entry),
            None => Ok(()),
        }
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.inner.settings
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
        let mut connectors = self.inner.connectors.lock().await;
        let name = config.name().to_string();
        if connectors.contains_key(&name) {
            return Err(ConnectError::Conflict(format!("Connector {name} already exists")));
        }
        self.persist(&name, Some((&config, state)))?;
        let mut connector = Connector { config, plugin, state, tasks: Vec::new() };
        self.start_tasks(&name, &mut connector)?;
        let info = self.info_of(&name, &connector);
        connectors.insert(name.clone(), connector);
        tracing::info!(connector = %name, class = plugin.class, "connector created");
        Ok(info)
    }

    /// Creates the connector, or gives an existing one a new config (its tasks restart with
    /// it). Returns the info and whether it was created.
    pub async fn put(&self, config: ConnectorConfig) -> Result<(ConnectorInfo, bool)> {
        let name = config.name().to_string();
        {
            let mut connectors = self.inner.connectors.lock().await;
            if let Some(existing) = connectors.get_mut(&name) {
                let plugin = Self::check(&config)?;
                self.persist(&name, Some((&config, existing.state)))?;
                self.stop_tasks(existing).await;
                existing.config = config;
                existing.plugin = plugin;
                self.start_tasks(&name, existing)?;
                tracing::info!(connector = %name, "connector reconfigured");
                return Ok((self.info_of(&name, existing), false));
            }
        }
        Ok((self.create(config).await?, true))
    }

    fn start_tasks(&self, name: &str, connector: &mut Connector) -> Result<()> {
        let max = connector.config.tasks_max()?;
        let task_configs = (connector.plugin.task_configs)(&connector.config, max)?;
        for (id, config) in task_configs.into_iter().enumerate() {
            let status = Arc::new(Mutex::new(TaskStatus { id, state: TaskState::Unassigned, worker_id: self.inner.settings.worker_id.clone(), trace: None, restarts: 0 }));
            let spec = TaskSpec {
                connector: name.to_string(),
                task: id,
                plugin: connector.plugin,
                config: config.clone(),
                cluster: self.inner.cluster.clone(),
                settings: self.inner.settings.clone(),
                offsets: self.inner.offsets.clone(),
            };
            let control = watch::Sender::new(Control { state: connector.state, generation: 0, removed: false });
            let handle = tokio::spawn(supervisor::supervise(spec, status.clone(), control.subscribe()));
            connector.tasks.push(RunningTask { config, status, control, handle });
        }
        Ok(())
    }

    /// Ends every task of `connector` (each flushes first), waiting up to the shutdown timeout.
    async fn stop_tasks(&self, connector: &mut Connector) {
        for task in &connector.tasks {
            task.control.send_modify(|c| c.removed = true);
        }
        for task in connector.tasks.drain(..) {
            let mut handle = task.handle;
            if tokio::time::timeout(self.inner.settings.shutdown_timeout, &mut handle).await.is_err() {
                tracing::warn!(connector = %connector.config.name(), "a task did not stop in time; abandoning it");
                handle.abort();
            }
        }
    }

    fn info_of(&self, name: &str, connector: &Connector) -> ConnectorInfo {
        ConnectorInfo {
            name: name.to_string(),
            config: connector.config.clone(),
            tasks: (0..connector.tasks.len()).map(|task| TaskId { connector: name.to_string(), task }).collect(),
            kind: connector.plugin.kind.name().to_string(),
        }
    }

    /// The names of the connectors, sorted.
    pub async fn names(&self) -> Vec<String> {
        self.inner.connectors.lock().await.keys().cloned().collect()
    }

    pub async fn info(&self, name: &str) -> Result<ConnectorInfo> {
        let connectors = self.inner.connectors.lock().await;
        let connector = connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        Ok(self.info_of(name, connector))
    }

    /// The task configs of a connector.
    pub async fn task_configs(&self, name: &str) -> Result<Vec<ConnectorConfig>> {
        let connectors = self.inner.connectors.lock().await;
        let connector = connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        Ok(connector.tasks.iter().map(|t| t.config.clone()).collect())
    }

    pub async fn status(&self, name: &str) -> Result<ConnectorStatus> {
        let connectors = self.inner.connectors.lock().await;
        let connector = connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        let tasks: Vec<TaskStatus> = connector.tasks.iter().map(|t| t.status.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect();
        let state = match connector.state {
            TargetState::Running => TaskState::Running,
            TargetState::Paused => TaskState::Paused,
            TargetState::Stopped => TaskState::Stopped,
        };
        Ok(ConnectorStatus {
            name: name.to_string(),
            connector: ConnectorStateInfo { state, worker_id: self.inner.settings.worker_id.clone(), trace: None },
            tasks: if state == TaskState::Stopped { Vec::new() } else { tasks },
            kind: connector.plugin.kind.name().to_string(),
        })
    }

    /// Sets a connector's target state (pause, resume, stop).
    pub async fn set_state(&self, name: &str, state: TargetState) -> Result<()> {
        let mut connectors = self.inner.connectors.lock().await;
        let connector = connectors.get_mut(name).ok_or_else(|| ConnectError::no_connector(name))?;
        self.persist(name, Some((&connector.config, state)))?;
        connector.state = state;
        for task in &connector.tasks {
            task.control.send_modify(|c| c.state = state);
        }
        tracing::info!(connector = %name, ?state, "connector target state changed");
        Ok(())
    }

    /// Restarts a connector's tasks (all, or only the failed ones); the connector itself has
    /// no separate instance to restart here.
    pub async fn restart(&self, name: &str, only_failed: bool) -> Result<ConnectorStatus> {
        {
            let connectors = self.inner.connectors.lock().await;
            let connector = connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
            for task in &connector.tasks {
                let failed = task.status.lock().unwrap_or_else(|p| p.into_inner()).state == TaskState::Failed;
                if !only_failed || failed {
                    task.control.send_modify(|c| c.generation += 1);
                }
            }
        }
        self.status(name).await
    }

    /// Restarts one task.
    pub async fn restart_task(&self, name: &str, task: usize) -> Result<()> {
        let connectors = self.inner.connectors.lock().await;
        let connector = connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        let running = connector.tasks.get(task).ok_or_else(|| ConnectError::NotFound(format!("Task {name}-{task} not found")))?;
        running.control.send_modify(|c| c.generation += 1);
        Ok(())
    }

    /// A connector's target state.
    pub async fn target_state(&self, name: &str) -> Result<TargetState> {
        let connectors = self.inner.connectors.lock().await;
        Ok(connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?.state)
    }

    /// The kind of a connector and its config.
    pub async fn plugin_of(&self, name: &str) -> Result<(&'static ConnectorPlugin, ConnectorConfig)> {
        let connectors = self.inner.connectors.lock().await;
        let connector = connectors.get(name).ok_or_else(|| ConnectError::no_connector(name))?;
        Ok((connector.plugin, connector.config.clone()))
    }

    pub(crate) fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    pub(crate) fn offset_store(&self) -> &Arc<dyn OffsetStore> {
        &self.inner.offsets
    }

    /// Stops and forgets a connector (its stored source offsets stay, as in Kafka Connect).
    pub async fn delete(&self, name: &str) -> Result<()> {
        let mut connectors = self.inner.connectors.lock().await;
        if !connectors.contains_key(name) {
            return Err(ConnectError::no_connector(name));
        }
        self.persist(name, None)?;
        let Some(mut connector) = connectors.remove(name) else { return Err(ConnectError::no_connector(name)) };
        let tasks = connector.tasks.len();
        self.stop_tasks(&mut connector).await;
        for task in 0..tasks {
            self.inner.settings.metrics.forget(&crate::runtime::ConnectMetrics::task(name, task));
        }
        tracing::info!(connector = %name, "connector deleted");
        Ok(())
    }

    /// Stops every connector, letting each task flush.
    pub async fn shutdown(&self) {
        let mut connectors = self.inner.connectors.lock().await;
        for (_, mut connector) in std::mem::take(&mut *connectors) {
            self.stop_tasks(&mut connector).await;
        }
    }
}
