//! One task's life: start it, run it, and when it fails, record why and start it again after
//! a backoff (1 s doubling to 60 s; reset once a run lasts longer than that). Kafka Connect
//! leaves a failed task FAILED until someone restarts it; here the failure and the restart
//! count stay visible in the status while the task is retried.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{secrets, ConnectorConfig};
use crate::connector::{ConnectorKind, TaskContext};
use crate::converter::{Converter, Side};
use crate::error::{ConnectError, Result};
use crate::offsets::OffsetStore;
use crate::registry::{ConnectorPlugin, TaskStarter};
use crate::runtime::errors::ErrorPolicy;
use crate::runtime::sink::{self, SinkRun, Topics};
use crate::transforms::Chain;
use crate::runtime::source::{self, SourceRun};
use crate::runtime::status::{TaskState, TaskStatus};
use crate::runtime::{Cluster, ConnectMetrics, Control, TargetState, TaskMetrics, WorkerSettings};

const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a task needs to run, apart from its control.
#[derive(Debug, Clone)]
pub(crate) struct TaskSpec {
    pub connector: String,
    pub task: usize,
    pub plugin: &'static ConnectorPlugin,
    /// The task's config as written (secrets are resolved at each start).
    pub config: ConnectorConfig,
    pub cluster: Cluster,
    pub settings: WorkerSettings,
    pub offsets: Arc<dyn OffsetStore>,
}

/// Runs the task until its connector is removed.
pub(crate) async fn supervise(spec: TaskSpec, status: Arc<Mutex<TaskStatus>>, mut control: watch::Receiver<Control>) {
    let label = ConnectMetrics::task(&spec.connector, spec.task);
    let metrics = spec.settings.metrics.clone();
    let set = |state: TaskState, trace: Option<String>, restarts: Option<u32>| {
        metrics.set_state(&label, state);
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        s.state = state;
        s.trace = trace;
        if let Some(r) = restarts {
            s.restarts = r;
        }
    };
    let mut failures: u32 = 0;
    loop {
        let now = *control.borrow_and_update();
        if now.removed {
            return;
        }
        match now.state {
            TargetState::Paused | TargetState::Stopped => {
                set(if now.state == TargetState::Paused { TaskState::Paused } else { TaskState::Stopped }, None, Some(0));
                failures = 0;
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            }
            TargetState::Running => {}
        }
        set(TaskState::Running, None, None);
        let started = Instant::now();
        match run_once(&spec, control.clone()).await {
            Ok(_) => continue,
            Err(e) => {
                if started.elapsed() > MAX_BACKOFF {
                    failures = 0;
                }
                failures += 1;
                let delay = (Duration::from_secs(1) * 2u32.pow(failures.saturating_sub(1).min(6))).min(MAX_BACKOFF);
                tracing::error!(connector = %spec.connector, task = spec.task, error = %e, retry_in = ?delay, attempt = failures, "task failed; it restarts by itself after the delay (or on `fjord connect restart`)");
                set(TaskState::Failed, Some(e.to_string()), Some(failures));
                metrics.task_restarts.get_or_create(&label).inc();
                let generation = now.generation;
                let _ = tokio::time::timeout(delay, async {
                    // Wake early when the connector is told something new.
                    while control.changed().await.is_ok() {
                        let c = *control.borrow();
                        if c.removed || c.state != TargetState::Running || c.generation != generation {
                            return;
                        }
                    }
                })
                .await;
                if control.borrow().generation != generation {
                    failures = 0;
                }
            }
        }
    }
}

async fn run_once(spec: &TaskSpec, control: watch::Receiver<Control>) -> Result<crate::runtime::Exit> {
    let config = secrets::resolve(&spec.config)?;
    let key = Converter::from_config(&config, Side::Key, spec.settings.key_converter)?;
    let value = Converter::from_config(&config, Side::Value, spec.settings.value_converter)?;
    let offsets = if spec.plugin.kind == ConnectorKind::Source {
        // In a group, the task may have run on another worker until now: read its offsets.
        let store = spec.offsets.clone();
        crate::durable::blocking("reading the stored offsets", move || store.refresh()).await?;
        spec.offsets.get(&spec.connector)
    } else {
        Vec::new()
    };
    let transforms = Chain::from_config(&config)?;
    let errors = ErrorPolicy::from_config(&config)?;
    let task_metrics = TaskMetrics { label: ConnectMetrics::task(&spec.connector, spec.task), metrics: spec.settings.metrics.clone() };
    let ctx = TaskContext { connector: spec.connector.clone(), task: spec.task, config: config.clone(), offsets, metrics: task_metrics.clone() };
    match spec.plugin.start {
        TaskStarter::Source(start) => {
            let task = start(ctx).await?;
            let producer = spec.cluster.producer(&config)?;
            let run = SourceRun {
                connector: spec.connector.clone(),
                task: spec.task,
                producer,
                key,
                value,
                transforms,
                errors,
                metrics: task_metrics,
                offsets: spec.offsets.clone(),
                flush_interval: spec.settings.offset_flush_interval,
                control,
            };
            source::run(task, run).await
        }
        TaskStarter::Sink(start) => {
            let topics = sink_topics(&config)?;
            let task = start(ctx).await?;
            let consumer = std::sync::Arc::new(spec.cluster.consumer(&config)?);
            let producer = match &errors.dead_letter_topic {
                Some(_) => Some(spec.cluster.producer(&config)?),
                None => None,
            };
            let run = SinkRun {
                connector: spec.connector.clone(),
                task: spec.task,
                consumer,
                producer,
                topics,
                key,
                value,
                transforms,
                errors,
                metrics: task_metrics,
                flush_interval: spec.settings.offset_flush_interval,
                control,
            };
            sink::run(task, run).await
        }
    }
}

/// The topics a sink's config names.
pub(crate) fn sink_topics(config: &ConnectorConfig) -> Result<Topics> {
    let names: Vec<String> = config.get("topics").unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    let regex = config.get("topics.regex").map(str::trim).filter(|s| !s.is_empty());
    match (names.is_empty(), regex) {
        (false, None) => Ok(Topics::Names(names)),
        (true, Some(regex)) => Ok(Topics::Regex(regex.to_string())),
        (false, Some(_)) => Err(ConnectError::Config("set topics or topics.regex, not both".into())),
        (true, None) => Err(ConnectError::Config("a sink connector needs topics (comma-separated) or topics.regex".into())),
    }
}
