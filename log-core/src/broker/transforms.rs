//! Transforms on the broker: the admin API behind `fjord transform` (deploy, list, describe,
//! delete — any broker answers, changes go to the controller as metadata records), and the
//! [`TransformManager`] that runs this broker's share of every deployment.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use fjord_plugins::{Grants, Plugin, PluginHost, PluginInstance, PluginLimits};
use kafka_protocol::ResponseError;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::partition::PartitionError;
use super::topics::NewTopic;
use super::Broker;
use crate::cluster::AdminOp;
use crate::metadata::{MetadataRecord, OnError, TransformDeployment, TransformState};
use crate::protocol::extensions::AdminFrame;
use crate::transform::{
    validate_name, LocalProduce, ManagerDeps, TransformManager, TransformRequest, TransformResponse, TransformView, MAX_PLUGIN_BYTES, TRANSFORM_ADMIN_VERSION,
    TRANSFORM_LOGS_TOPIC,
};

/// The broker's transform parts, started on demand.
#[derive(Default)]
pub(super) struct Transforms {
    /// Checks plugins at deploy time (the runners have their own, in the manager).
    host: OnceLock<PluginHost>,
    manager: Mutex<Option<Arc<TransformManager>>>,
}

impl std::fmt::Debug for Transforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transforms").field("host", &self.host.get().is_some()).finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A deployment asked for, before its plugin is checked.
struct DeployRequest {
    name: String,
    input: String,
    outputs: Vec<String>,
    config: Vec<(String, String)>,
    on_error: OnError,
    allow: Vec<String>,
    wasm: Arc<[u8]>,
}

impl Broker {
    /// Answers one Fjord admin request (a JSON body) with a JSON body.
    pub async fn handle_admin(&self, request: AdminFrame) -> Vec<u8> {
        let response = if request.version != TRANSFORM_ADMIN_VERSION {
            TransformResponse::Error {
                error_code: ResponseError::UnsupportedVersion.code(),
                message: format!("transform admin version {} is not supported (this broker speaks {TRANSFORM_ADMIN_VERSION})", request.version),
            }
        } else {
            match serde_json::from_slice::<TransformRequest>(&request.body) {
                Ok(request) => self.transform_admin(request).await,
                Err(e) => TransformResponse::Error { error_code: ResponseError::InvalidRequest.code(), message: format!("not a transform admin request: {e}") },
            }
        };
        serde_json::to_vec(&response).unwrap_or_default()
    }

    async fn transform_admin(&self, request: TransformRequest) -> TransformResponse {
        let answer = match request {
            TransformRequest::Deploy { name, input, outputs, config, on_error, allow, wasm } => self
                .deploy_transform(DeployRequest { name, input, outputs, config, on_error, allow, wasm })
                .await
                .map(|d| TransformResponse::Transform { transform: Box::new(TransformView::from(&d)) }),
            TransformRequest::List => Ok(TransformResponse::Transforms { transforms: self.image().transforms.values().map(TransformView::from).collect() }),
            TransformRequest::Describe { name } => match self.image().transforms.get(&name) {
                Some(d) => Ok(TransformResponse::Transform { transform: Box::new(TransformView::from(d)) }),
                None => Err(not_found(&name)),
            },
            TransformRequest::Delete { name } => self.delete_transform(&name).await.map(|()| TransformResponse::Deleted { name }),
        };
        answer.unwrap_or_else(|e| TransformResponse::Error { error_code: e.code.code(), message: e.message })
    }

    /// Checks a deployment — its name, topics and plugin (compiled and initialised with its
    /// config here) — creates its dead-letter and log topics if missing, and records it.
    async fn deploy_transform(&self, request: DeployRequest) -> Result<TransformDeployment, PartitionError> {
        validate_name(&request.name).map_err(|e| PartitionError::new(ResponseError::InvalidRequest, e))?;
        if request.wasm.len() > MAX_PLUGIN_BYTES {
            return Err(PartitionError::new(
                ResponseError::MessageTooLarge,
                format!("the plugin is {} bytes; a transform's plugin may be at most {MAX_PLUGIN_BYTES} bytes", request.wasm.len()),
            ));
        }
        check_topics(&self.image(), &request.input, &request.outputs, &request.on_error)?;
        let grants = Grants::from_names(&request.allow).map_err(|e| PartitionError::new(ResponseError::InvalidRequest, e))?;
        self.check_plugin(&request.name, &request.wasm, &request.config, grants).await?;
        if let Some(topic) = request.on_error.dead_letter_topic() {
            self.ensure_topic(topic, BTreeMap::new()).await?;
        }
        let logs = BTreeMap::from([("retention.ms".to_string(), (7 * 24 * 3_600_000i64).to_string())]);
        self.ensure_topic(TRANSFORM_LOGS_TOPIC, logs).await?;
        let deployment = TransformDeployment {
            wasm_sha256: Sha256::digest(&request.wasm).iter().map(|b| format!("{b:02x}")).collect(),
            name: request.name,
            input: request.input,
            outputs: request.outputs,
            config: request.config,
            on_error: request.on_error,
            allow: grants.names().into_iter().map(str::to_string).collect(),
            wasm: request.wasm,
            deployed_at_ms: now_ms(),
            state: TransformState::Running,
        };
        if self.cluster.is_none() {
            self.deploy_transform_here(deployment.clone()).await?;
        } else {
            self.admin(AdminOp::DeployTransform { deployment: deployment.clone() }).await?;
        }
        tracing::info!(transform = %deployment.name, input = %deployment.input, outputs = ?deployment.outputs, sha256 = %deployment.wasm_sha256, "transform deployed");
        Ok(deployment)
    }

    /// Compiles the plugin and runs its `init` with `config`: a plugin that would not run is
    /// refused now, not on every broker later.
    async fn check_plugin(&self, name: &str, wasm: &Arc<[u8]>, config: &[(String, String)], grants: Grants) -> Result<(), PartitionError> {
        let host = match self.transforms.host.get() {
            Some(host) => host.clone(),
            None => {
                let host = PluginHost::with_compile_cache(self.config.data_dir.join("plugin-cache"))
                    .map_err(|e| PartitionError::new(ResponseError::UnknownServerError, e.to_string()))?;
                self.transforms.host.get_or_init(|| host).clone()
            }
        };
        let (name, wasm, config) = (name.to_string(), Arc::clone(wasm), config.to_vec());
        let checked = tokio::task::spawn_blocking(move || {
            let plugin = Arc::new(Plugin::compile(&host, &name, &wasm, PluginLimits::default())?);
            PluginInstance::granted(plugin, config, grants).map(drop)
        })
        .await
        .map_err(|e| PartitionError::new(ResponseError::UnknownServerError, format!("checking the plugin failed: {e}")))?;
        checked.map_err(|e| PartitionError::new(ResponseError::InvalidRequest, e.to_string()))
    }

    /// Creates `topic` with the broker's defaults and `configs` unless it exists.
    async fn ensure_topic(&self, topic: &str, configs: BTreeMap<String, String>) -> Result<(), PartitionError> {
        if self.image().topics.contains_key(topic) {
            return Ok(());
        }
        let new = NewTopic { name: topic.to_string(), partitions: -1, replication_factor: -1, assignments: Vec::new(), configs };
        match self.create_topic(new, false).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ResponseError::TopicAlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes a deployment; its runners stop.
    pub async fn delete_transform(&self, name: &str) -> Result<(), PartitionError> {
        if self.cluster.is_none() {
            return self.delete_transform_here(name).await;
        }
        self.admin(AdminOp::DeleteTransform { name: name.to_string() }).await.map(|_| ())
    }

    /// Records a deployment's state (a runner stopping it on a failed record).
    pub async fn set_transform_state(&self, name: &str, state: TransformState) -> Result<(), PartitionError> {
        if self.cluster.is_none() {
            return self.set_transform_state_here(name, state).await;
        }
        self.admin(AdminOp::SetTransformState { name: name.to_string(), state }).await.map(|_| ())
    }

    /// As the controller: records a deployment.
    pub(super) async fn deploy_transform_here(&self, deployment: TransformDeployment) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        validate_name(&deployment.name).map_err(|e| PartitionError::new(ResponseError::InvalidRequest, e))?;
        check_topics(&self.image(), &deployment.input, &deployment.outputs, &deployment.on_error)?;
        self.commit(&[MetadataRecord::DeployTransform { deployment }]).await
    }

    /// As the controller: removes a deployment.
    pub(super) async fn delete_transform_here(&self, name: &str) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        if !self.image().transforms.contains_key(name) {
            return Err(not_found(name));
        }
        self.commit(&[MetadataRecord::DeleteTransform { name: name.to_string() }]).await?;
        tracing::info!(transform = %name, "transform deleted");
        Ok(())
    }

    /// As the controller: records a deployment's state.
    pub(super) async fn set_transform_state_here(&self, name: &str, state: TransformState) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        match self.image().transforms.get(name) {
            None => return Err(not_found(name)),
            Some(d) if d.state == state => return Ok(()),
            Some(_) => {}
        }
        self.commit(&[MetadataRecord::SetTransformState { name: name.to_string(), state }]).await
    }

    /// Starts running this broker's share of the deployments (a broker serving clients only).
    pub(super) fn start_transforms(self: &Arc<Self>) {
        let replicas = Arc::clone(&self.replicas);
        let (stops, mut stop_requests) = mpsc::unbounded_channel();
        let weak = Arc::downgrade(self);
        let produce: LocalProduce = Arc::new(move |request| {
            let weak = weak.clone();
            Box::pin(async move {
                match weak.upgrade() {
                    Some(broker) => broker.produce_in_process(request).await,
                    None => Err("the broker is shutting down".to_string()),
                }
            })
        });
        let deps = ManagerDeps {
            node_id: self.config.node_id,
            cache: Arc::clone(&self.cache),
            partitions: Arc::new(move |topic: &str, index: i32| replicas.get(topic, index)),
            bootstrap: format!("{}:{}", self.config.advertised_host, self.config.advertised_port),
            compile_cache_dir: self.config.data_dir.join("plugin-cache"),
            metrics: self.metrics.transforms.clone(),
            stops,
            produce,
        };
        *self.transforms.manager.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(TransformManager::start(deps)));
        let broker = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some((name, state)) = stop_requests.recv().await {
                let Some(broker) = broker.upgrade() else { return };
                for attempt in 1..=10 {
                    match broker.set_transform_state(&name, state.clone()).await {
                        Ok(()) => break,
                        Err(e) if e.code == ResponseError::ResourceNotFound => break,
                        Err(e) => {
                            tracing::warn!(transform = %name, attempt, error = %e, "could not record that the transform stopped; trying again");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
            }
        });
    }

    /// Stops this broker's transform runners: each finishes and commits the batch in hand.
    pub async fn stop_transforms(&self) {
        let manager = self.transforms.manager.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(manager) = manager {
            manager.shutdown().await;
        }
    }
}

fn not_found(name: &str) -> PartitionError {
    PartitionError::new(ResponseError::ResourceNotFound, format!("no transform named {name:?}; `fjord transform list` shows the deployed ones"))
}

/// The input and every output exist, and no output (nor the dead-letter topic) is the input.
fn check_topics(image: &crate::metadata::MetadataImage, input: &str, outputs: &[String], on_error: &OnError) -> Result<(), PartitionError> {
    if outputs.is_empty() {
        return Err(PartitionError::new(ResponseError::InvalidRequest, "a transform needs at least one output topic"));
    }
    for topic in std::iter::once(input).chain(outputs.iter().map(String::as_str)) {
        if !image.topics.contains_key(topic) {
            return Err(PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {topic:?} does not exist; create it first (fjord topic create {topic})")));
        }
    }
    if outputs.iter().any(|o| o == input) || on_error.dead_letter_topic() == Some(input) {
        return Err(PartitionError::new(ResponseError::InvalidRequest, format!("topic {input:?} is the transform's input; it cannot also be an output or its dead-letter topic (that would loop)")));
    }
    Ok(())
}
