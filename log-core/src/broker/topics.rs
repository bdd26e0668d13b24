//! Controller operations on topics — create, delete, add partitions, change configs — as
//! records: each validates against the current image and commits [`MetadataRecord`]s; the
//! replica manager then brings this node's partitions in line with the new image.
//! Operations are serialised by the broker's controller lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::config::BrokerConfig;
use crate::controller::{assign_replicas, BrokerPlacement};
use crate::metadata::{encode_entry, MetadataImage, MetadataRecord, MetadataStore, PartitionImage, TopicImage};
use super::dynamic_config;
use super::partition::PartitionError;
use super::replica_manager::partition_dir;
use super::topic_config;
use super::{Broker, OFFSETS_TOPIC};
use crate::cluster::{AdminOp, ControllerRequest, ControllerResponse};
use crate::storage::StorageError;

/// Runs file work that blocks (opening logs, fsyncing the metadata image, deleting a topic's
/// files) from async code without stalling other connections: on the broker's multi-threaded
/// runtime the worker hands its other tasks to another thread first. Controller operations
/// are rare enough that this beats copying their state into a blocking task.
pub(crate) fn off_runtime<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Longest legal topic name (Kafka's limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Most partitions one request may create (Kafka's `max.records.per.user.op` bounds the same
/// thing); guards memory against a request asking for billions.
pub const MAX_PARTITIONS_PER_REQUEST: i32 = 10_000;

fn check_partition_count(count: i32) -> Result<(), PartitionError> {
    if count > MAX_PARTITIONS_PER_REQUEST {
        return Err(PartitionError::new(
            ResponseError::PolicyViolation,
            format!("{count} partitions requested; at most {MAX_PARTITIONS_PER_REQUEST} can be created per request"),
        ));
    }
    Ok(())
}

/// Checks a topic name as Kafka does: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), PartitionError> {
    let invalid = |why: &str| Err(PartitionError::new(ResponseError::InvalidTopicException, format!("invalid topic name {name:?}: {why}")));
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("longer than 249 characters");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// `__consumer_offsets` with these partitions: compacted, 100 MiB segments, every append
/// fsynced.
pub(super) fn offsets_topic(partitions: Vec<PartitionImage>) -> TopicImage {
    let mut configs = BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert("segment.bytes".to_string(), (100u64 << 20).to_string());
    configs.insert("flush.messages".to_string(), "1".to_string());
    TopicImage { id: Uuid::from_bytes(rand::random()), partitions, configs, internal: true }
}

/// Creates `__consumer_offsets` on first start.
pub fn ensure_offsets_topic(
    config: &BrokerConfig,
    store: &mut MetadataStore,
) -> Result<(), StorageError> {
    if store.image().topics.contains_key(OFFSETS_TOPIC) {
        return Ok(());
    }
    let topic = offsets_topic((0..config.offsets_topic_partitions.max(1)).map(|_| placement(config)).collect());
    for index in 0..topic.partitions.len() as i32 {
        remove_stale_dir(&partition_dir(&config.data_dir, OFFSETS_TOPIC, index));
    }
    store.commit(&[MetadataRecord::CreateTopic { name: OFFSETS_TOPIC.into(), topic }])?;
    tracing::info!(partitions = config.offsets_topic_partitions, "created {OFFSETS_TOPIC}");
    Ok(())
}

/// Placement of a new partition of `__consumer_offsets` on a node alone.
fn placement(config: &BrokerConfig) -> PartitionImage {
    PartitionImage::new(vec![config.node_id])
}

/// Replicas for partitions `first..first + count` over the eligible brokers (spread across
/// brokers and racks, leaders balanced; Kafka's placement from a random start).
pub(super) fn place(image: &MetadataImage, first: usize, count: usize, replication_factor: usize) -> Result<Vec<PartitionImage>, PartitionError> {
    let brokers: Vec<BrokerPlacement> = image.brokers.iter().filter(|b| b.is_eligible()).map(|b| BrokerPlacement { node_id: b.node_id, rack: b.rack.clone() }).collect();
    let n = brokers.len().max(1);
    let assignment = assign_replicas(&brokers, first, count, replication_factor, rand::random_range(0..n), rand::random_range(0..n))
        .map_err(|e| PartitionError::new(ResponseError::InvalidReplicationFactor, e.to_string()))?;
    Ok(assignment.into_iter().map(PartitionImage::new).collect())
}

/// A topic to create, as CreateTopics and auto-creation describe it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions (-1: `num.partitions`).
    pub partitions: i32,
    /// Replication factor (-1: `default.replication.factor`).
    pub replication_factor: i16,
    /// Manual assignment: replicas of each partition.
    pub assignments: Vec<Vec<i32>>,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
}

impl Broker {
    /// Creates a topic (or, with `validate_only`, checks that it could be created), as the
    /// controller.
    pub(super) async fn create_topic_here(&self, new: NewTopic, validate_only: bool) -> Result<TopicImage, PartitionError> {
        let _guard = self.controller.lock().await;
        validate_topic_name(&new.name)?;
        let image = self.image();
        if image.topics.contains_key(&new.name) {
            return Err(PartitionError::new(ResponseError::TopicAlreadyExists, format!("topic {:?} already exists", new.name)));
        }
        topic_config::resolve(&self.topic_defaults(), &new.configs).map_err(|e| PartitionError::new(ResponseError::InvalidConfig, e.0))?;
        let brokers = image.brokers.iter().filter(|b| b.is_eligible()).count().max(1);
        check_partition_count(new.partitions.max(new.assignments.len().try_into().unwrap_or(i32::MAX)))?;
        let partitions = if !new.assignments.is_empty() {
            if new.partitions != -1 || new.replication_factor != -1 {
                return Err(PartitionError::new(ResponseError::InvalidRequest, "give either an assignment or partitions and replication factor, not both"));
            }
            let mut out = Vec::new();
            for replicas in &new.assignments {
                if replicas.is_empty() || replicas.iter().any(|r| image.broker(*r).is_none()) {
                    return Err(PartitionError::new(ResponseError::InvalidReplicaAssignment, format!("replica assignment {replicas:?} names an unknown broker")));
                }
                out.push(PartitionImage::new(replicas.clone()));
            }
            out
        } else {
            let count = if new.partitions == -1 { self.config.num_partitions } else { new.partitions };
            if count < 1 {
                return Err(PartitionError::new(ResponseError::InvalidPartitions, format!("number of partitions must be at least 1, got {count}")));
            }
            let rf = if new.replication_factor == -1 { self.config.default_replication_factor } else { new.replication_factor };
            if rf < 1 || rf as usize > brokers {
                return Err(PartitionError::new(
                    ResponseError::InvalidReplicationFactor,
                    format!("replication factor {rf} is not possible with {brokers} available broker(s)"),
                ));
            }
            place(&image, 0, count as usize, rf as usize)?
        };
        let configs = topic_config::canonicalize(&new.configs).map_err(|e| PartitionError::new(ResponseError::InvalidConfig, e.0))?;
        let topic = TopicImage { id: Uuid::from_bytes(rand::random()), partitions, configs, internal: false };
        if validate_only {
            return Ok(topic);
        }
        self.commit(&[MetadataRecord::CreateTopic { name: new.name.clone(), topic: topic.clone() }]).await?;
        tracing::info!(topic = %new.name, partitions = topic.partitions.len(), "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its data, as the controller.
    pub(super) async fn delete_topic_here(&self, name: &str) -> Result<Uuid, PartitionError> {
        let _guard = self.controller.lock().await;
        let image = self.image();
        let Some(topic) = image.topics.get(name) else {
            return Err(PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist")));
        };
        if topic.internal {
            return Err(PartitionError::new(ResponseError::InvalidTopicException, format!("{name} is an internal topic and cannot be deleted")));
        }
        self.commit(&[MetadataRecord::DeleteTopic { name: name.to_string() }]).await?;
        self.groups.remove_offsets_of_topic(name).await;
        tracing::info!(topic = name, "deleted topic");
        Ok(topic.id)
    }

    /// Grows a topic to `count` partitions, as the controller.
    pub(super) async fn create_partitions_here(&self, name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        let image = self.image();
        let Some(topic) = image.topics.get(name) else {
            return Err(PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist")));
        };
        let current = topic.partitions.len() as i32;
        check_partition_count(count.saturating_sub(current))?;
        if count <= current {
            return Err(PartitionError::new(ResponseError::InvalidPartitions, format!("topic {name} has {current} partitions; the new count must be larger, got {count}")));
        }
        let added: Vec<PartitionImage> = match assignments {
            Some(a) => {
                if a.len() as i32 != count - current {
                    return Err(PartitionError::new(ResponseError::InvalidReplicaAssignment, format!("{} assignments given for {} new partitions", a.len(), count - current)));
                }
                let mut out = Vec::new();
                for replicas in a {
                    if replicas.is_empty() || replicas.iter().any(|r| image.broker(*r).is_none()) {
                        return Err(PartitionError::new(ResponseError::InvalidReplicaAssignment, format!("replica assignment {replicas:?} names an unknown broker")));
                    }
                    out.push(PartitionImage::new(replicas));
                }
                out
            }
            None => {
                let rf = topic.partitions.first().map_or(1, |p| p.replicas.len());
                place(&image, current as usize, (count - current) as usize, rf)?
            }
        };
        if validate_only {
            return Ok(());
        }
        self.commit(&[MetadataRecord::AddPartitions { name: name.to_string(), partitions: added }]).await?;
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Replaces a topic's config overrides (validated first), as the controller.
    pub(super) async fn set_topic_configs_here(&self, name: &str, configs: BTreeMap<String, String>, validate_only: bool) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        if !self.image().topics.contains_key(name) {
            return Err(PartitionError::new(ResponseError::UnknownTopicOrPartition, format!("topic {name:?} does not exist")));
        }
        topic_config::resolve(&self.topic_defaults(), &configs).map_err(|e| PartitionError::new(ResponseError::InvalidConfig, e.0))?;
        if validate_only {
            return Ok(());
        }
        let configs = topic_config::canonicalize(&configs).map_err(|e| PartitionError::new(ResponseError::InvalidConfig, e.0))?;
        self.commit(&[MetadataRecord::SetTopicConfigs { name: name.to_string(), configs }]).await?;
        tracing::info!(topic = name, "changed topic configs");
        Ok(())
    }

    /// Replaces the dynamic settings of broker resource `resource` (`""`: the cluster-wide
    /// default; otherwise this broker's node id), then re-resolves every topic's settings
    /// under the new defaults.
    pub(super) async fn set_broker_configs_here(&self, resource: &str, configs: BTreeMap<String, String>, validate_only: bool) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        let image = self.image();
        let current = image.broker_configs.get(resource).cloned().unwrap_or_default();
        let changed: Vec<String> = configs
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .chain(current.keys().filter(|k| !configs.contains_key(*k)).cloned())
            .collect();
        let unknown: Vec<&str> = changed.iter().map(String::as_str).filter(|k| super::catalog::broker_config(k).is_none()).collect();
        if !unknown.is_empty() {
            return Err(PartitionError::new(ResponseError::InvalidConfig, format!("Unknown broker configs: {}", unknown.join(", "))));
        }
        let fixed: Vec<&str> = changed.iter().map(String::as_str).filter(|k| !dynamic_config::is_dynamic(k)).collect();
        if !fixed.is_empty() {
            return Err(PartitionError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Cannot update these configs dynamically: {}. Set them in the broker's config file, FJORD_* environment or flags, and restart it",
                    fixed.join(", ")
                ),
            ));
        }
        // Checked as they would apply: over the start settings and the other dynamic layer.
        let mut layers = image.broker_configs.clone();
        layers.insert(resource.to_string(), configs.clone());
        dynamic_config::checked(&self.config, &layers).map_err(|e| PartitionError::new(ResponseError::InvalidConfig, e))?;
        if validate_only {
            return Ok(());
        }
        self.commit(&[MetadataRecord::SetBrokerConfigs { resource: resource.to_string(), configs }]).await?;
        tracing::info!(resource = %resource, changed = ?changed, "changed dynamic broker configs");
        Ok(())
    }

    /// Commits `records`, publishes the new image and brings this node's partitions in line
    /// with it. The image file is written and fsynced and partitions are opened: off the
    /// async workers.
    pub(super) async fn commit(&self, records: &[MetadataRecord]) -> Result<(), PartitionError> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(node) = &self.cluster {
            // Committed by the quorum and applied to the image here; then wait for this
            // node's partitions to follow it.
            node.quorum.propose(encode_entry(records)).await.map_err(|e| PartitionError::new(ResponseError::NotController, format!("the metadata change was not committed: {e}")))?;
            let version = self.image().version;
            let mut applied = node.applied_version.subscribe();
            let wait = applied.wait_for(|v| *v >= version);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), wait).await;
            return Ok(());
        }
        off_runtime(|| {
            let Some(store) = &self.store else {
                return Err(PartitionError::new(ResponseError::NotController, "this node keeps no local metadata"));
            };
            let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
            let image = store.commit(records)?;
            let old = self.cache.publish(Arc::clone(&image));
            self.apply_image(&old, &image)
        })
    }

    /// What a new image means for this node: the effective config under its dynamic broker
    /// configs, and the hosted partitions. The first partition that failed is reported; the
    /// others were applied.
    pub(super) fn apply_image(&self, old: &MetadataImage, new: &MetadataImage) -> Result<(), PartitionError> {
        let defaults_changed = old.broker_configs != new.broker_configs;
        let effective = if defaults_changed {
            let effective = Arc::new(dynamic_config::effective(&self.config, &new.broker_configs));
            *self.effective.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&effective);
            effective
        } else {
            self.topic_defaults()
        };
        let applied = self.replicas.apply(&effective, old, new, defaults_changed);
        self.metrics.partitions.set(self.replicas.len() as i64);
        if applied.opened + applied.removed > 0 {
            tracing::debug!(opened = applied.opened, removed = applied.removed, "applied metadata image");
        }
        match applied.failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

impl Broker {
    /// Creates a topic (or, with `validate_only`, checks that it could be created): here on a
    /// node alone, else by the active controller.
    pub async fn create_topic(&self, new: NewTopic, validate_only: bool) -> Result<TopicImage, PartitionError> {
        if self.cluster.is_none() {
            return self.create_topic_here(new, validate_only).await;
        }
        match self.admin(AdminOp::CreateTopic { new, validate_only }).await? {
            ControllerResponse::Topic(topic) => Ok(topic),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, name: &str) -> Result<Uuid, PartitionError> {
        if self.cluster.is_none() {
            return self.delete_topic_here(name).await;
        }
        match self.admin(AdminOp::DeleteTopic { name: name.to_string() }).await? {
            ControllerResponse::Deleted(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    /// Grows a topic to `count` partitions.
    pub async fn create_partitions(&self, name: &str, count: i32, assignments: Option<Vec<Vec<i32>>>, validate_only: bool) -> Result<(), PartitionError> {
        if self.cluster.is_none() {
            return self.create_partitions_here(name, count, assignments, validate_only).await;
        }
        self.admin(AdminOp::CreatePartitions { name: name.to_string(), count, assignments, validate_only }).await.map(|_| ())
    }

    /// Replaces a topic's config overrides (validated first).
    pub async fn set_topic_configs(&self, name: &str, configs: BTreeMap<String, String>, validate_only: bool) -> Result<(), PartitionError> {
        if self.cluster.is_none() {
            return self.set_topic_configs_here(name, configs, validate_only).await;
        }
        self.admin(AdminOp::SetTopicConfigs { name: name.to_string(), configs, validate_only }).await.map(|_| ())
    }

    /// Replaces the dynamic settings of broker resource `resource`.
    pub async fn set_broker_configs(&self, resource: &str, configs: BTreeMap<String, String>, validate_only: bool) -> Result<(), PartitionError> {
        if self.cluster.is_none() {
            return self.set_broker_configs_here(resource, configs, validate_only).await;
        }
        self.admin(AdminOp::SetBrokerConfigs { resource: resource.to_string(), configs, validate_only }).await.map(|_| ())
    }

    /// Runs an admin operation on the active controller; its refusals come back as errors.
    pub(super) async fn admin(&self, op: AdminOp) -> Result<ControllerResponse, PartitionError> {
        match self.call_controller(ControllerRequest::Admin(op), std::time::Duration::from_secs(30)).await {
            ControllerResponse::Error { code, message } => Err(PartitionError::new(ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError), message)),
            answer => Ok(answer),
        }
    }
}

fn unexpected(answer: ControllerResponse) -> PartitionError {
    PartitionError::new(ResponseError::UnknownServerError, format!("unexpected answer from the controller: {answer:?}"))
}

/// Removes a partition directory left by a deleted topic of the same name.
fn remove_stale_dir(dir: &std::path::Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "could not remove an old partition directory; remove it by hand");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "orders.v1", "a_b-c", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "ü", "a/b", &"x".repeat(250)] {
            assert_eq!(validate_topic_name(bad).unwrap_err().code, ResponseError::InvalidTopicException, "{bad}");
        }
    }
}
