//! The Kafka clients transforms write with: one idempotent producer per broker for every
//! runner's output, dead letters and log lines, and per transform a consumer that only
//! commits and reads the input offsets of the transform's consumer group. They talk to the
//! cluster through this broker's own Kafka listener, so outputs take the normal produce path
//! (whichever broker leads the output partition) and offsets the normal group coordinator.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

/// How long a commit or an offset lookup may take before the runner tries again.
const OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);

/// The broker's transform clients.
pub(crate) struct Clients {
    /// Writes every runner's records.
    pub(crate) producer: FutureProducer,
    bootstrap: String,
    client_id: String,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients").field("bootstrap", &self.bootstrap).finish_non_exhaustive()
    }
}

impl Clients {
    /// Clients of the cluster reached at `bootstrap` (this broker's Kafka listener).
    pub(crate) fn new(bootstrap: &str, node_id: i32) -> Result<Self, KafkaError> {
        let client_id = format!("fjord-transforms-{node_id}");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("client.id", &client_id)
            // Retries after a lost answer or a leader change write nothing twice.
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // Keyed outputs land where a Java producer would put them.
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Self { producer, bootstrap: bootstrap.to_string(), client_id })
    }

    /// A consumer of `group` used only for its committed offsets (no subscription, so the
    /// group has no members and any broker's runner may commit for it).
    pub(crate) fn committer(&self, group: &str) -> Result<Committer, KafkaError> {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", &self.client_id)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Committer { consumer })
    }
}

/// Commits and reads one transform's input offsets. Calls block: run them off async workers.
pub(crate) struct Committer {
    consumer: BaseConsumer,
}

impl Committer {
    /// The committed position of `topic`/`partition`, if any.
    pub(crate) fn committed(&self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError> {
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(topic, partition);
        let committed = self.consumer.committed_offsets(wanted, OFFSETS_TIMEOUT)?;
        Ok(committed.find_partition(topic, partition).and_then(|p| match p.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        }))
    }

    /// Commits `offset` (the next record to process) for `topic`/`partition`.
    pub(crate) fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError> {
        let mut position = TopicPartitionList::new();
        position.add_partition_offset(topic, partition, Offset::Offset(offset))?;
        self.consumer.commit(&position, CommitMode::Sync)
    }
}
