//! Workers in a group (Kafka Connect's distributed mode): workers started with the same group
//! id share their connectors through three compacted topics and divide the tasks among
//! themselves; when one dies, the others take its tasks over.
//!
//! ```text
//! REST call ──► config topic ──(every worker reads it, in order)──► applier ──► Running
//!                                                         group rebalance ──► Ownership ──┘
//! tasks ──► offsets topic (source offsets)      running tasks' states ──► status topic
//! ```
//!
//! - The config topic holds connector configs, target states and restart requests
//!   (`records`). A worker applies each record when it reads it back, and answers a REST call
//!   once it has applied its own record; every worker applies the same records in the same
//!   order, so all agree.
//! - Creating and deleting connectors (and configs that may create one) are decided by the
//!   group's leader, so that two workers asked at once do not both succeed (`leader`).
//! - Tasks are divided through the consumer-group protocol (`membership`, `assignment`).
//! - Source offsets live in the offsets topic (`offsets::topic`); sink offsets are each
//!   connector's consumer group's, as they are for a worker on its own.
//! - Each worker publishes the states of the tasks it runs to the status topic and reads the
//!   others', so any worker answers `/status` for every task.

mod leader;
mod membership;
mod reader;
mod records;
mod topics;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::ConnectorConfig;
use crate::error::{ConnectError, Result};
use crate::offsets::topic::TopicOffsetStore;
use crate::runtime::assignment::Ownership;
use crate::runtime::running::TaskEnv;
use crate::runtime::status::TaskStatus;
use crate::runtime::worker::Mode;
use crate::runtime::{Cluster, TargetState, Worker, WorkerSettings};

pub(crate) use records::{Change, ConfigRecord};

use leader::Leadership;
use records::Answer;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A worker's group and the group's internal topics.
#[derive(Debug, Clone)]
pub struct DistributedSettings {
    /// The group id every worker of the group shares (Kafka Connect's `group.id`).
    pub group_id: String,
    /// Connector configs and target states (`config.storage.topic`); one partition.
    pub config_topic: String,
    /// Source offsets (`offset.storage.topic`).
    pub offset_topic: String,
    /// Task states (`status.storage.topic`).
    pub status_topic: String,
    /// The topic whose partitions stand for tasks when the group divides them.
    pub assignment_topic: String,
    /// Replication factor of the topics this worker creates (-1: the cluster's default).
    pub replication_factor: i32,
    pub offset_partitions: i32,
    pub status_partitions: i32,
    pub assignment_partitions: i32,
}

impl DistributedSettings {
    /// Settings for group `group_id`, its topics named after it (`G-configs`, `G-offsets`,
    /// `G-status`, `G-assignments`).
    pub fn new(group_id: &str) -> Self {
        Self {
            group_id: group_id.to_string(),
            config_topic: format!("{group_id}-configs"),
            offset_topic: format!("{group_id}-offsets"),
            status_topic: format!("{group_id}-status"),
            assignment_topic: format!("{group_id}-assignments"),
            replication_factor: -1,
            offset_partitions: 25,
            status_partitions: 5,
            assignment_partitions: 32,
        }
    }
}

/// What a worker in a group shares with the others.
pub(crate) struct Distributed {
    settings: DistributedSettings,
    producer: FutureProducer,
    /// The next config-topic offset this worker has applied.
    applied: watch::Sender<i64>,
    /// The states of tasks as their workers last published them.
    statuses: Arc<Mutex<HashMap<(String, usize), TaskStatus>>>,
    /// The start of this worker's request ids: its id, process and start time.
    request_prefix: String,
    /// Requests this worker asked the leader, by id, waiting for their answers.
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    requests: AtomicU64,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    loops: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What the config topic's reader hands the applier.
enum ConfigEvent {
    Record(i64, ConfigRecord),
    /// A record this build does not use (or cannot read), at this offset.
    Skip(i64),
    /// Everything written before now has been handed over.
    End,
    /// The group made this worker its leader (`true`), or no longer.
    Leading(bool),
}

impl Worker {
    /// Joins the group `group`: creates its internal topics when missing, reads the configs
    /// stored there, then takes a share of the tasks. Returns once the configs are read.
    pub async fn join_group(cluster: Cluster, settings: WorkerSettings, group: DistributedSettings) -> Result<Worker> {
        let layout = topics::ensure(&cluster, &group).await?;
        let offsets = {
            let (reach, topic) = (cluster.clone(), group.offset_topic.clone());
            let partitions = group.offset_partitions;
            crate::durable::blocking("reading the offsets topic", move || TopicOffsetStore::open(&reach, &topic, partitions)).await?
        };
        let mut producer_config = cluster.internal_producer();
        producer_config.set("client.id", format!("connect-worker-{}", settings.worker_id));
        let distributed = Arc::new(Distributed {
            settings: group.clone(),
            producer: producer_config.create()?,
            applied: watch::Sender::new(0),
            statuses: Arc::new(Mutex::new(HashMap::new())),
            request_prefix: format!("{}-{}-{}", settings.worker_id, std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)),
            waiting: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
            loops: Mutex::new(Vec::new()),
        });
        let ownership = Ownership::Partitions { count: layout.assignment_partitions, assigned: BTreeSet::new() };
        let worker = Worker::build(TaskEnv { cluster: cluster.clone(), settings, offsets: Arc::new(offsets) }, Mode::Group(distributed.clone()), ownership);

        let (events, receiver) = mpsc::unbounded_channel();
        let leadership_events = events.clone();
        let config_reader = reader::spawn(&cluster, &group.config_topic, 1, distributed.stop.clone(), move |read| {
            let event = match read {
                reader::Read::Record { offset, key, payload, .. } => match ConfigRecord::decode(key, payload) {
                    Ok(Some(record)) => ConfigEvent::Record(offset, record),
                    Ok(None) => ConfigEvent::Skip(offset),
                    Err(e) => {
                        tracing::warn!(offset, error = %e, "skipping a config record this worker cannot read");
                        ConfigEvent::Skip(offset)
                    }
                },
                reader::Read::End => ConfigEvent::End,
            };
            let _ = events.send(event);
        })?;
        let statuses = distributed.statuses.clone();
        let status_reader = reader::spawn(&cluster, &group.status_topic, layout.status_partitions, distributed.stop.clone(), move |read| {
            if let reader::Read::Record { key, payload, .. } = read
                && let Some((task, status)) = records::decode_status(key, payload) {
                    let mut statuses = statuses.lock().unwrap_or_else(|p| p.into_inner());
                    match status {
                        Some(status) => statuses.insert(task, status),
                        None => statuses.remove(&task),
                    };
                }
        })?;
        let (ready, mut is_ready) = watch::channel(false);
        let applier = tokio::spawn(apply_config(worker.clone(), receiver, ready));
        distributed.threads.lock().unwrap_or_else(|p| p.into_inner()).extend([config_reader, status_reader]);
        distributed.loops.lock().unwrap_or_else(|p| p.into_inner()).push(applier);
        if tokio::time::timeout(Duration::from_secs(60), is_ready.wait_for(|r| *r)).await.is_err() {
            worker.shutdown().await;
            return Err(ConnectError::Task(format!("could not read the config topic {} to its end within 60 s; is the cluster reachable?", group.config_topic)));
        }

        let runtime = tokio::runtime::Handle::current();
        let member = worker.clone();
        let count = layout.assignment_partitions;
        let on_assignment = Box::new(move |assigned: BTreeSet<i32>| {
            // The worker given the assignment topic's first partition leads the group.
            let _ = leadership_events.send(ConfigEvent::Leading(assigned.contains(&0)));
            let member = member.clone();
            runtime.block_on(async move { member.inner.running.lock().await.set_ownership(Ownership::Partitions { count, assigned }).await });
        });
        let membership = membership::spawn(&cluster, &group.group_id, &group.assignment_topic, &worker.settings().worker_id, distributed.stop.clone(), on_assignment)?;
        let publisher = tokio::spawn(publish_statuses(worker.clone(), distributed.clone()));
        distributed.threads.lock().unwrap_or_else(|p| p.into_inner()).push(membership);
        distributed.loops.lock().unwrap_or_else(|p| p.into_inner()).push(publisher);
        tracing::info!(group = %group.group_id, configs = %group.config_topic, connectors = worker.names().await.len(), "joined the connect group");
        Ok(worker)
    }
}

impl Distributed {
    /// Writes a record to the config topic; returns its offset.
    pub async fn write(&self, record: ConfigRecord) -> Result<i64> {
        self.send(&self.settings.config_topic, &record.key(), record.payload().as_deref())
            .await
            .map_err(|e| ConnectError::Task(format!("could not write to the config topic {}: {e}", self.settings.config_topic)))
    }

    /// Sends a record (`None`: a tombstone) to one of the group's topics; returns its offset.
    async fn send(&self, topic: &str, key: &str, payload: Option<&[u8]>) -> Result<i64, rdkafka::error::KafkaError> {
        let mut message = FutureRecord::<str, [u8]>::to(topic).key(key);
        if let Some(payload) = payload {
            message = message.payload(payload);
        }
        let delivery = self.producer.send(message, TIMEOUT).await.map_err(|(e, _)| e)?;
        Ok(delivery.offset)
    }

    /// Asks the group's leader for `change` and waits for its decision: the success status
    /// (201 created, 200 updated, 204 deleted), or the refusal as an error.
    pub async fn ask(&self, change: Change) -> Result<u16> {
        let id = format!("{}-{}", self.request_prefix, self.requests.fetch_add(1, Ordering::Relaxed));
        let name = change.name().to_string();
        let (answered, answer) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), answered);
        let written = self.write(ConfigRecord::Request { id: id.clone(), change }).await;
        let answer = match written {
            Ok(_) => tokio::time::timeout(TIMEOUT, answer).await.ok().and_then(Result::ok),
            Err(_) => None,
        };
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        written?;
        let Some(Answer { status, message }) = answer else {
            return Err(ConnectError::Task(format!(
                "the group's leader did not answer the request for connector {name} within {TIMEOUT:?}; the group may be rebalancing (a worker joining, leaving or dead). It may still be applied: check GET /connectors/{name} before asking again"
            )));
        };
        match status {
            200..=299 => Ok(status),
            404 => Err(ConnectError::NotFound(message)),
            409 => Err(ConnectError::Conflict(message)),
            _ => Err(ConnectError::Task(message)),
        }
    }

    /// Hands the leader's answer to the call waiting for it, if it was asked here.
    fn answered(&self, id: &str, answer: Answer) {
        if let Some(waiting) = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
            let _ = waiting.send(answer);
        }
    }

    /// Writes a record and waits until this worker has applied it.
    pub async fn write_and_wait(&self, record: ConfigRecord) -> Result<()> {
        let offset = self.write(record).await?;
        let mut applied = self.applied.subscribe();
        match tokio::time::timeout(TIMEOUT, applied.wait_for(|next| *next > offset)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ConnectError::Task(format!("the change was written to {} but this worker did not read it back within {TIMEOUT:?}; it applies once the worker catches up", self.settings.config_topic))),
        }
    }

    /// A task that runs on another worker, as that worker last published it.
    pub fn task_status(&self, connector: &str, task: usize) -> TaskStatus {
        let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        statuses.get(&(connector.to_string(), task)).cloned().unwrap_or_else(|| TaskStatus::unassigned(task))
    }

    /// Forgets the published states of a deleted connector's tasks.
    pub async fn forget_statuses(&self, connector: &str, tasks: usize) {
        for task in 0..tasks {
            if let Err(e) = self.send(&self.settings.status_topic, &records::status_key(connector, task), None).await {
                tracing::warn!(connector, task, error = %e, "could not forget a deleted task's status");
            }
            self.statuses.lock().unwrap_or_else(|p| p.into_inner()).remove(&(connector.to_string(), task));
        }
    }

    /// Leaves the group: the tasks stop (each flushes), the group hands them to the others,
    /// and the readers end.
    pub async fn leave(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.loops.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            task.abort();
        }
        let threads: Vec<_> = self.threads.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        tracing::info!(group = %self.settings.group_id, "left the connect group");
    }
}

/// Applies the config topic's records in order, and says when it has read what was written
/// before the worker started.
async fn apply_config(worker: Worker, mut events: mpsc::UnboundedReceiver<ConfigEvent>, ready: watch::Sender<bool>) {
    let Mode::Group(group) = &worker.inner.mode else { return };
    let mut target_states: BTreeMap<String, TargetState> = BTreeMap::new();
    let mut leadership = Leadership::default();
    while let Some(event) = events.recv().await {
        let offset = match event {
            ConfigEvent::End => {
                ready.send_replace(true);
                continue;
            }
            ConfigEvent::Leading(leading) => {
                if leading != leadership.is_leading() {
                    leadership.set_leading(leading);
                    if leading {
                        // Decide nothing before reading back this marker: by then every
                        // decision of an earlier leader has been read too.
                        match group.write(ConfigRecord::Leader { worker: worker.settings().worker_id.clone() }).await {
                            Ok(offset) => leadership.wrote(offset),
                            Err(e) => {
                                tracing::error!(error = %e, "this worker leads the connect group but could not say so in the config topic; connector creations and deletions wait until it can");
                                leadership.set_leading(false);
                            }
                        }
                    }
                }
                continue;
            }
            ConfigEvent::Skip(offset) => offset,
            ConfigEvent::Record(offset, record) => {
                match record {
                    ConfigRecord::Request { id, change } => leadership.requested(id, change),
                    ConfigRecord::Answer { id, answer: Some(answer) } => leadership.decided(&id, answer),
                    // The request ended: everything it changed has been applied.
                    ConfigRecord::Answer { id, answer: None } => {
                        if let Some(answer) = leadership.ended(&id) {
                            group.answered(&id, answer);
                        }
                    }
                    ConfigRecord::Leader { worker } => tracing::info!(leader = %worker, "the connect group's leader decides connector creations and deletions"),
                    record => {
                        let caught_up = *ready.borrow();
                        apply(&worker, &mut target_states, record, caught_up).await;
                    }
                }
                offset
            }
        };
        group.applied.send_replace(offset + 1);
        decide_next(&worker, group, &mut leadership, offset + 1).await;
    }
}

/// The leader decides the next waiting request (or carries out a decision an earlier leader
/// left unfinished), if it has read back its last write.
async fn decide_next(worker: &Worker, group: &Distributed, leadership: &mut Leadership, applied: i64) {
    let Some(leader::Pending { id, change, answer }) = leadership.next(applied) else { return };
    let mut records = Vec::new();
    let answer = match answer {
        Some(answer) => answer,
        None => {
            let exists = worker.inner.running.lock().await.connectors.contains_key(change.name());
            let answer = leader::decide(&change, exists);
            records.push(ConfigRecord::Answer { id: id.clone(), answer: Some(answer.clone()) });
            answer
        }
    };
    records.extend(leader::carry_out(&id, change, &answer));
    for record in records {
        match group.write(record).await {
            Ok(offset) => leadership.wrote(offset),
            Err(e) => {
                tracing::error!(request = %id, error = %e, "the leader could not write its decision; the worker that asked reports a timeout");
                return;
            }
        }
    }
}

async fn apply(worker: &Worker, target_states: &mut BTreeMap<String, TargetState>, record: ConfigRecord, caught_up: bool) {
    let name = record.name().to_string();
    let mut running = worker.inner.running.lock().await;
    match record {
        ConfigRecord::Connector { config: Some(entries), .. } => {
            let state = target_states.get(&name).copied().unwrap_or(TargetState::Running);
            let checked = ConnectorConfig::new(entries).and_then(|config| Worker::check(&config).map(|plugin| (config, plugin)));
            let result = match checked {
                Ok((config, plugin)) => running.set_connector(&name, config, plugin, state).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::error!(connector = %name, error = %e, "a connector in the config topic cannot run on this worker; fix it with PUT /connectors/{name}/config or delete it");
            }
        }
        ConfigRecord::Connector { config: None, .. } => {
            running.remove_connector(&name).await;
        }
        ConfigRecord::TargetState { state: Some(state), .. } => {
            target_states.insert(name.clone(), state);
            running.set_state(&name, state);
        }
        ConfigRecord::TargetState { state: None, .. } => {
            target_states.remove(&name);
        }
        // Requests made before this worker started were served by the workers of then.
        ConfigRecord::Restart { task, only_failed, .. } if caught_up => running.restart(&name, task, only_failed),
        ConfigRecord::Restart { .. } => {}
        // The leader's exchange, handled by `apply_config` before it calls here.
        ConfigRecord::Request { .. } | ConfigRecord::Answer { .. } | ConfigRecord::Leader { .. } => {}
    }
}

/// Publishes the states of the tasks running here whenever they change (checked every
/// second).
async fn publish_statuses(worker: Worker, group: Arc<Distributed>) {
    let mut published: HashMap<(String, usize), TaskStatus> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now: HashMap<(String, usize), TaskStatus> = {
            let running = worker.inner.running.lock().await;
            running.connectors.iter().flat_map(|(name, c)| c.running.iter().map(move |(id, t)| ((name.clone(), *id), t.status()))).collect()
        };
        for (task, status) in &now {
            if published.get(task) == Some(status) {
                continue;
            }
            let Ok(payload) = serde_json::to_vec(status) else { continue };
            match group.send(&group.settings.status_topic, &records::status_key(&task.0, task.1), Some(&payload)).await {
                Ok(_) => {
                    published.insert(task.clone(), status.clone());
                }
                Err(e) => tracing::warn!(connector = %task.0, task = task.1, error = %e, "could not publish a task's state; retrying"),
            }
        }
        published.retain(|task, _| now.contains_key(task));
    }
}
