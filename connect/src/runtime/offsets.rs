//! A connector's offsets through the REST API: shown, altered and reset as Kafka Connect does
//! it (KIP-875). Source offsets live in the worker's offset store; sink offsets are the
//! committed offsets of the connector's consumer group `connect-NAME`. Altering and resetting
//! need the connector STOPPED, so no task races the change.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use crate::connector::ConnectorKind;
use crate::error::{ConnectError, Result};
use crate::offsets::OffsetEntry;
use crate::durable::blocking;
use crate::record::source_map;
use crate::runtime::supervisor::sink_topics;
use crate::runtime::sink::Topics;
use crate::runtime::{TargetState, Worker};

const TIMEOUT: Duration = Duration::from_secs(15);

impl Worker {
    /// The connector's offsets as `(partition, offset)` maps.
    pub async fn offsets(&self, name: &str) -> Result<Vec<OffsetEntry>> {
        let (plugin, config) = self.plugin_of(name).await?;
        match plugin.kind {
            ConnectorKind::Source => {
                let store = self.offset_store().clone();
                blocking("offsets request", move || store.refresh()).await?;
                Ok(self.offset_store().get(name))
            }
            ConnectorKind::Sink => {
                let Topics::Names(topics) = sink_topics(&config)? else {
                    return Err(ConnectError::Config(format!("the offsets of a topics.regex sink are its consumer group's: see `fjord group describe connect-{name}`")));
                };
                let base = self.group_client_config(name);
                blocking("offsets request", move || group_offsets(base, &topics)).await
            }
        }
    }

    /// Replaces some of a stopped connector's offsets.
    pub async fn alter_offsets(&self, name: &str, entries: Vec<OffsetEntry>) -> Result<()> {
        let plugin = self.stopped(name).await?;
        match plugin.kind {
            ConnectorKind::Source => {
                self.offset_store().put(name, &entries);
                let store = self.offset_store().clone();
                blocking("offsets request", move || store.flush()).await
            }
            ConnectorKind::Sink => {
                self.refuse_if_own_offsets(name, plugin)?;
                let mut list = TopicPartitionList::new();
                for (partition, offset) in &entries {
                    let topic = partition.get("kafka_topic").and_then(|v| v.as_str());
                    let number = partition.get("kafka_partition").and_then(|v| v.as_i64()).and_then(|p| i32::try_from(p).ok());
                    let (Some(topic), Some(number)) = (topic, number) else {
                        return Err(ConnectError::Config("each sink partition must be {\"kafka_topic\": \"...\", \"kafka_partition\": N}".into()));
                    };
                    match offset.get("kafka_offset").and_then(|v| v.as_i64()) {
                        Some(o) if o >= 0 => list.add_partition_offset(topic, number, Offset::Offset(o))?,
                        _ => return Err(ConnectError::Config("each sink offset must be {\"kafka_offset\": N} with N >= 0".into())),
                    }
                }
                let base = self.group_client_config(name);
                blocking("offsets request", move || {
                    let consumer: BaseConsumer = base.create()?;
                    consumer.commit(&list, CommitMode::Sync)?;
                    Ok(())
                })
                .await
            }
        }
    }

    /// Forgets all of a stopped connector's offsets (it starts over).
    pub async fn reset_offsets(&self, name: &str) -> Result<()> {
        let plugin = self.stopped(name).await?;
        match plugin.kind {
            ConnectorKind::Source => {
                let store = self.offset_store().clone();
                let name = name.to_string();
                blocking("offsets request", move || store.remove(&name)).await
            }
            ConnectorKind::Sink => {
                self.refuse_if_own_offsets(name, plugin)?;
                let base = self.group_client_config(name);
                let group = format!("connect-{name}");
                let admin: AdminClient<DefaultClientContext> = base.create()?;
                let results = admin.delete_groups(&[group.as_str()], &AdminOptions::new().request_timeout(Some(TIMEOUT))).await?;
                for result in results {
                    if let Err((group, code)) = result
                        && code != rdkafka::types::RDKafkaErrorCode::GroupIdNotFound {
                            return Err(ConnectError::Task(format!("could not delete consumer group {group}: {code}")));
                        }
                }
                Ok(())
            }
        }
    }

    async fn stopped(&self, name: &str) -> Result<&'static crate::registry::ConnectorPlugin> {
        if self.target_state(name).await? != TargetState::Stopped {
            return Err(ConnectError::Config(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            )));
        }
        Ok(self.plugin_of(name).await?.0)
    }

    fn refuse_if_own_offsets(&self, name: &str, plugin: &crate::registry::ConnectorPlugin) -> Result<()> {
        if plugin.keeps_own_offsets {
            return Err(ConnectError::Config(format!(
                "{name} ({}) keeps its offsets with the data it writes, so that it writes each record once; its consumer group's offsets are not what it resumes from. Delete and recreate it with a new target to start over",
                plugin.class
            )));
        }
        Ok(())
    }

    fn group_client_config(&self, name: &str) -> ClientConfig {
        self.cluster().group_client(name)
    }
}

fn group_offsets(base: ClientConfig, topics: &[String]) -> Result<Vec<OffsetEntry>> {
    let consumer: BaseConsumer = base.create()?;
    let mut list = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                list.add_partition(t.name(), p.id());
            }
        }
    }
    let committed = consumer.committed_offsets(list, TIMEOUT)?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((source_map(json!({"kafka_topic": e.topic(), "kafka_partition": e.partition()})), source_map(json!({"kafka_offset": o})))),
            _ => None,
        })
        .collect())
}
