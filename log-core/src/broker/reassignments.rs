//! Partition reassignment on the broker side: an operator's request to move a partition to
//! new replicas is decided by the active controller ([`crate::controller::reassignment`]);
//! the controller's periodic pass finishes those whose target caught up.

use super::partition::PartitionError;
use super::Broker;
use crate::cluster::AdminOp;
use crate::controller::{alter_reassignment, complete_ready};

impl Broker {
    /// Starts, replaces (`target`) or cancels (`None`) the reassignment of one partition.
    pub async fn reassign_partition(&self, topic: &str, partition: i32, target: Option<Vec<i32>>) -> Result<(), PartitionError> {
        if self.cluster.is_none() {
            return self.reassign_here(topic, partition, target).await;
        }
        self.admin(AdminOp::Reassign { topic: topic.to_string(), partition, target }).await.map(|_| ())
    }

    /// As the active controller (or a node alone).
    pub(super) async fn reassign_here(&self, topic: &str, partition: i32, target: Option<Vec<i32>>) -> Result<(), PartitionError> {
        let _guard = self.controller.lock().await;
        let records = alter_reassignment(&self.image(), topic, partition, target.as_deref()).map_err(|e| PartitionError::new(e.code(), e.to_string()))?;
        if !records.is_empty() {
            tracing::info!(topic, partition, ?target, "partition reassignment changed");
        }
        self.commit(&records).await
    }

    /// As the active controller: finishes the reassignments whose target replicas are all
    /// in sync. The caller holds the controller lock.
    pub(super) async fn complete_reassignments(&self) -> Result<(), PartitionError> {
        let records = complete_ready(&self.image());
        if records.is_empty() {
            return Ok(());
        }
        tracing::info!(records = records.len(), "partition reassignments completed");
        self.commit(&records).await
    }
}
