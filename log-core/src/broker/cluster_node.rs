//! [`ClusterNode`]: what a broker in a multi-node cluster holds beyond a single node's state —
//! its controller quorum, the active controller's memory (broker sessions, registrations),
//! and its own membership (incarnation, the image version it has applied) — and the tasks
//! that keep it a member: the image applier, registration and heartbeats, the controller's
//! periodic pass, and sending its leaders' ISR changes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use fjord_quorum::{Quorum, QuorumConfig};
use tokio::sync::watch;

use super::config::{BrokerConfig, ClusterSettings};
use super::groups::{self, OffsetsTopicLog};
use super::metrics::{BrokerMetrics, LeaderLabel, ReplicaLabel};
use super::partition::monotonic_ms;
use super::replica_manager::ReplicaManager;
use super::tasks::{self, Start};
use super::{dynamic_config, Broker, Partition, ProducerIdBlock};
use crate::cluster::{ControllerRequest, ControllerResponse};
use crate::controller::BrokerSessions;
use crate::group::GroupCoordinator;
use crate::metadata::{BrokerImage, MetadataCache, MetadataImage, ReplicatedMetadata};
use crate::rpc::{
    ControllerCalls, ControllerServiceServer, FollowerSource, GrpcControllerTransport, ReplicaFetchService, ReplicaFetcherConfig, ReplicaFetcherManager,
    ReplicaSource,
};
use crate::Error;

/// Carries a request to another node's controller service: `endpoint` is its inter-broker
/// `host:port`, `body` the JSON of a [`ControllerRequest`]; the answer is the JSON of a
/// [`ControllerResponse`].
pub trait ControllerTransport: Send + Sync + std::fmt::Debug {
    /// Sends `body` to `endpoint` and returns the answer's body.
    fn call(&self, endpoint: String, body: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;
}

/// A broker's cluster state. See the module docs.
#[derive(Debug)]
pub struct ClusterNode {
    pub(super) settings: ClusterSettings,
    pub(super) quorum: Arc<Quorum>,
    /// This run of the broker (milliseconds since the epoch at start: new on every start).
    pub(super) incarnation: u64,
    /// As active controller: last contact per broker.
    pub(super) sessions: Mutex<BrokerSessions>,
    /// As active controller: the image version each broker's registration was committed at;
    /// a broker is unfenced once it has applied that version.
    pub(super) registered_at: Mutex<BTreeMap<i32, u64>>,
    /// The quorum term in which this node last became the active controller.
    pub(super) active_term: Mutex<Option<u64>>,
    /// The image version the replica manager has applied.
    pub(super) applied_version: watch::Sender<u64>,
    /// Set when the broker starts to shut down: heartbeats ask for a controlled shutdown.
    pub(super) shutting_down: AtomicBool,
    pub(super) transport: Arc<dyn ControllerTransport>,
    /// The follower side of replication, started with the cluster tasks.
    pub(super) fetchers: OnceLock<ReplicaFetcherManager>,
    /// As active controller: when leadership last went back to preferred replicas.
    pub(super) last_rebalance_ms: Mutex<u64>,
    /// Set once this incarnation has caught up with the metadata log (the controller
    /// unfenced it). Until then client requests wait, as a Kafka broker does not process
    /// requests before its initial catch-up: a restarted node must not answer from the image
    /// it had before it stopped.
    caught_up: watch::Sender<bool>,
    /// The producer ids this broker hands out, a block at a time from the controller.
    pub(super) producer_ids: tokio::sync::Mutex<ProducerIdBlock>,
}

impl ClusterNode {
    /// A node voting in `quorum`.
    pub fn new(settings: ClusterSettings, quorum: Arc<Quorum>, transport: Arc<dyn ControllerTransport>) -> Self {
        let incarnation = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_millis() as u64);
        // A broker reported refusing connections is fenced after missing one heartbeat and
        // half of the next.
        let sessions = BrokerSessions::new(settings.broker_session_timeout_ms, settings.broker_heartbeat_interval_ms * 3 / 2);
        Self {
            settings,
            quorum,
            incarnation,
            sessions: Mutex::new(sessions),
            registered_at: Mutex::new(BTreeMap::new()),
            active_term: Mutex::new(None),
            applied_version: watch::Sender::new(0),
            shutting_down: AtomicBool::new(false),
            transport,
            fetchers: OnceLock::new(),
            last_rebalance_ms: Mutex::new(0),
            caught_up: watch::Sender::new(false),
            producer_ids: tokio::sync::Mutex::default(),
        }
    }

    /// Waits until this incarnation has caught up with the metadata log.
    pub async fn wait_caught_up(&self) {
        // Every client request passes here: only a node still catching up subscribes.
        if *self.caught_up.borrow() {
            return;
        }
        let mut caught_up = self.caught_up.subscribe();
        let _ = caught_up.wait_for(|c| *c).await;
    }

    /// The active controller (the quorum's leader), if known.
    pub fn controller_id(&self) -> Option<i32> {
        self.quorum.watch_leader().borrow().leader.map(|l| l as i32)
    }

    /// Whether `node_id` is a voter of the controller quorum (else a broker-only observer).
    pub fn is_voter(&self, node_id: i32) -> bool {
        self.settings.voters.contains_key(&node_id)
    }

    /// Whether this node runs the broker role (registers, hosts partitions, serves Kafka
    /// clients); false on a controller-only node.
    pub fn is_broker(&self) -> bool {
        self.settings.broker_role
    }

    /// The quorum.
    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }
}

impl Broker {
    /// Opens a broker that is a member of a cluster (and a voter of its controller quorum):
    /// starts the quorum (restoring the metadata image from its snapshot and log), opens the
    /// partitions the image places here, serves the inter-broker listener and starts the
    /// cluster tasks.
    pub(super) async fn open_clustered(config: BrokerConfig) -> Result<Arc<Self>, Error> {
        let Some(settings) = config.cluster.clone() else {
            return Err(Error::Cluster("no cluster settings".into()));
        };
        let cache = Arc::new(MetadataCache::new(MetadataImage::new(String::new(), -1)));
        let voters = settings.voters.iter().map(|(&id, endpoint)| (id as u64, endpoint.clone())).collect();
        let mut quorum_config = QuorumConfig::new(config.node_id as u64, voters, config.data_dir.join("meta"));
        // Slower than fjord-quorum's LAN defaults: brokers share their cores with the quorum,
        // and a heartbeat starved for a moment must not cost an election (each one gives
        // every broker a fresh session, which delays fencing a dead one).
        quorum_config.heartbeat_ms = 250;
        quorum_config.election_timeout_min_ms = 1_500;
        quorum_config.election_timeout_max_ms = 3_000;
        quorum_config.local_address = settings.outgoing_address();
        let state_machine = Arc::new(ReplicatedMetadata::new(Arc::clone(&cache)));
        let quorum = Arc::new(Quorum::start(quorum_config, state_machine).await.map_err(|e| Error::Cluster(e.to_string()))?);
        let listener = tokio::net::TcpListener::bind(&settings.rpc_listen)
            .await
            .map_err(|e| Error::Cluster(format!("cannot listen for inter-broker traffic on {}: {e}; choose another --rpc-listen", settings.rpc_listen)))?;
        let image = cache.image();
        let effective = dynamic_config::effective(&config, &image.broker_configs);
        let replicas = Arc::new(ReplicaManager::open(&effective, &image)?);
        let metrics = BrokerMetrics::default();
        metrics.partitions.set(replicas.len() as i64);
        let offsets_log = OffsetsTopicLog::new(&config, &replicas)?;
        // Groups are taken over partition by partition as this broker leads them.
        let groups = GroupCoordinator::empty(offsets_log, groups::group_config(&config), config.offsets_topic_partitions);
        let transport: Arc<dyn ControllerTransport> = Arc::new(GrpcControllerTransport::new(settings.outgoing_address()));
        let node = ClusterNode::new(settings, Arc::clone(&quorum), transport);
        let broker = Arc::new(Self {
            config,
            effective: RwLock::new(Arc::new(effective)),
            store: None,
            cache,
            cluster: Some(node),
            replicas,
            groups,
            producer_ids: None,
            metrics,
            controller: tokio::sync::Mutex::new(()),
            tasks: tasks::BackgroundTasks::default(),
            transforms: super::transforms::Transforms::default(),
        });
        serve_rpc(&broker, listener);
        tasks::start(&broker);
        start_tasks(&broker);
        if broker.cluster.as_ref().is_some_and(ClusterNode::is_broker) {
            broker.start_transforms();
        }
        let role = if broker.cluster.as_ref().is_some_and(ClusterNode::is_broker) { "broker opened as a cluster member" } else { "controller-only node opened (no partitions, no Kafka listener)" };
        tracing::info!(node_id = broker.config.node_id, data_dir = %broker.config.data_dir.display(), "{role}");
        Ok(broker)
    }

    /// The active controller's node id: the quorum's leader in a cluster (-1 while none is
    /// elected), this node when it is alone.
    pub fn controller_id(&self) -> i32 {
        match &self.cluster {
            Some(node) => node.controller_id().unwrap_or(-1),
            None => self.image().controller_id,
        }
    }

    /// The controller id Kafka clients are told (Metadata, DescribeCluster): the active
    /// controller when it is a broker they can reach, else — a controller-only node, which
    /// has no Kafka listener — this broker, which forwards admin requests to the controller
    /// (as a KRaft broker names a live broker). -1 while no controller is known.
    pub fn client_controller_id(&self) -> i32 {
        let id = self.controller_id();
        if id < 0 || self.cluster.is_none() {
            return id;
        }
        let image = self.image();
        if image.broker(id).is_some_and(|b| !b.fenced) { id } else { self.config.node_id }
    }

    /// This broker's cluster membership, when it has one.
    pub fn cluster(&self) -> Option<&ClusterNode> {
        self.cluster.as_ref()
    }

    /// This broker's registration as the controller records it.
    pub(super) fn registration(&self, node: &ClusterNode) -> BrokerImage {
        BrokerImage {
            node_id: self.config.node_id,
            host: self.config.advertised_host.clone(),
            port: self.config.advertised_port,
            rack: self.config.rack.clone(),
            rpc_endpoint: Some(node.settings.rpc_advertised.clone()),
            incarnation: node.incarnation,
            fenced: true,
            in_controlled_shutdown: false,
        }
    }

    /// Sends `request` to the active controller — handled here when this node is it — and
    /// retries (a new controller being elected, a lost connection) until `deadline`.
    pub(super) async fn call_controller(&self, request: ControllerRequest, timeout: Duration) -> ControllerResponse {
        let Some(node) = &self.cluster else {
            return ControllerResponse::Error { code: kafka_protocol::ResponseError::NotController.code(), message: "this broker is not in a cluster".into() };
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = String::from("no controller is elected yet");
        // Who to ask when this node's quorum view names no leader (a broker-only node before
        // the leader has made it an observer): the leader another voter named, else each voter
        // in turn.
        let mut hint: Option<i32> = None;
        let mut next_voter = node.settings.voters.keys().copied().cycle();
        loop {
            let target = node.controller_id().or(hint.take()).or_else(|| (!node.is_voter(self.config.node_id)).then(|| next_voter.next()).flatten());
            // Bounded by the deadline whoever answers: a controller that is this node and has
            // lost its quorum would otherwise hold the caller until its commit gives up.
            let attempt = async {
                match target {
                    Some(id) if id == self.config.node_id => self.handle_controller_request(request.clone()).await,
                    Some(id) => match node.settings.voters.get(&id) {
                        Some(endpoint) => {
                            let body = serde_json::to_vec(&request).unwrap_or_default();
                            match node.transport.call(endpoint.clone(), body).await {
                                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| ControllerResponse::Error {
                                    code: kafka_protocol::ResponseError::UnknownServerError.code(),
                                    message: format!("the controller's answer does not decode: {e}"),
                                }),
                                Err(e) => {
                                    last = format!("controller {id} at {endpoint}: {e}");
                                    ControllerResponse::NotController { leader: None }
                                }
                            }
                        }
                        None => ControllerResponse::NotController { leader: None },
                    },
                    None => ControllerResponse::NotController { leader: None },
                }
            };
            let Ok(answer) = tokio::time::timeout_at(deadline, attempt).await else {
                return ControllerResponse::Error { code: kafka_protocol::ResponseError::RequestTimedOut.code(), message: format!("the controller did not answer within {timeout:?}") };
            };
            match answer {
                ControllerResponse::NotController { leader: Some(leader) } if tokio::time::Instant::now() < deadline && Some(leader) != target => {
                    hint = Some(leader);
                }
                ControllerResponse::NotController { .. } if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                ControllerResponse::NotController { .. } => {
                    return ControllerResponse::Error { code: kafka_protocol::ResponseError::NotController.code(), message: format!("no active controller answered: {last}") };
                }
                answer => return answer,
            }
        }
    }
}

/// Starts the cluster tasks of `broker`: the image applier, membership (registration and
/// heartbeats), the controller's periodic pass, and the ISR change sender.
pub(super) fn start_tasks(broker: &Arc<Broker>) {
    let Some(node) = &broker.cluster else { return };
    let mut handles = Vec::new();
    // The applier: every published image is applied to the hosted partitions, in order.
    let weak = Arc::downgrade(broker);
    let mut images = broker.cache.subscribe();
    let mut stop = broker.tasks.stop_signal();
    handles.push(tokio::spawn(async move {
        let mut applied: Arc<MetadataImage> = images.borrow_and_update().clone();
        loop {
            tokio::select! {
                changed = images.changed() => if changed.is_err() { break },
                _ = stop.changed() => break,
            }
            let next = images.borrow_and_update().clone();
            let Some(broker) = weak.upgrade() else { break };
            let old = Arc::clone(&applied);
            let new = Arc::clone(&next);
            let version = new.version;
            let result = tokio::task::spawn_blocking(move || {
                let applied = broker.apply_image(&old, &new);
                broker.follow_coordination();
                applied.map(|()| broker)
            })
            .await;
            match result {
                Ok(Ok(broker)) => {
                    if let Some(node) = &broker.cluster {
                        node.applied_version.send_replace(version);
                        if let Some(fetchers) = node.fetchers.get() {
                            fetchers.wake();
                        }
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, version, "applying a metadata image failed for some partitions; they stay as they were"),
                Err(e) => tracing::error!(error = %e, "the image applier panicked"),
            }
            applied = next;
        }
    }));
    if !node.settings.broker_role {
        // A controller-only node hosts nothing and is no broker: besides following the image
        // (the controller's commits wait for it), it runs the controller pass alone.
        handles.push(spawn_loop(broker, Duration::from_millis(250), Broker::controller_pass));
        broker.tasks.add(handles);
        return;
    }
    let initial = Arc::clone(broker);
    handles.push(tokio::task::spawn_blocking(move || initial.follow_coordination()));
    let source: Arc<dyn FollowerSource> = Arc::new(BrokerLink(Arc::downgrade(broker)));
    let _ = node.fetchers.set(ReplicaFetcherManager::start(source, ReplicaFetcherConfig { local_address: node.settings.outgoing_address(), ..ReplicaFetcherConfig::new(broker.config.node_id) }));
    let interval = Duration::from_millis(node.settings.broker_heartbeat_interval_ms.max(100));
    handles.push(spawn_loop(broker, interval, Broker::heartbeat_once));
    handles.push(spawn_loop(broker, Duration::from_millis(250), Broker::controller_pass));
    handles.push(spawn_loop(broker, Duration::from_millis(200), Broker::send_isr_changes));
    broker.tasks.add(handles);
}

/// Runs an async cluster pass every `every`; a pass waiting on an unreachable controller is
/// abandoned when the broker stops, so it never holds up shutdown.
fn spawn_loop<Fut>(broker: &Arc<Broker>, every: Duration, pass: fn(Arc<Broker>) -> Fut) -> tokio::task::JoinHandle<()>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    tasks::spawn_loop(broker, every, Start::Now, move |broker| {
        let mut stop = broker.tasks.stop_signal();
        async move {
            tokio::select! {
                () = pass(broker) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
    })
}

impl Broker {
    /// One heartbeat (registering first when the controller does not know this incarnation).
    async fn heartbeat_once(self: Arc<Self>) {
        let Some(node) = &self.cluster else { return };
        let request = ControllerRequest::Heartbeat {
            node_id: self.config.node_id,
            incarnation: node.incarnation,
            applied_version: *node.applied_version.borrow(),
            shutting_down: node.shutting_down.load(Ordering::Acquire),
        };
        let timeout = Duration::from_millis(node.settings.broker_heartbeat_interval_ms.max(500));
        match self.call_controller(request, timeout).await {
            ControllerResponse::Heartbeat { fenced, .. } => {
                if !fenced && !*node.caught_up.borrow() {
                    tracing::info!("caught up with the cluster metadata; serving clients");
                    node.caught_up.send_replace(true);
                }
            }
            ControllerResponse::Error { code, message } if code == kafka_protocol::ResponseError::StaleBrokerEpoch.code() => {
                tracing::info!(%message, "registering with the controller");
                let registration = ControllerRequest::Register { broker: self.registration(node) };
                if let ControllerResponse::Error { message, .. } = self.call_controller(registration, timeout).await {
                    tracing::warn!(%message, "registration failed; retrying");
                }
            }
            ControllerResponse::Error { message, .. } => tracing::debug!(%message, "heartbeat not answered"),
            other => tracing::debug!(?other, "unexpected heartbeat answer"),
        }
    }

    /// Sends the ISR changes this broker's leaders want, and tells them about refusals.
    async fn send_isr_changes(self: Arc<Self>) {
        let Some(node) = &self.cluster else { return };
        let timeout = Duration::from_millis(node.settings.broker_heartbeat_interval_ms.max(500));
        let partitions = self.replicas.all();
        let under_replicated = partitions.iter().filter_map(|p| p.leader_and_isr()).filter(|s| s.isr.len() < s.replicas.len()).count();
        self.metrics.under_replicated_partitions.set(under_replicated as i64);
        let lags = partitions.iter().flat_map(|p| {
            p.follower_lags().into_iter().map(|(replica, lag)| (ReplicaLabel { topic: p.topic().to_string(), partition: p.index(), replica }, lag))
        });
        self.metrics.set_replica_lags(lags.collect::<Vec<_>>());
        for partition in partitions {
            partition.tick();
            for change in partition.take_isr_requests() {
                let request = ControllerRequest::AlterPartition { topic: partition.topic().to_string(), partition: partition.index(), change: change.clone() };
                let before = partition.leader_and_isr().map_or(0, |s| s.isr.len());
                match self.call_controller(request, timeout).await {
                    ControllerResponse::Partition(committed) => match committed.isr.len().cmp(&before) {
                        std::cmp::Ordering::Less => drop(self.metrics.isr_shrinks.inc()),
                        std::cmp::Ordering::Greater => drop(self.metrics.isr_expands.inc()),
                        std::cmp::Ordering::Equal => {}
                    },
                    other => {
                        tracing::debug!(topic = partition.topic(), partition = partition.index(), ?other, "ISR change not committed");
                        partition.isr_change_refused(&change);
                    }
                }
            }
        }
    }

    /// The active controller's periodic pass: form the cluster, fence silent brokers.
    async fn controller_pass(self: Arc<Self>) {
        let Some(node) = &self.cluster else { return };
        let leader = *node.quorum.watch_leader().borrow();
        self.metrics.quorum_term.set(leader.term as i64);
        let active = leader.leader == Some(self.config.node_id as u64);
        self.metrics.active_controller.set(i64::from(active));
        if !active {
            self.metrics.offline_partitions.set(0);
            return;
        }
        let offline = self.image().topics.values().flat_map(|t| &t.partitions).filter(|p| p.leader < 0).count();
        self.metrics.offline_partitions.set(offline as i64);
        let now = monotonic_ms();
        {
            // A newly active controller knows no broker's last heartbeat. Kafka's gives each a
            // full session, so a broker that died with the old controller (often the same
            // process) is fenced a whole session after the election. Here each starts with
            // a few heartbeat intervals left: live brokers find the new controller well
            // within them (they vote in the quorum and see the election), dead ones are
            // fenced that much sooner. A live broker fenced by mistake is unfenced at its
            // next heartbeat.
            let mut term = node.active_term.lock().unwrap_or_else(|p| p.into_inner());
            if *term != Some(leader.term) {
                *term = Some(leader.term);
                let timeout = node.settings.broker_session_timeout_ms;
                let grace = (3 * node.settings.broker_heartbeat_interval_ms).max(3_000).min(timeout);
                let mut sessions = node.sessions.lock().unwrap_or_else(|p| p.into_inner());
                for b in &self.image().brokers {
                    sessions.touch(b.node_id, now.saturating_sub(timeout - grace));
                }
                tracing::info!(term = leader.term, "this node is the active controller");
            }
        }
        if let Err(e) = self.controller_maintenance(now).await {
            tracing::warn!(error = %e, "controller pass failed; retrying");
        }
    }

    /// Takes over the groups of the offsets topic partitions this broker now leads and gives
    /// up those it no longer leads. Replays partitions from disk: call it off the runtime.
    fn follow_coordination(&self) {
        let count = self.groups.config().offsets_partitions.max(0);
        let owned: std::collections::BTreeSet<i32> = self.groups.owned_partitions().into_iter().collect();
        for index in 0..count {
            let leads = self.partition(super::OFFSETS_TOPIC, index).is_some_and(|p| p.is_leader());
            match (leads, owned.contains(&index)) {
                (true, false) => {
                    if let Err(e) = self.groups.take_over(index) {
                        tracing::warn!(partition = index, error = %e, "could not load the groups of an offsets topic partition; will retry on the next metadata change");
                    }
                }
                (false, true) => self.groups.give_up(index),
                _ => {}
            }
        }
    }

    /// Called by the server before it stops: controlled shutdown through heartbeats, bounded
    /// by `timeout`.
    pub async fn controlled_shutdown(&self, timeout: Duration) {
        // Runners finish their batch while this broker still leads and serves.
        self.stop_transforms().await;
        let Some(node) = self.cluster.as_ref().filter(|n| n.settings.broker_role) else { return };
        node.shutting_down.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            let request = ControllerRequest::Heartbeat {
                node_id: self.config.node_id,
                incarnation: node.incarnation,
                applied_version: *node.applied_version.borrow(),
                shutting_down: true,
            };
            let me = self.config.node_id;
            let call = self.call_controller(request, Duration::from_secs(2));
            tokio::pin!(call);
            let answer = loop {
                tokio::select! {
                    answer = &mut call => break answer,
                    // A controller that stopped mid-call leaves it hanging; meanwhile the other
                    // brokers' own listeners say whether any of them is still there (the
                    // metadata may never show it when the controller stopped first).
                    () = tokio::time::sleep(STOPPED_PROBE_EVERY) => {
                        if self.other_brokers_stopped(me).await {
                            return;
                        }
                    }
                }
            };
            if let ControllerResponse::Heartbeat { shutdown_ready: true, .. } = answer {
                tracing::info!("leadership moved away; shutting down");
                return;
            }
            // The whole cluster stopping: once the metadata shows no other broker that could
            // lead (all fenced or shutting down), there is nowhere to move leadership to, and
            // the controller may be gone with them.
            if !self.image().brokers.iter().any(|b| b.node_id != me && b.is_eligible()) {
                tracing::info!("no other broker can take over leadership (all are stopping or fenced); shutting down");
                return;
            }
            if self.other_brokers_stopped(me).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!("controlled shutdown did not finish in time; stopping anyway (leaders move when the session expires)");
    }

    /// Whether every other broker the metadata knows has stopped ([`all_refuse`] at their
    /// inter-broker endpoints), said in the log when they have: none can take over leadership.
    async fn other_brokers_stopped(&self, me: i32) -> bool {
        let endpoints: Vec<String> = self.image().brokers.iter().filter(|b| b.node_id != me).filter_map(|b| b.rpc_endpoint.clone()).collect();
        let stopped = all_refuse(&endpoints).await;
        if stopped {
            tracing::info!("every other broker refuses connections (they have stopped), so none can take over leadership; shutting down");
        }
        stopped
    }
}

/// Whether each of `endpoints` (at least one) refuses a connection: a refused connection means
/// nothing listens there, so the broker behind it has stopped. Any other answer (accepted, timed
/// out, unreachable) counts as possibly running.
async fn all_refuse(endpoints: &[String]) -> bool {
    if endpoints.is_empty() {
        return false;
    }
    for endpoint in endpoints {
        match tokio::time::timeout(STOPPED_PROBE_TIMEOUT, tokio::net::TcpStream::connect(endpoint.as_str())).await {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            _ => return false,
        }
    }
    true
}

/// How long a stopping broker waits for a peer's inter-broker listener to answer a connection.
const STOPPED_PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// How often a stopping broker whose controller call hangs looks whether its peers stopped.
const STOPPED_PROBE_EVERY: Duration = Duration::from_millis(250);

/// The broker as the replication services see it, held weakly so that neither keeps it alive.
#[derive(Debug, Clone)]
struct BrokerLink(Weak<Broker>);

impl ReplicaSource for BrokerLink {
    fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.0.upgrade()?.partition(topic, index)
    }

    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid> {
        self.0.upgrade()?.image().topics.get(topic).map(|t| t.id)
    }
}

impl FollowerSource for BrokerLink {
    fn partitions(&self) -> Vec<Arc<Partition>> {
        self.0.upgrade().map(|b| b.all_partitions()).unwrap_or_default()
    }

    fn rpc_endpoint(&self, node_id: i32) -> Option<String> {
        self.0.upgrade()?.image().broker(node_id)?.rpc_endpoint.clone()
    }

    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid> {
        self.0.upgrade()?.image().topics.get(topic).map(|t| t.id)
    }

    fn leader_refused(&self, leader: i32) {
        let Some(broker) = self.0.upgrade() else { return };
        tokio::spawn(async move {
            let _ = broker.call_controller(ControllerRequest::ReportRefused { broker: leader }, Duration::from_secs(2)).await;
        });
    }

    fn answered(&self, leader: i32, record_bytes: usize) {
        let Some(broker) = self.0.upgrade() else { return };
        let label = LeaderLabel { leader };
        broker.metrics().replica_fetch_answers.get_or_create(&label).inc();
        broker.metrics().replica_fetch_bytes.get_or_create(&label).inc_by(record_bytes as u64);
    }
}

/// How long a stopping node's inter-broker listener waits for the calls in hand.
const RPC_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Serves the inter-broker listener — the quorum's Raft, replica fetch and the controller
/// envelope — until the broker's tasks stop.
fn serve_rpc(broker: &Arc<Broker>, listener: tokio::net::TcpListener) {
    let Some(node) = &broker.cluster else { return };
    let link: Arc<dyn ReplicaSource> = Arc::new(BrokerLink(Arc::downgrade(broker)));
    let replicas = ReplicaFetchService::new(link, broker.tasks.stop_signal());
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .initial_stream_window_size(crate::rpc::WINDOW_BYTES)
        .initial_connection_window_size(2 * crate::rpc::WINDOW_BYTES)
        .max_frame_size(crate::rpc::MAX_FRAME_BYTES)
        .add_service(node.quorum.raft_service())
        .add_service(replicas.into_server())
        .add_service(ControllerServiceServer::new(ControllerCalls::new(broker)).max_decoding_message_size(crate::rpc::MAX_CONTROLLER_MESSAGE_BYTES).max_encoding_message_size(crate::rpc::MAX_CONTROLLER_MESSAGE_BYTES));
    let (mut stop, mut stopped) = (broker.tasks.stop_signal(), broker.tasks.stop_signal());
    let endpoint = node.settings.rpc_listen.clone();
    let handle = tokio::spawn(async move {
        // Small answers (a follower's acknowledgement, a Raft heartbeat) must not wait for
        // Nagle's algorithm and the peer's delayed ACK: tens of milliseconds each, on the
        // acks=all path. (`serve_with_incoming` does not apply the builder's TCP options.)
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        // A graceful stop waits for the peers' connections to close, and peers that are
        // stopping too keep calling (a controlled shutdown asks the controller every 200 ms):
        // calls in hand get RPC_SHUTDOWN_GRACE, then the listener's task ends regardless.
        let grace = async move {
            let _ = stopped.wait_for(|s| *s).await;
            tokio::time::sleep(RPC_SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            served = router.serve_with_incoming_shutdown(incoming, shutdown) => {
                if let Err(e) = served {
                    tracing::error!(%endpoint, error = %e, "the inter-broker listener failed");
                }
            }
            () = grace => tracing::debug!(%endpoint, "inter-broker connections still open after the shutdown grace; not waiting for them"),
        }
    });
    broker.tasks.add(vec![handle]);
    tracing::info!(listen = %node.settings.rpc_listen, "inter-broker listener listening");
}

#[cfg(test)]
mod tests {
    use super::all_refuse;

    #[tokio::test]
    async fn peers_count_as_stopped_only_when_every_endpoint_refuses() {
        // Nothing listens on port 1 of the loopback address: a refused connection.
        let stopped = "127.0.0.1:1".to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = listener.local_addr().expect("address").to_string();
        assert!(all_refuse(std::slice::from_ref(&stopped)).await);
        assert!(all_refuse(&[stopped.clone(), stopped.clone()]).await);
        assert!(!all_refuse(&[stopped, running]).await, "one peer still listens");
        assert!(!all_refuse(&[]).await, "no peer known: nothing to conclude");
    }
}
