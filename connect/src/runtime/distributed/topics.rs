//! The group's internal topics, created when missing (as Kafka Connect's workers do): the
//! config topic (one partition, so every worker reads changes in one order), the offset and
//! status topics (compacted), and the assignment topic whose partitions stand for tasks (it
//! holds no records; its partitions are what the consumer group divides).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::error::{ConnectError, Result};
use crate::runtime::Cluster;
use crate::runtime::distributed::DistributedSettings;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Partition counts of the internal topics, as they are on the cluster.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicLayout {
    pub status_partitions: i32,
    pub assignment_partitions: u32,
}

/// Creates the internal topics that are missing and reads the partition counts of all.
pub(crate) async fn ensure(cluster: &Cluster, settings: &DistributedSettings) -> Result<TopicLayout> {
    let admin: AdminClient<DefaultClientContext> = cluster.client().create()?;
    let compacted = [("cleanup.policy", "compact")];
    let short_lived = [("retention.ms", "60000")];
    let wanted = [
        (settings.config_topic.as_str(), 1, &compacted[..]),
        (settings.offset_topic.as_str(), settings.offset_partitions, &compacted[..]),
        (settings.status_topic.as_str(), settings.status_partitions, &compacted[..]),
        (settings.assignment_topic.as_str(), settings.assignment_partitions, &short_lived[..]),
    ];
    let topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(name, partitions, configs)| configs.iter().fold(NewTopic::new(name, *partitions, TopicReplication::Fixed(settings.replication_factor)), |topic, (k, v)| topic.set(k, v)))
        .collect();
    for result in admin.create_topics(&topics, &AdminOptions::new().operation_timeout(Some(TIMEOUT))).await? {
        match result {
            Ok(topic) => tracing::info!(topic = %topic, "created the connect group's internal topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(ConnectError::Task(format!(
                    "could not create the internal topic {topic}: {code}; create it yourself (compacted) or choose another name with --{}-topic",
                    flag_of(settings, &topic)
                )));
            }
        }
    }
    let consumer: BaseConsumer = cluster.client().create()?;
    let partitions = |topic: &str| -> Result<usize> {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        Ok(metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0))
    };
    let config_partitions = partitions(&settings.config_topic)?;
    if config_partitions != 1 {
        return Err(ConnectError::Config(format!(
            "the config topic {} has {config_partitions} partitions; it must have exactly one, so that every worker reads changes in the same order",
            settings.config_topic
        )));
    }
    let status_partitions = partitions(&settings.status_topic)?;
    let assignment_partitions = partitions(&settings.assignment_topic)?;
    if status_partitions == 0 || assignment_partitions == 0 || partitions(&settings.offset_topic)? == 0 {
        return Err(ConnectError::Task("the connect group's internal topics were created but the cluster does not show their partitions yet; try again".into()));
    }
    Ok(TopicLayout {
        status_partitions: i32::try_from(status_partitions).unwrap_or(i32::MAX),
        assignment_partitions: u32::try_from(assignment_partitions).unwrap_or(u32::MAX),
    })
}

fn flag_of(settings: &DistributedSettings, topic: &str) -> &'static str {
    if topic == settings.config_topic {
        "config-storage"
    } else if topic == settings.offset_topic {
        "offset-storage"
    } else if topic == settings.status_topic {
        "status-storage"
    } else {
        "assignment"
    }
}
