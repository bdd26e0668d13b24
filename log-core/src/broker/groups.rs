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
    replicas: Arc<ReplicaManager>,
    /// The topic's partition count (which places groups).
    count: i32,
}

/// How long an offsets append may wait for the in-sync replicas in a cluster.
const REPLICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl OffsetsTopicLog {
    /// The offsets topic over the hosted partitions: on a node alone, the ones it created;
    /// in a cluster, whichever this broker hosts when the coordinator asks.
    pub fn new(config: &BrokerConfig, replicas: &Arc<ReplicaManager>) -> Result<Self, StorageError> {
        let hosted = (0..).take_while(|&i| replicas.get(OFFSETS_TOPIC, i).is_some()).count() as i32;
        let count = if config.cluster.is_some() { config.offsets_topic_partitions } else { hosted };
        if count != config.offsets_topic_partitions {
            tracing::warn!(
                configured = config.offsets_topic_partitions,
                actual = count,
                "{OFFSETS_TOPIC} has a different partition count than offsets.topic.num.partitions; using the topic's"
            );
        }
        Ok(Self { replicas: Arc::clone(replicas), count })
    }

    fn get(&self, partition: i32) -> Result<Arc<Partition>, GroupError> {
        self.replicas.get(OFFSETS_TOPIC, partition).ok_or_else(|| GroupError::Unavailable { partition, reason: "not hosted by this broker".into() })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl OffsetsTopic for OffsetsTopicLog {
    fn partition_count(&self) -> i32 {
        self.count
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
            // to one partition that arrive together share an fsync (group commit). A
            // replicated offsets partition is durable once its in-sync replicas hold the
            // commit, as a produce with acks=all.
            let appender = Arc::clone(&target);
            let end = tokio::task::spawn_blocking(move || {
                let durable = appender.is_sole_replica();
                let (appended, pending) = appender.append_deferred(&mut batch, true, durable)?;
                if let Some(pending) = pending {
                    appender.sync(pending)?;
                }
                Ok(appended.end_offset)
            })
            .await
            .map_err(|e| GroupError::Unavailable { partition, reason: format!("offsets append task failed: {e}") })?
            .map_err(refused)?;
            // In a cluster, durable means held by the in-sync replicas.
            target.wait_acknowledged(end, REPLICATION_TIMEOUT).await.map_err(refused)?;
            Ok(())
        })
    }

    fn read_all(&self, partition: i32) -> Result<Vec<OffsetsRecord>, GroupError> {
        let target = self.get(partition)?;
        let unavailable = |reason: String| GroupError::Unavailable { partition, reason };
        let mut out = Vec::new();
        let mut offset = target.log_start_offset().map_err(|e| unavailable(e.message))?;
        let end = target.log_end_offset().map_err(|e| unavailable(e.message))?;
        while offset < end {
            let records = target.read_to_log_end(offset, 1 << 20).map_err(|e| unavailable(e.message))?;
            if records.is_empty() {
                break;
            }
            let mut next = offset;
            for item in Batches::new(&records) {
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
