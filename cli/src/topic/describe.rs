//! `fjord topic describe`: partitions with leader, replicas, ISR and start/end offsets, and
//! the topic's overridden configs.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use rdkafka::admin::{ConfigSource, ResourceSpecifier};
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, admin_options, block_on, cluster_view};
use crate::output::{OutputArgs, TextTable, join_ids, offset_cell, print_json};

/// Options of `fjord topic describe`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
START is the log start offset (the first offset still kept), END the log end offset (the next \
offset to be written; END - START is the number of offsets held). Configs lists what the topic \
overrides; everything else follows the broker's defaults.

Examples:
  fjord topic describe orders
  fjord topic describe orders --output json | jq '.partitions[] | .end_offset'")]
pub struct DescribeArgs {
    /// Topic to describe
    pub name: String,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Described {
    topic: String,
    internal: bool,
    replication_factor: usize,
    partitions: Vec<PartitionDescription>,
    /// Configs the topic overrides, name → value.
    configs: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Serialize)]
struct PartitionDescription {
    partition: i32,
    leader: i32,
    /// Bumped on every leader change (-1 when the broker does not say).
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// Null when the partition has no leader to ask.
    start_offset: Option<i64>,
    end_offset: Option<i64>,
}

pub fn run(args: DescribeArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let admin = args.client.admin()?;
    let topic = cluster_view::topic(admin.inner(), &args.client, &args.name, timeout)?;
    let offsets = cluster_view::offsets_client(&args.client, None)?;
    let epochs = leader_epochs(&args.client, &topic.name, timeout)?;

    let mut partitions = Vec::with_capacity(topic.partitions.len());
    for p in &topic.partitions {
        // A partition without a leader has no one to answer for its offsets; describe is most
        // needed exactly then, so it shows the rest.
        let (start_offset, end_offset) = if p.leader < 0 {
            (None, None)
        } else {
            let (start, end) = cluster_view::watermarks(&offsets, &topic.name, p.id, timeout)?;
            (Some(start), Some(end))
        };
        partitions.push(PartitionDescription {
            partition: p.id,
            leader: p.leader,
            leader_epoch: epochs.get(&p.id).copied().unwrap_or(-1),
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            start_offset,
            end_offset,
        });
    }

    let specifier = ResourceSpecifier::Topic(&topic.name);
    let results = block_on(admin.describe_configs([&specifier], &admin_options(timeout)))?
        .with_context(|| format!("could not describe the configs of `{}`", topic.name))?;
    let mut configs = BTreeMap::new();
    for result in results {
        match result {
            Ok(resource) => {
                for entry in resource.entries {
                    if entry.source == ConfigSource::DynamicTopic {
                        let value = if entry.is_sensitive { None } else { entry.value };
                        configs.insert(entry.name, value);
                    }
                }
            }
            Err(code) => bail!("could not describe the configs of `{}`: {code}", topic.name),
        }
    }

    let described = Described {
        internal: topic.internal(),
        replication_factor: topic.replication_factor(),
        topic: topic.name,
        partitions,
        configs,
    };
    if args.output.json() {
        return print_json(&described);
    }
    print_human(&described)
}

fn print_human(d: &Described) -> anyhow::Result<()> {
    let configs = if d.configs.is_empty() {
        "(broker defaults)".to_owned()
    } else {
        d.configs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(sensitive)")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("Topic:        {}{}", d.topic, if d.internal { " (internal)" } else { "" });
    println!("Partitions:   {}", d.partitions.len());
    println!("Replication:  {}", d.replication_factor);
    println!("Configs:      {configs}");
    println!();
    let mut table = TextTable::new(&[
        ("PARTITION", true),
        ("LEADER", true),
        ("EPOCH", true),
        ("REPLICAS", false),
        ("ISR", false),
        ("START", true),
        ("END", true),
    ]);
    for p in &d.partitions {
        table.row([
            p.partition.to_string(),
            p.leader.to_string(),
            p.leader_epoch.to_string(),
            join_ids(&p.replicas),
            join_ids(&p.isr),
            offset_cell(p.start_offset),
            offset_cell(p.end_offset),
        ]);
    }
    table.print()
}

/// Each partition's leader epoch, from a Metadata request for the topic (librdkafka does not
/// expose it). The topic exists already, so the request cannot auto-create it.
fn leader_epochs(client: &ClientArgs, topic: &str, timeout: std::time::Duration) -> anyhow::Result<BTreeMap<i32, i32>> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{MetadataRequest, TopicName};
    let mut connection = client.rpc_connection(timeout)?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(TopicName(topic.to_string().into())))]))
        .with_allow_auto_topic_creation(false);
    let response = connection.call(&request)?;
    Ok(response
        .topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition_index, p.leader_epoch)))
        .collect())
}
