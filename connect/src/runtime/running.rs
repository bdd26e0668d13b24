//! What a worker runs: the connectors it knows (config, target state, task configs) and, of
//! their tasks, those its [`Ownership`] gives it, each under a supervisor. Every decided change
//! — from the REST API of a worker on its own, or read from the config topic by a worker in a
//! group — and every change of ownership is applied here, and the running tasks follow.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ConnectorConfig;
use crate::error::Result;
use crate::offsets::OffsetStore;
use crate::registry::ConnectorPlugin;
use crate::runtime::assignment::Ownership;
use crate::runtime::status::{TaskState, TaskStatus};
use crate::runtime::supervisor::{self, TaskSpec};
use crate::runtime::{Cluster, ConnectMetrics, Control, TargetState, WorkerSettings};

/// What tasks are started with.
#[derive(Debug, Clone)]
pub(crate) struct TaskEnv {
    pub cluster: Cluster,
    pub settings: WorkerSettings,
    pub offsets: Arc<dyn OffsetStore>,
}

/// A task running on this worker.
pub(crate) struct RunningTask {
    pub status: Arc<Mutex<TaskStatus>>,
    /// The task's own control: the connector's target state, and its restart generation.
    control: watch::Sender<Control>,
    handle: JoinHandle<()>,
}

impl RunningTask {
    pub fn status(&self) -> TaskStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A connector as this worker knows it.
pub(crate) struct Connector {
    pub config: ConnectorConfig,
    pub plugin: &'static ConnectorPlugin,
    pub state: TargetState,
    /// One config per task, as the connector divides its work.
    pub task_configs: Vec<ConnectorConfig>,
    /// The tasks of this connector that run here, by number.
    pub running: BTreeMap<usize, RunningTask>,
}

/// The connectors and the running tasks.
pub(crate) struct Running {
    pub connectors: BTreeMap<String, Connector>,
    pub ownership: Ownership,
    env: TaskEnv,
}

impl Running {
    pub fn new(env: TaskEnv, ownership: Ownership) -> Self {
        Self { connectors: BTreeMap::new(), ownership, env }
    }

    /// Creates the connector or gives it a new config or target state; its tasks restart when
    /// the config changed.
    pub async fn set_connector(&mut self, name: &str, config: ConnectorConfig, plugin: &'static ConnectorPlugin, state: TargetState) -> Result<()> {
        let task_configs = (plugin.task_configs)(&config, config.tasks_max()?)?;
        if self.connectors.get(name).is_some_and(|existing| existing.config == config) {
            self.set_state(name, state);
            return Ok(());
        }
        match self.connectors.get_mut(name) {
            Some(existing) => {
                stop_tasks(name, &mut existing.running, self.env.settings.shutdown_timeout).await;
                existing.config = config;
                existing.plugin = plugin;
                existing.state = state;
                existing.task_configs = task_configs;
                tracing::info!(connector = %name, "connector reconfigured");
            }
            None => {
                self.connectors.insert(name.to_string(), Connector { config, plugin, state, task_configs, running: BTreeMap::new() });
                tracing::info!(connector = %name, class = plugin.class, "connector created");
            }
        }
        self.start_owned(name);
        Ok(())
    }

    /// Stops and forgets a connector; false when there was none.
    pub async fn remove_connector(&mut self, name: &str) -> bool {
        let Some(mut connector) = self.connectors.remove(name) else { return false };
        stop_tasks(name, &mut connector.running, self.env.settings.shutdown_timeout).await;
        for task in 0..connector.task_configs.len() {
            self.env.settings.metrics.forget(&ConnectMetrics::task(name, task));
        }
        tracing::info!(connector = %name, "connector deleted");
        true
    }

    /// Sets a connector's target state (pause, resume, stop); false when there is no such
    /// connector.
    pub fn set_state(&mut self, name: &str, state: TargetState) -> bool {
        let Some(connector) = self.connectors.get_mut(name) else { return false };
        if connector.state != state {
            connector.state = state;
            for task in connector.running.values() {
                task.control.send_modify(|c| c.state = state);
            }
            tracing::info!(connector = %name, ?state, "connector target state changed");
        }
        true
    }

    /// Restarts the connector's tasks that run here: one, or all, or only the failed ones.
    pub fn restart(&mut self, name: &str, task: Option<usize>, only_failed: bool) {
        let Some(connector) = self.connectors.get(name) else { return };
        for (id, running) in &connector.running {
            let wanted = task.is_none_or(|t| t == *id);
            if wanted && (!only_failed || running.status().state == TaskState::Failed) {
                running.control.send_modify(|c| c.generation += 1);
            }
        }
    }

    /// Takes a new ownership: stops the tasks no longer owned (each flushes first), then starts
    /// the newly owned ones.
    pub async fn set_ownership(&mut self, ownership: Ownership) {
        if ownership == self.ownership {
            return;
        }
        self.ownership = ownership;
        let timeout = self.env.settings.shutdown_timeout;
        let names: Vec<String> = self.connectors.keys().cloned().collect();
        for name in &names {
            if let Some(connector) = self.connectors.get_mut(name) {
                let mut lost: BTreeMap<usize, RunningTask> = BTreeMap::new();
                for id in connector.running.keys().copied().collect::<Vec<_>>() {
                    if !self.ownership.owns(name, id)
                        && let Some(task) = connector.running.remove(&id) {
                            lost.insert(id, task);
                        }
                }
                if !lost.is_empty() {
                    tracing::info!(connector = %name, tasks = ?lost.keys().collect::<Vec<_>>(), "tasks assigned to another worker; stopping them here");
                    stop_tasks(name, &mut lost, timeout).await;
                }
            }
        }
        for name in &names {
            self.start_owned(name);
        }
    }

    /// Starts every owned task of `name` that is not running yet.
    fn start_owned(&mut self, name: &str) {
        let Some(connector) = self.connectors.get_mut(name) else { return };
        for (id, config) in connector.task_configs.iter().enumerate() {
            if connector.running.contains_key(&id) || !self.ownership.owns(name, id) {
                continue;
            }
            let status = Arc::new(Mutex::new(TaskStatus { id, state: TaskState::Unassigned, worker_id: self.env.settings.worker_id.clone(), trace: None, restarts: 0 }));
            let spec = TaskSpec {
                connector: name.to_string(),
                task: id,
                plugin: connector.plugin,
                config: config.clone(),
                cluster: self.env.cluster.clone(),
                settings: self.env.settings.clone(),
                offsets: self.env.offsets.clone(),
            };
            let control = watch::Sender::new(Control { state: connector.state, generation: 0, removed: false });
            let handle = tokio::spawn(supervisor::supervise(spec, status.clone(), control.subscribe()));
            connector.running.insert(id, RunningTask { status, control, handle });
        }
    }

    /// Stops every task (each flushes first).
    pub async fn shutdown(&mut self) {
        let timeout = self.env.settings.shutdown_timeout;
        for (name, connector) in &mut self.connectors {
            stop_tasks(name, &mut connector.running, timeout).await;
        }
    }
}

/// Ends `tasks` (each flushes first), waiting up to `timeout` for each.
async fn stop_tasks(connector: &str, tasks: &mut BTreeMap<usize, RunningTask>, timeout: std::time::Duration) {
    for task in tasks.values() {
        task.control.send_modify(|c| c.removed = true);
    }
    for (id, task) in std::mem::take(tasks) {
        let mut handle = task.handle;
        if tokio::time::timeout(timeout, &mut handle).await.is_err() {
            tracing::warn!(connector = %connector, task = id, "a task did not stop in time; abandoning it");
            handle.abort();
        }
    }
}
