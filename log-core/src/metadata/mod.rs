//! Cluster metadata: the image of the cluster, the records that change it, and how it is kept.
//!
//! ```text
//!  controller ──MetadataRecord──► metadata log (MetadataStore file, or the Raft quorum)
//!                                        │ apply, in order
//!                                        ▼
//!                                  MetadataImage ──► MetadataCache (Arc snapshot, swapped)
//!                                                        │ read by handlers; changes drive
//!                                                        ▼ the replica manager
//! ```
//!
//! Every change is a [`MetadataRecord`] applied by [`MetadataImage::apply`]; nothing else
//! changes an image, so every node that applies the same records holds the same image.

mod cache;
mod image;
mod record;
mod replicated;
mod store;
mod transform;

pub use cache::MetadataCache;
pub use image::{BrokerImage, MetadataImage, PartitionImage, Reassignment, TopicImage};
pub use record::MetadataRecord;
pub use replicated::{encode_entry, ReplicatedMetadata};
pub use store::{new_cluster_id, MetadataStore, METADATA_FILE};
pub(crate) use transform::base64_bytes;
pub use transform::{group_id as transform_group_id, OnError, TransformDeployment, TransformState};
