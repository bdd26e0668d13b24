//! The cluster as the tools see it: topics with their partitions (leader, replicas, ISR) from
//! one all-topics Metadata request, and partitions' start/end offsets (watermarks).
//!
//! Metadata is always asked for all topics: asking for one named topic lets some clients'
//! brokers auto-create it, and `fjord topic describe typo` must never create `typo`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::client::{Client, ClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

use super::{ClientArgs, fetch_metadata};

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// Partition number.
    pub id: i32,
    /// Leader broker id (-1 when none).
    pub leader: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// The partition's error, when Metadata reported one.
    pub error: Option<String>,
}

/// One topic as Metadata describes it, partitions sorted by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    /// Topic name.
    pub name: String,
    /// Partitions, sorted.
    pub partitions: Vec<PartitionView>,
}

impl TopicView {
    /// Internal topics (`__consumer_offsets`, `__transaction_state`, …): names starting with
    /// two underscores, Kafka's convention.
    pub fn internal(&self) -> bool {
        self.name.starts_with("__")
    }

    /// Replicas per partition (of the first partition; they are all the same unless a
    /// reassignment is in progress).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }
}

/// All topics of the cluster, by name.
pub fn topics<C: ClientContext>(
    client: &Client<C>,
    args: &ClientArgs,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, TopicView>> {
    let metadata = fetch_metadata(client, args, None, timeout)?;
    Ok(topics_of(&metadata))
}

/// The named topic, or an error saying it does not exist.
pub fn topic<C: ClientContext>(
    client: &Client<C>,
    args: &ClientArgs,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<TopicView> {
    let metadata = fetch_metadata(client, args, None, timeout)?;
    topic_in(&metadata, args, name)
}

/// The named topic of an all-topics Metadata answer, or an error saying it does not exist.
pub fn topic_in(metadata: &Metadata, args: &ClientArgs, name: &str) -> anyhow::Result<TopicView> {
    match topics_of(metadata).remove(name) {
        Some(topic) => Ok(topic),
        None => bail!(
            "topic `{name}` does not exist at {}; `fjord topic list` shows the topics there are",
            args.bootstrap_server
        ),
    }
}

/// The topics an all-topics Metadata answer describes, by name.
pub fn topics_of(metadata: &Metadata) -> BTreeMap<String, TopicView> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() || !t.partitions().is_empty())
        .map(|t| {
            let mut partitions: Vec<PartitionView> = t
                .partitions()
                .iter()
                .map(|p| PartitionView {
                    id: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                    error: p.error().map(|e| format!("{e:?}")),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            (t.name().to_owned(), TopicView { name: t.name().to_owned(), partitions })
        })
        .collect()
}

/// A consumer without a group, for watermarks, offsets by time and committed offsets.
pub fn offsets_client(args: &ClientArgs, group: Option<&str>) -> anyhow::Result<BaseConsumer> {
    // END means the log end offset, as Kafka's tools show it, not the last stable offset.
    let mut settings = vec![("enable.auto.commit", "false"), ("isolation.level", "read_uncommitted")];
    if let Some(group) = group {
        settings.push(("group.id", group));
    }
    args.consumer(&settings)
}

/// `(start, end)` offsets of one partition: the log start offset and the high watermark.
pub fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> anyhow::Result<(i64, i64)> {
    consumer
        .fetch_watermarks(topic, partition, timeout)
        .with_context(|| format!("could not list the offsets of {topic}-{partition}"))
}
