//! The cluster metadata image: which brokers exist, which topics, their partitions (leader,
//! leader epoch, replicas, ISR) and their configs.
//!
//! Every change is a [`MetadataRecord`] applied by [`MetadataImage::apply`] — the same shape
//! a Raft-replicated metadata log will feed later. Today the single-node controller
//! ([`MetadataStore`]) persists the image as one JSON file written atomically after each
//! change, and handlers only ever read the image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::storage::{write_atomically, StorageError};

/// A broker as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerImage {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

/// One partition's placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// Leader's node id.
    pub leader: i32,
    /// Incremented whenever leadership changes.
    pub leader_epoch: i32,
    /// Replica node ids, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Topic id (Kafka's topic UUID).
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: Vec<PartitionImage>,
    /// Topic-level config overrides.
    pub configs: BTreeMap<String, String>,
    /// Internal topics (`__consumer_offsets`) are flagged in Metadata responses.
    pub internal: bool,
}

/// The whole image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Cluster id, chosen when the data directory is first used.
    pub cluster_id: String,
    /// The active controller's node id.
    pub controller_id: i32,
    /// Live brokers (registered at start, not persisted).
    #[serde(skip)]
    pub brokers: Vec<BrokerImage>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Broker settings changed at runtime (IncrementalAlterConfigs on a broker resource), by
    /// resource name: `""` for the cluster-wide default, a node id for one broker.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Number of records applied; grows with every change.
    pub version: u64,
}

/// One change to the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// A topic is created.
    CreateTopic {
        /// Its name.
        name: String,
        /// Its definition.
        topic: TopicImage,
    },
    /// A topic is removed.
    DeleteTopic {
        /// Its name.
        name: String,
    },
    /// Partitions are appended to a topic.
    AddPartitions {
        /// The topic.
        name: String,
        /// The new partitions, in index order after the existing ones.
        partitions: Vec<PartitionImage>,
    },
    /// A topic's config overrides are replaced.
    SetTopicConfigs {
        /// The topic.
        name: String,
        /// The complete new set of overrides.
        configs: BTreeMap<String, String>,
    },
    /// A broker resource's dynamic settings are replaced (`""`: the cluster-wide default).
    SetBrokerConfigs {
        /// The resource name.
        resource: String,
        /// The complete new set; empty removes the resource's entry.
        configs: BTreeMap<String, String>,
    },
}

impl MetadataImage {
    /// Applies one record. Records that name a topic that is not (or already) there change
    /// nothing: the controller validates before it writes.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::CreateTopic { name, topic } => {
                self.topics.entry(name.clone()).or_insert_with(|| topic.clone());
            }
            MetadataRecord::DeleteTopic { name } => {
                self.topics.remove(name);
            }
            MetadataRecord::AddPartitions { name, partitions } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.partitions.extend(partitions.iter().cloned());
                }
            }
            MetadataRecord::SetTopicConfigs { name, configs } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.configs = configs.clone();
                }
            }
            MetadataRecord::SetBrokerConfigs { resource, configs } => {
                if configs.is_empty() {
                    self.broker_configs.remove(resource);
                } else {
                    self.broker_configs.insert(resource.clone(), configs.clone());
                }
            }
        }
        self.version += 1;
    }

    /// The broker with this node id.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerImage> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }
}

/// The single-node controller's persistence of the image: `<data_dir>/meta/metadata.json`.
#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    image: MetadataImage,
}

/// Name of the image file under `meta/`.
pub const METADATA_FILE: &str = "metadata.json";

impl MetadataStore {
    /// Loads the image from `meta_dir`, or starts an empty one with a fresh cluster id.
    pub fn open(meta_dir: &Path, controller_id: i32) -> Result<Self, StorageError> {
        std::fs::create_dir_all(meta_dir).map_err(|source| StorageError::Io { op: "create directory", path: meta_dir.into(), source })?;
        let path = meta_dir.join(METADATA_FILE);
        let image = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<MetadataImage>(&bytes).map_err(|e| StorageError::Corrupt {
                what: "metadata image",
                path: path.clone(),
                detail: format!("{e}; restore the file from a backup or move the data directory aside"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MetadataImage {
                cluster_id: new_cluster_id(),
                controller_id,
                brokers: Vec::new(),
                topics: BTreeMap::new(),
                broker_configs: BTreeMap::new(),
                version: 0,
            },
            Err(source) => return Err(StorageError::Io { op: "read", path, source }),
        };
        let store = Self { path, image };
        store.persist()?;
        Ok(store)
    }

    /// The current image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Registers the live brokers (not persisted).
    pub fn set_brokers(&mut self, brokers: Vec<BrokerImage>) {
        self.image.brokers = brokers;
    }

    /// Applies and persists `records` (all or nothing on disk: one atomic file write).
    pub fn commit(&mut self, records: &[MetadataRecord]) -> Result<(), StorageError> {
        let mut next = self.image.clone();
        for record in records {
            next.apply(record);
        }
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| StorageError::Corrupt { what: "metadata image", path: self.path.clone(), detail: e.to_string() })?;
        write_atomically(&self.path, &bytes)?;
        self.image = next;
        Ok(())
    }

    fn persist(&self) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec_pretty(&self.image).map_err(|e| StorageError::Corrupt { what: "metadata image", path: self.path.clone(), detail: e.to_string() })?;
        write_atomically(&self.path, &bytes)
    }
}

/// A cluster id as Kafka prints them: 16 random bytes, URL-safe base64 without padding.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = Uuid::from_bytes(rand::random()).into_bytes();
    let mut out = String::with_capacity(22);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MetadataStore::open(dir.path(), 1).unwrap();
        let cluster = store.image().cluster_id.clone();
        assert_eq!(cluster.len(), 22);
        let topic = TopicImage { id: Uuid::from_bytes(rand::random()), partitions: vec![PartitionImage { leader: 1, leader_epoch: 0, replicas: vec![1], isr: vec![1] }], configs: BTreeMap::new(), internal: false };
        store.commit(&[MetadataRecord::CreateTopic { name: "t".into(), topic: topic.clone() }]).unwrap();
        store.commit(&[MetadataRecord::AddPartitions { name: "t".into(), partitions: topic.partitions.clone() }]).unwrap();
        drop(store);
        let store = MetadataStore::open(dir.path(), 1).unwrap();
        assert_eq!(store.image().cluster_id, cluster);
        assert_eq!(store.image().topics["t"].partitions.len(), 2);
        assert_eq!(store.image().version, 2);
    }

    #[test]
    fn a_corrupt_image_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(METADATA_FILE), b"{not json").unwrap();
        assert!(matches!(MetadataStore::open(dir.path(), 1), Err(StorageError::Corrupt { .. })));
    }
}
