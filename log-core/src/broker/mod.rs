//! The broker: the metadata image, the partitions it hosts, the group coordinator and the
//! request handlers, independent of sockets (the [`crate::server`] feeds it requests).
//!
//! ```text
//! server ─► Broker::handle(Request) ─► handlers/<api family>.rs
//!                                        │ reads            │ changes
//!                                        ▼                  ▼
//!                              MetadataStore (image)   topics.rs (controller ops: create/delete/…)
//!                                        │
//!                              partitions: Partition (log, epoch, HW, producer state)
//!                              groups: GroupCoordinator over __consumer_offsets
//! ```
//!
//! Handlers never assume one node: placement, leaders and epochs come from the image, and
//! partition state from [`Partition`].

mod catalog;
mod cluster_controller;
mod cluster_node;
mod config;
mod dynamic_config;
mod groups;
mod handlers;
pub(crate) mod long_poll;
mod metrics;
mod partition;
mod producer_ids;
mod producer_state;
mod reassignments;
mod replica_manager;
mod tasks;
mod topic_config;
mod topics;
mod transforms;

use std::sync::{Arc, Mutex, RwLock};

pub use config::{BrokerConfig, ClusterSettings};
pub use handlers::{ClientInfo, Handled};
pub use crate::metadata::{BrokerImage, MetadataImage, MetadataRecord, MetadataStore, PartitionImage, TopicImage};
pub use metrics::{ApiLabel, BrokerMetrics, CloseLabel, CloseReason, LeaderLabel, TopicLabel};
pub use partition::{Appended, Fetched, Isolation, Partition, PartitionError, ReplicaFetched};
pub use producer_ids::{ProducerIdAllocator, ProducerIdBlock};
pub use producer_state::{ProducerStateTable, SequenceCheck, SequenceError};
pub use topic_config::{ConfigSource, TopicSettings};
pub use topics::NewTopic;

use crate::group::GroupCoordinator;
use crate::metadata::MetadataCache;
use crate::Error;
use groups::OffsetsTopicLog;
use replica_manager::ReplicaManager;
pub use cluster_node::{ClusterNode, ControllerTransport};

/// Name of the internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A topic-partition.
pub type TopicPartition = (String, i32);

/// One broker. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Broker {
    /// The settings given at start.
    config: BrokerConfig,
    /// What the broker runs with: `config` under the dynamic broker configs of the image.
    effective: RwLock<Arc<BrokerConfig>>,
    /// The single-node controller's metadata log, changed under `controller`; `None` in a
    /// cluster, where the quorum keeps it.
    store: Option<Mutex<MetadataStore>>,
    /// The image handlers read.
    cache: Arc<MetadataCache>,
    /// Membership of a multi-node cluster; `None` for a node alone.
    cluster: Option<ClusterNode>,
    replicas: Arc<ReplicaManager>,
    groups: GroupCoordinator<OffsetsTopicLog>,
    /// A node alone's producer ids; `None` in a cluster, where they come from the controller.
    producer_ids: Option<ProducerIdAllocator>,
    metrics: BrokerMetrics,
    /// Serialises controller operations (create/delete topics, partitions, configs).
    controller: tokio::sync::Mutex<()>,
    tasks: tasks::BackgroundTasks,
    /// The transform admin's plugin checks and this broker's transform runners.
    transforms: transforms::Transforms,
}

impl Broker {
    /// Opens the data directory: loads the metadata image, opens (and recovers) every hosted
    /// partition, creates `__consumer_offsets` if needed, loads groups and starts the
    /// background tasks (retention, compaction, flushing, group expiry).
    pub async fn open(config: BrokerConfig) -> Result<Arc<Self>, Error> {
        if config.cluster.is_some() {
            return Self::open_clustered(config).await;
        }
        let meta_dir = config.data_dir.join("meta");
        let mut store = MetadataStore::open(&meta_dir, config.node_id)?;
        let registration = BrokerImage {
            node_id: config.node_id,
            host: config.advertised_host.clone(),
            port: config.advertised_port,
            rack: config.rack.clone(),
            rpc_endpoint: None,
            incarnation: 0,
            fenced: false,
            in_controlled_shutdown: false,
        };
        if store.image().brokers != [registration.clone()] {
            for stale in store.image().brokers.iter().filter(|b| b.node_id != config.node_id).map(|b| b.node_id).collect::<Vec<_>>() {
                store.commit(&[MetadataRecord::UnregisterBroker { node_id: stale }])?;
            }
            store.commit(&[MetadataRecord::RegisterBroker { broker: registration }])?;
        }
        let producer_ids = ProducerIdAllocator::open(&meta_dir)?;
        let effective = dynamic_config::effective(&config, &store.image().broker_configs);
        topics::ensure_offsets_topic(&config, &mut store)?;
        let replicas = Arc::new(ReplicaManager::open(&effective, store.image())?);
        let cache = Arc::new(MetadataCache::new(MetadataImage::clone(store.image())));
        let metrics = BrokerMetrics::default();
        metrics.partitions.set(replicas.len() as i64);
        let offsets_log = OffsetsTopicLog::new(&config, &replicas)?;
        let groups = GroupCoordinator::load(offsets_log, groups::group_config(&config)).await?;
        let broker = Arc::new(Self {
            config,
            effective: RwLock::new(Arc::new(effective)),
            store: Some(Mutex::new(store)),
            cache,
            cluster: None,
            replicas,
            groups,
            producer_ids: Some(producer_ids),
            metrics,
            controller: tokio::sync::Mutex::new(()),
            tasks: tasks::BackgroundTasks::default(),
            transforms: transforms::Transforms::default(),
        });
        tasks::start(&broker);
        broker.start_transforms();
        tracing::info!(
            node_id = broker.config.node_id,
            data_dir = %broker.config.data_dir.display(),
            topics = broker.image().topics.len(),
            partitions = broker.replicas.len(),
            "broker opened"
        );
        Ok(broker)
    }

    /// The broker's settings.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The settings topics inherit now: the ones given at start under the dynamic broker
    /// configs.
    pub fn topic_defaults(&self) -> Arc<BrokerConfig> {
        self.effective.read().map(|c| Arc::clone(&c)).unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// The broker's metrics.
    pub fn metrics(&self) -> &BrokerMetrics {
        &self.metrics
    }

    /// The current metadata image (a shared snapshot; changes publish a new one).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.cache.image()
    }

    /// The partition, when this broker hosts it.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.replicas.get(topic, index)
    }

    /// Every hosted partition.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.replicas.all()
    }

    /// Stops background tasks, then flushes and closes every partition (writing clean
    /// shutdown markers and producer-state snapshots).
    pub async fn shutdown(&self) {
        self.stop_transforms().await;
        self.tasks.stop().await;
        self.groups.shutdown().await;
        if let Some(fetchers) = self.cluster.as_ref().and_then(|n| n.fetchers.get()) {
            fetchers.shutdown().await;
        }
        self.replicas.close_all();
        if let Some(node) = &self.cluster
            && let Err(e) = node.quorum.shutdown().await
        {
            tracing::warn!(error = %e, "the controller quorum did not shut down cleanly");
        }
        tracing::info!("broker shut down cleanly");
    }
}
