//! [`MetadataStore`]: the single-node controller's persistence of the image — one JSON file,
//! `<data_dir>/meta/metadata.json`, rewritten atomically after each change. A node started
//! without a controller quorum keeps its metadata here; a quorum member keeps it in the Raft
//! log instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use super::{MetadataImage, MetadataRecord};
use crate::storage::{write_atomically, StorageError};

/// The single-node controller's persistence of the image: `<data_dir>/meta/metadata.json`.
#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    image: Arc<MetadataImage>,
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MetadataImage::new(new_cluster_id(), controller_id),
            Err(source) => return Err(StorageError::Io { op: "read", path, source }),
        };
        let store = Self { path, image: Arc::new(image) };
        store.persist()?;
        Ok(store)
    }

    /// The current image.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Applies and persists `records` (all or nothing on disk: one atomic file write);
    /// returns the new image.
    pub fn commit(&mut self, records: &[MetadataRecord]) -> Result<Arc<MetadataImage>, StorageError> {
        let mut next = MetadataImage::clone(&self.image);
        for record in records {
            next.apply(record);
        }
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| StorageError::Corrupt { what: "metadata image", path: self.path.clone(), detail: e.to_string() })?;
        write_atomically(&self.path, &bytes)?;
        self.image = Arc::new(next);
        Ok(Arc::clone(&self.image))
    }

    fn persist(&self) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec_pretty(&*self.image).map_err(|e| StorageError::Corrupt { what: "metadata image", path: self.path.clone(), detail: e.to_string() })?;
        write_atomically(&self.path, &bytes)
    }
}

/// A new cluster id as Kafka prints them: 16 random bytes, URL-safe base64 without padding.
pub fn new_cluster_id() -> String {
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::metadata::{PartitionImage, TopicImage};

    #[test]
    fn the_image_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MetadataStore::open(dir.path(), 1).unwrap();
        let cluster = store.image().cluster_id.clone();
        assert_eq!(cluster.len(), 22);
        let topic = TopicImage { id: Uuid::from_bytes(rand::random()), partitions: vec![PartitionImage::new(vec![1])], configs: BTreeMap::new(), internal: false };
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
