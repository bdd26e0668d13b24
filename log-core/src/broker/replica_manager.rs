//! [`ReplicaManager`]: the partitions this broker hosts, kept in line with the metadata image.
//!
//! The controller only writes records; every node learns what they mean for its own disks
//! here. Given the image before and after a change, the replica manager opens the partitions
//! newly placed on this broker (a fresh directory for a new topic, so a deleted topic's files
//! never resurface), closes and deletes those no longer placed here or whose topic went, and
//! hands changed topic settings to the partitions that have them. Handlers find partitions
//! through it and nothing else.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::config::BrokerConfig;
use super::partition::{Partition, PartitionError};
use super::topic_config::{self, TopicSettings};
use super::TopicPartition;
use crate::metadata::{MetadataImage, TopicImage};
use crate::storage::StorageError;

/// Directory of one partition's log: `<data_dir>/logs/<topic>-<partition>`.
pub fn partition_dir(data_dir: &Path, topic: &str, index: i32) -> PathBuf {
    data_dir.join("logs").join(format!("{topic}-{index}"))
}

/// What applying an image changed locally.
#[derive(Debug, Default)]
pub struct Applied {
    /// Partitions opened.
    pub opened: usize,
    /// Partitions closed and deleted.
    pub removed: usize,
    /// Partitions that could not be opened or given their settings; the rest were applied.
    pub failed: Vec<(TopicPartition, PartitionError)>,
}

/// The hosted partitions. See the module docs.
#[derive(Debug)]
pub(crate) struct ReplicaManager {
    node_id: i32,
    data_dir: PathBuf,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
}

fn settings_of(config: &BrokerConfig, topic: &TopicImage) -> Result<TopicSettings, PartitionError> {
    topic_config::resolve(config, &topic.configs).map_err(|e| PartitionError::new(kafka_protocol::ResponseError::InvalidConfig, e.0))
}

impl ReplicaManager {
    /// Opens (and recovers) every partition `image` places on this broker. Any failure is
    /// fatal here: a broker does not start with part of its data unreadable.
    pub fn open(config: &BrokerConfig, image: &MetadataImage) -> Result<Self, StorageError> {
        let mut partitions = HashMap::new();
        for (name, topic) in &image.topics {
            let settings = topic_config::resolve(config, &topic.configs).map_err(|e| StorageError::Corrupt {
                what: "topic config in the metadata image",
                path: config.data_dir.join("meta"),
                detail: e.0,
            })?;
            for (index, placement) in topic.partitions.iter().enumerate() {
                if !placement.replicas.contains(&config.node_id) {
                    continue;
                }
                let index = index as i32;
                let dir = partition_dir(&config.data_dir, name, index);
                let partition = Partition::open(name, index, &dir, &settings, config.node_id, &placement.leader_and_isr())?;
                partitions.insert((name.clone(), index), Arc::new(partition));
            }
        }
        Ok(Self { node_id: config.node_id, data_dir: config.data_dir.clone(), partitions: RwLock::new(partitions) })
    }

    /// The partition, when this broker hosts it.
    pub fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let partitions = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        partitions.get(&(topic.to_string(), index)).cloned()
    }

    /// Every hosted partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        let partitions = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        partitions.values().cloned().collect()
    }

    /// How many partitions are hosted.
    pub fn len(&self) -> usize {
        self.partitions.read().map_or(0, |p| p.len())
    }

    /// Brings the hosted partitions from `old` to `new`. `config` is the broker's effective
    /// config under `new`'s dynamic broker configs; `defaults_changed` says it differs from
    /// the one `old` was applied with, so every topic's settings are re-resolved. Does file
    /// work: call it off the async workers.
    pub fn apply(&self, config: &BrokerConfig, old: &MetadataImage, new: &MetadataImage, defaults_changed: bool) -> Applied {
        let mut applied = Applied::default();
        let mut wanted = HashSet::new();
        for (name, topic) in &new.topics {
            let previous = old.topics.get(name).filter(|t| t.id == topic.id);
            let resettle = defaults_changed || previous.is_some_and(|p| p.configs != topic.configs);
            let settings = match settings_of(config, topic) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(topic = %name, error = %e, "a topic's configs do not resolve; its partitions keep their settings");
                    applied.failed.push(((name.clone(), -1), e));
                    continue;
                }
            };
            for (index, placement) in topic.partitions.iter().enumerate() {
                if !placement.replicas.contains(&self.node_id) {
                    continue;
                }
                let key = (name.clone(), index as i32);
                wanted.insert(key.clone());
                match self.get(name, index as i32) {
                    Some(partition) if previous.is_some() => {
                        if resettle && let Err(e) = partition.apply_settings(&settings) {
                            applied.failed.push((key.clone(), e));
                        }
                        let before = previous.and_then(|p| p.partitions.get(index));
                        if before != Some(placement) && let Err(e) = partition.apply_state(&placement.leader_and_isr()) {
                            applied.failed.push((key, e));
                        }
                    }
                    stale => {
                        if let Some(stale) = stale {
                            self.remove(&key, &stale);
                            applied.removed += 1;
                        }
                        let dir = partition_dir(&self.data_dir, name, index as i32);
                        remove_dir(&dir);
                        match Partition::open(name, index as i32, &dir, &settings, self.node_id, &placement.leader_and_isr()) {
                            Ok(p) => {
                                self.partitions.write().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::new(p));
                                applied.opened += 1;
                            }
                            Err(e) => {
                                tracing::error!(topic = %name, partition = index, error = %e, "could not open a partition placed on this broker");
                                applied.failed.push((key, e.into()));
                            }
                        }
                    }
                }
            }
        }
        let gone: Vec<(TopicPartition, Arc<Partition>)> = {
            let partitions = self.partitions.read().unwrap_or_else(|p| p.into_inner());
            partitions.iter().filter(|(k, _)| !wanted.contains(*k)).map(|(k, p)| (k.clone(), Arc::clone(p))).collect()
        };
        for (key, partition) in gone {
            self.remove(&key, &partition);
            applied.removed += 1;
        }
        applied
    }

    /// Closes every partition (clean shutdown markers, producer-state snapshots).
    pub fn close_all(&self) {
        for partition in self.all() {
            if let Err(e) = partition.close() {
                tracing::error!(topic = partition.topic(), partition = partition.index(), error = %e, "closing partition failed; it will be recovered on the next start");
            }
        }
    }

    fn remove(&self, key: &TopicPartition, partition: &Arc<Partition>) {
        self.partitions.write().unwrap_or_else(|p| p.into_inner()).remove(key);
        if let Err(e) = partition.close() {
            tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "closing a removed partition failed");
        }
        remove_dir(partition.dir());
    }
}

/// Removes a partition directory (a deleted topic's, or one left by an earlier topic of the
/// same name).
fn remove_dir(dir: &Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "could not remove an old partition directory; remove it by hand");
    }
}
