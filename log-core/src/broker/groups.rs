//! The group coordinator's storage: [`OffsetsTopicLog`] implements the coordinator's
//! [`OffsetsTopic`] over this broker's `__consumer_offsets` partitions, and the coordinator's
//! settings come from the broker's.

use std::sync::Arc;

use super::config::BrokerConfig;
use super::handlers::ClientInfo;
use super::partition::Partition;
use super::replica_manager::ReplicaManager;
use super::{Broker, OFFSETS_TOPIC};
use crate::group::{self, AppendFuture, GroupConfig, GroupError, OffsetsRecord, OffsetsTopic};
use crate::storage::{for_each_record, BatchBuilder, Batches, Compression, StorageError, TimestampType, MAX_DECOMPRESSED_BYTES};

/// `__consumer_offsets` as the coordinator sees it.
#[derive(Debug)]
pub struct OffsetsTopicLog {
    partitions: Vec<Arc<Partition>>,
}

impl OffsetsTopicLog {
    /// Collects the offsets topic's partitions (created beforehand by the broker).
    pub fn new(config: &BrokerConfig, replicas: &ReplicaManager) -> Result<Self, StorageError> {
        let mut out = Vec::new();
        for index in 0.. {
            match replicas.get(OFFSETS_TOPIC, index) {
                Some(p) => out.push(p.clone()),
                None => break,
            }
        }
        if out.len() as i32 != config.offsets_topic_partitions {
            tracing::warn!(
                configured = config.offsets_topic_partitions,
                actual = out.len(),
                "{OFFSETS_TOPIC} has a different partition count than offsets.topic.num.partitions; using the topic's"
            );
        }
        Ok(Self { partitions: out })
    }

    fn get(&self, partition: i32) -> Result<&Arc<Partition>, GroupError> {
        usize::try_from(partition)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .ok_or_else(|| GroupError::Unavailable { partition, reason: "no such partition".into() })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl OffsetsTopic for OffsetsTopicLog {
    fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }

    fn append(&self, partition: i32, records: Vec<OffsetsRecord>) -> AppendFuture<'_> {
        Box::pin(async move {
            let target = self.get(partition)?;
            let now = now_ms();
            let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
            for (i, (key, value)) in records.iter().enumerate() {
                builder.push(i as i64, now, Some(key), value.as_deref(), &[]);
            }
            // Uncompressed: building cannot fail, but an error would still refuse the commit.
            let mut batch = builder.build().map_err(|e| GroupError::Unavailable { partition, reason: e.to_string() })?;
            let bytes = batch.len();
            let refused = |e: crate::broker::PartitionError| match e.code {
                kafka_protocol::ResponseError::MessageTooLarge => GroupError::TooLarge { partition, bytes },
                _ => GroupError::Unavailable { partition, reason: e.message },
            };
            // The append and its fsync touch the disk: both run on the blocking pool. Commits
            // to one partition that arrive together share an fsync (group commit).
            let target = Arc::clone(target);
            tokio::task::spawn_blocking(move || {
                let (_, pending) = target.append_deferred(&mut batch, true, true)?;
                match pending {
                    Some(pending) => target.sync(pending),
                    None => Ok(()),
                }
            })
            .await
            .map_err(|e| GroupError::Unavailable { partition, reason: format!("offsets append task failed: {e}") })?
            .map_err(refused)?;
            Ok(())
        })
    }

    fn read_all(&self, partition: i32) -> Result<Vec<OffsetsRecord>, GroupError> {
        let target = self.get(partition)?;
        let unavailable = |reason: String| GroupError::Unavailable { partition, reason };
        let mut out = Vec::new();
        let mut offset = target.log_start_offset().map_err(|e| unavailable(e.message))?;
        let end = target.high_watermark();
        while offset < end {
            let fetched = target.read(offset, 1 << 20, super::Isolation::ReadUncommitted).map_err(|e| unavailable(e.message))?;
            if fetched.records.is_empty() {
                break;
            }
            let mut next = offset;
            for item in Batches::new(&fetched.records) {
                let (_, bytes) = item.map_err(|d| unavailable(d.to_string()))?;
                let header = for_each_record(bytes, MAX_DECOMPRESSED_BYTES, |r| {
                    if let Some(key) = r.key {
                        out.push((key.to_vec(), r.value.map(|v| v.to_vec())));
                    }
                    Ok::<(), crate::storage::BatchDefect>(())
                })
                .map_err(|d| unavailable(d.to_string()))?;
                next = header.last_offset() as u64 + 1;
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(out)
    }
}

/// The coordinator's settings from the broker's.
pub fn group_config(config: &BrokerConfig) -> GroupConfig {
    GroupConfig {
        min_session_timeout_ms: config.group_min_session_timeout_ms,
        max_session_timeout_ms: config.group_max_session_timeout_ms,
        initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
        offsets_partitions: config.offsets_topic_partitions,
        offsets_retention_ms: config.offsets_retention_ms,
        ..GroupConfig::default()
    }
}

impl Broker {
    /// The coordinator's view of a client.
    pub(super) fn group_client(&self, client: &ClientInfo) -> group::ClientInfo {
        group::ClientInfo { client_id: client.client_id.clone(), client_host: client.client_host.clone() }
    }
}
