//! [`MetadataCache`]: the current image as an immutable snapshot behind an `Arc`, swapped
//! whole on every change, so a request reads one consistent image without copying it and
//! waiters learn of changes.

use std::sync::Arc;

use tokio::sync::watch;

use super::MetadataImage;

/// The image every handler reads. Cheap to share.
#[derive(Debug)]
pub struct MetadataCache {
    current: watch::Sender<Arc<MetadataImage>>,
}

impl MetadataCache {
    /// A cache holding `image`.
    pub fn new(image: MetadataImage) -> Self {
        Self { current: watch::Sender::new(Arc::new(image)) }
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.current.borrow())
    }

    /// Replaces the image; returns the one it replaced.
    pub fn publish(&self, image: Arc<MetadataImage>) -> Arc<MetadataImage> {
        self.current.send_replace(image)
    }

    /// A receiver that sees every later image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.current.subscribe()
    }
}
