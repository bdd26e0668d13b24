//! [`ReplicatedMetadata`]: the metadata image as the state machine of the Raft quorum.
//!
//! Each committed quorum entry is one batch of [`MetadataRecord`]s (JSON), applied all
//! together to the image, which is then published to the [`MetadataCache`]; a snapshot is the
//! whole image. Every voter applies the same entries in the same order, so every voter holds
//! the same image. An entry that does not decode is skipped — identically everywhere — and
//! logged: the controller only proposes what it encoded itself.

use std::sync::Arc;

use super::{MetadataCache, MetadataImage, MetadataRecord};

/// The image fed by the quorum. See the module docs.
#[derive(Debug)]
pub struct ReplicatedMetadata {
    cache: Arc<MetadataCache>,
}

/// Encodes a batch of records as one quorum entry.
pub fn encode_entry(records: &[MetadataRecord]) -> Vec<u8> {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_vec(records).unwrap_or_default()
}

impl ReplicatedMetadata {
    /// A state machine publishing to `cache` (which starts from an empty image).
    pub fn new(cache: Arc<MetadataCache>) -> Self {
        Self { cache }
    }
}

impl fjord_quorum::StateMachine for ReplicatedMetadata {
    fn apply(&self, index: u64, entry: &[u8]) {
        let records: Vec<MetadataRecord> = match serde_json::from_slice(entry) {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(index, error = %e, "skipping a metadata log entry that does not decode");
                return;
            }
        };
        let mut next = MetadataImage::clone(&self.cache.image());
        for record in &records {
            next.apply(record);
        }
        self.cache.publish(Arc::new(next));
    }

    fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(&*self.cache.image()).unwrap_or_default()
    }

    fn restore(&self, snapshot: &[u8]) -> Result<(), String> {
        let image: MetadataImage = serde_json::from_slice(snapshot).map_err(|e| format!("the metadata snapshot does not decode: {e}"))?;
        self.cache.publish(Arc::new(image));
        Ok(())
    }
}
