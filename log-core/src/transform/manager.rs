//! [`TransformManager`]: keeps one [`Runner`] going for each running deployment and each of
//! its input partitions this broker leads, in line with the metadata image — starting runners
//! when a deployment arrives or leadership moves here, stopping them when it moves away or
//! the deployment is deleted, stopped or deployed again, and starting again runners that
//! failed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fjord_plugins::{Plugin, PluginHost, PluginLimits};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::clients::Clients;
use super::metrics::TransformMetrics;
use super::output::LocalProduce;
use super::runner::{Exit, Runner, StopRequest};
use crate::broker::Partition;
use crate::metadata::{MetadataCache, MetadataImage, TransformDeployment, TransformState};

/// How often the manager looks again without a metadata change (failed runners restart on
/// this beat).
const RECHECK: Duration = Duration::from_secs(1);
/// How long a runner asked to stop may take to finish its batch.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Looks up a partition this broker hosts.
pub type PartitionLookup = Arc<dyn Fn(&str, i32) -> Option<Arc<Partition>> + Send + Sync>;

/// What the manager needs from its broker.
pub struct ManagerDeps {
    /// This broker.
    pub node_id: i32,
    /// The metadata image and its changes.
    pub cache: Arc<MetadataCache>,
    /// The hosted partitions.
    pub partitions: PartitionLookup,
    /// This broker's Kafka listener, for the transform clients.
    pub bootstrap: String,
    /// Where compiled plugins are kept between runs.
    pub compile_cache_dir: PathBuf,
    /// The transforms' metrics.
    pub metrics: TransformMetrics,
    /// Where runners send deployments that stop themselves (`on-error stop`).
    pub stops: mpsc::UnboundedSender<StopRequest>,
    /// The broker's produce path, in-process, for outputs to partitions led here.
    pub produce: LocalProduce,
}

impl std::fmt::Debug for ManagerDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerDeps").field("node_id", &self.node_id).field("bootstrap", &self.bootstrap).finish_non_exhaustive()
    }
}

/// The running manager; [`TransformManager::shutdown`] stops every runner.
#[derive(Debug)]
pub struct TransformManager {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TransformManager {
    /// Starts managing transforms on this broker. Nothing heavy starts (plugin engine, Kafka
    /// clients) until a deployment has a partition here.
    pub fn start(deps: ManagerDeps) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(manage(deps, stopped));
        Self { stop, task: Mutex::new(Some(task)) }
    }

    /// Stops every runner (each finishes and commits the batch in hand) and the manager.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// One running runner.
struct Running {
    deployed_at_ms: i64,
    stop: watch::Sender<bool>,
    handle: JoinHandle<Exit>,
}

/// The manager's state between looks at the image.
struct Manager {
    deps: ManagerDeps,
    running: HashMap<(String, i32), Running>,
    /// Compiled plugins by SHA-256.
    plugins: HashMap<String, Arc<Plugin>>,
    /// SHA-256 of plugins that did not compile here (reported once).
    broken: HashSet<String>,
    host: Option<PluginHost>,
    clients: Option<Arc<Clients>>,
}

async fn manage(deps: ManagerDeps, mut stopped: watch::Receiver<bool>) {
    let mut images = deps.cache.subscribe();
    let mut manager = Manager { deps, running: HashMap::new(), plugins: HashMap::new(), broken: HashSet::new(), host: None, clients: None };
    loop {
        let image = images.borrow_and_update().clone();
        manager.reconcile(&image).await;
        tokio::select! {
            changed = images.changed() => if changed.is_err() { break },
            _ = stopped.changed() => break,
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
    let all: Vec<(String, i32)> = manager.running.keys().cloned().collect();
    manager.stop_runners(all).await;
}

impl Manager {
    /// What should run here: each running deployment's input partitions this broker leads.
    fn desired(&self, image: &MetadataImage) -> Vec<(Arc<TransformDeployment>, Arc<Partition>)> {
        let mut desired = Vec::new();
        for deployment in image.transforms.values().filter(|d| d.state == TransformState::Running) {
            let Some(topic) = image.topics.get(&deployment.input) else { continue };
            let deployment = Arc::new(deployment.clone());
            for (index, p) in topic.partitions.iter().enumerate() {
                if p.leader != self.deps.node_id {
                    continue;
                }
                if let Some(partition) = (self.deps.partitions)(&deployment.input, index as i32).filter(|p| p.is_leader()) {
                    desired.push((Arc::clone(&deployment), partition));
                }
            }
        }
        desired
    }

    async fn reconcile(&mut self, image: &MetadataImage) {
        // Runners that ended on their own.
        let finished: Vec<(String, i32)> = self.running.iter().filter(|(_, r)| r.handle.is_finished()).map(|(k, _)| k.clone()).collect();
        for key in finished {
            if let Some(runner) = self.running.remove(&key) {
                match runner.handle.await {
                    Ok(Exit::Failed(reason)) => tracing::warn!(transform = %key.0, partition = key.1, %reason, "transform runner failed; starting it again"),
                    Ok(exit) => tracing::debug!(transform = %key.0, partition = key.1, ?exit, "transform runner ended"),
                    Err(e) => tracing::error!(transform = %key.0, partition = key.1, error = %e, "transform runner panicked; starting it again"),
                }
            }
        }
        let desired = self.desired(image);
        let wanted: HashMap<(String, i32), i64> = desired.iter().map(|(d, p)| ((d.name.clone(), p.index()), d.deployed_at_ms)).collect();
        let unwanted: Vec<(String, i32)> =
            self.running.iter().filter(|(key, r)| wanted.get(*key) != Some(&r.deployed_at_ms)).map(|(key, _)| key.clone()).collect();
        self.stop_runners(unwanted).await;
        for (deployment, partition) in desired {
            let key = (deployment.name.clone(), partition.index());
            if self.running.contains_key(&key) {
                continue;
            }
            let Some(plugin) = self.plugin(&deployment).await else { continue };
            let Some(clients) = self.clients() else { continue };
            let runner = Runner {
                deployment: Arc::clone(&deployment),
                plugin,
                partition,
                clients,
                metrics: self.deps.metrics.clone(),
                stops: self.deps.stops.clone(),
                node_id: self.deps.node_id,
                cache: Arc::clone(&self.deps.cache),
                produce: Arc::clone(&self.deps.produce),
            };
            let (stop, stopped) = watch::channel(false);
            let handle = tokio::spawn(runner.run(stopped));
            self.running.insert(key, Running { deployed_at_ms: deployment.deployed_at_ms, stop, handle });
        }
        let in_use: HashSet<&str> = image.transforms.values().map(|d| d.wasm_sha256.as_str()).collect();
        self.plugins.retain(|sha, _| in_use.contains(sha.as_str()));
        self.deps.metrics.runners.set(self.running.len() as i64);
    }

    async fn stop_runners(&mut self, keys: Vec<(String, i32)>) {
        let stopping: Vec<_> = keys.into_iter().filter_map(|key| self.running.remove(&key).map(|r| (key, r))).collect();
        for (_, runner) in &stopping {
            runner.stop.send_replace(true);
        }
        for (key, runner) in stopping {
            let abort = runner.handle.abort_handle();
            match tokio::time::timeout(STOP_GRACE, runner.handle).await {
                Ok(_) => tracing::debug!(transform = %key.0, partition = key.1, "transform runner stopped"),
                Err(_) => {
                    abort.abort();
                    tracing::warn!(transform = %key.0, partition = key.1, "transform runner did not stop within {STOP_GRACE:?}; aborted it (its uncommitted records will be processed again)");
                }
            }
        }
    }

    /// The compiled plugin of `deployment`, compiling it on first use.
    async fn plugin(&mut self, deployment: &TransformDeployment) -> Option<Arc<Plugin>> {
        if let Some(plugin) = self.plugins.get(&deployment.wasm_sha256) {
            return Some(Arc::clone(plugin));
        }
        if self.broken.contains(&deployment.wasm_sha256) {
            return None;
        }
        let host = match &self.host {
            Some(host) => host.clone(),
            None => match PluginHost::with_compile_cache(self.deps.compile_cache_dir.clone()) {
                Ok(host) => {
                    self.host = Some(host.clone());
                    host
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the plugin host; transforms do not run on this broker");
                    return None;
                }
            },
        };
        let (name, wasm) = (deployment.name.clone(), Arc::clone(&deployment.wasm));
        let compiled = tokio::task::spawn_blocking(move || Plugin::compile(&host, &name, &wasm, PluginLimits::default())).await;
        match compiled {
            Ok(Ok(plugin)) => {
                let plugin = Arc::new(plugin);
                self.plugins.insert(deployment.wasm_sha256.clone(), Arc::clone(&plugin));
                Some(plugin)
            }
            Ok(Err(e)) => {
                tracing::error!(transform = %deployment.name, error = %e, "the transform's plugin does not compile on this broker; its partitions here are not transformed");
                self.broken.insert(deployment.wasm_sha256.clone());
                None
            }
            Err(e) => {
                tracing::error!(transform = %deployment.name, error = %e, "compiling the transform's plugin failed");
                None
            }
        }
    }

    fn clients(&mut self) -> Option<Arc<Clients>> {
        if self.clients.is_none() {
            match Clients::new(&self.deps.bootstrap, self.deps.node_id) {
                Ok(clients) => self.clients = Some(Arc::new(clients)),
                Err(e) => tracing::error!(error = %e, "cannot create the transforms' Kafka clients; trying again"),
            }
        }
        self.clients.clone()
    }
}
