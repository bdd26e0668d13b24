//! DescribeLogDirs and AlterReplicaLogDirs, for a broker with one log directory
//! (`<data dir>/logs`): sizes of the partitions it holds and the file system's space, and
//! "moving" a replica to the directory it is already in (the only one there is).

use std::collections::BTreeMap;
use std::path::Path;

use kafka_protocol::messages::alter_replica_log_dirs_response::{AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult};
use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, DescribeLogDirsRequest, DescribeLogDirsResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, topic_name};
use crate::broker::Broker;

impl Broker {
    /// The one log directory, as DescribeLogDirs names it (an absolute path).
    fn log_dir(&self) -> String {
        let dir = self.config.data_dir.join("logs");
        std::path::absolute(&dir).unwrap_or(dir).display().to_string()
    }

    pub(super) fn describe_log_dirs(&self, request: DescribeLogDirsRequest, _version: i16) -> DescribeLogDirsResponse {
        // `None` asks for every partition; a list only for those it names.
        let wanted: Option<BTreeMap<String, Vec<i32>>> =
            request.topics.map(|topics| topics.into_iter().map(|t| (t.topic.to_string(), t.partitions)).collect());
        let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
        let mut offline = false;
        for partition in self.all_partitions() {
            let (topic, index) = (partition.topic().to_string(), partition.index());
            if wanted.as_ref().is_some_and(|w| !w.get(&topic).is_some_and(|ps| ps.contains(&index))) {
                continue;
            }
            match partition.size_bytes() {
                Ok(size) => by_topic.entry(topic).or_default().push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(index)
                        .with_partition_size(size as i64)
                        // A leader's own log never lags itself (Kafka: max(HW - LEO, 0)).
                        .with_offset_lag(0)
                        .with_is_future_key(false),
                ),
                Err(_) => offline |= partition.is_offline(),
            }
        }
        let dir = self.log_dir();
        let mut result = DescribeLogDirsResult::default().with_log_dir(str_bytes(dir.clone()));
        if offline {
            // As Kafka reports a failed log directory: the error and nothing else.
            result = result.with_error_code(ResponseError::KafkaStorageError.code());
        } else {
            let topics = by_topic
                .into_iter()
                .map(|(name, mut partitions)| {
                    partitions.sort_by_key(|p| p.partition_index);
                    DescribeLogDirsTopic::default().with_name(topic_name(&name)).with_partitions(partitions)
                })
                .collect();
            let (total, usable) = disk_space(Path::new(&dir));
            result = result.with_topics(topics).with_total_bytes(total).with_usable_bytes(usable);
        }
        DescribeLogDirsResponse::default().with_results(vec![result])
    }

    pub(super) fn alter_replica_log_dirs(&self, request: AlterReplicaLogDirsRequest, _version: i16) -> AlterReplicaLogDirsResponse {
        let ours = self.log_dir();
        let image = self.image();
        let mut results: Vec<AlterReplicaLogDirTopicResult> = Vec::new();
        for dir in request.dirs {
            let same_dir = dir.path.as_str() == ours;
            for topic in dir.topics {
                let name = topic.name.to_string();
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|index| {
                        let code = if !same_dir {
                            // Kafka checks the path first: an unknown directory wins.
                            ResponseError::LogDirNotFound.code()
                        } else if !image.topics.contains_key(&name) {
                            ResponseError::UnknownTopicOrPartition.code()
                        } else if self.partition(&name, index).is_none() {
                            ResponseError::ReplicaNotAvailable.code()
                        } else {
                            // Already there: nothing to move, as Kafka skips a future replica in
                            // the current directory.
                            0
                        };
                        AlterReplicaLogDirPartitionResult::default().with_partition_index(index).with_error_code(code)
                    })
                    .collect::<Vec<_>>();
                match results.iter_mut().find(|r| r.topic_name.as_str() == name) {
                    Some(existing) => existing.partitions.extend(partitions),
                    None => results.push(AlterReplicaLogDirTopicResult::default().with_topic_name(topic_name(&name)).with_partitions(partitions)),
                }
            }
        }
        AlterReplicaLogDirsResponse::default().with_results(results)
    }
}

/// Total and usable bytes of the file system holding `dir` (-1 each when unknown).
fn disk_space(dir: &Path) -> (i64, i64) {
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let bytes = |blocks: u64| i64::try_from(blocks.saturating_mul(s.f_frsize)).unwrap_or(i64::MAX);
            (bytes(s.f_blocks), bytes(s.f_bavail))
        }
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "statvfs failed");
            (-1, -1)
        }
    }
}
