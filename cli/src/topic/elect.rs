//! `fjord topic elect-leaders`: preferred-leader election (leadership back to each
//! partition's first replica, e.g. after a broker returned) or, explicitly, an unclean one
//! for partitions with no leader — Kafka's `kafka-leader-election.sh`, over ElectLeaders.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ElectLeadersRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, cluster_view};
use crate::output::{OutputArgs, TextTable, print_json};

/// Kafka's ElectLeaders error code for "already led by the replica this election picks".
const ELECTION_NOT_NEEDED: i16 = 84;

/// Options of `fjord topic elect-leaders`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A preferred election moves leadership back to each partition's first replica when that \
replica is alive and in sync; the controller also does this by itself every 30 seconds. An \
unclean election gives a partition that has no leader any live replica, even one that is not \
in sync: records only the lost replicas had are gone for good. Use it only to bring a \
partition back when its in-sync replicas cannot return.

Examples:
  fjord topic elect-leaders                       # every partition of every topic
  fjord topic elect-leaders orders --partition 3
  fjord topic elect-leaders orders --partition 3 --unclean")]
pub struct ElectArgs {
    /// Only this topic's partitions (default: every topic)
    pub topic: Option<String>,

    /// Only this partition (repeatable; needs TOPIC)
    #[arg(long, short = 'p', value_name = "N", requires = "topic")]
    pub partition: Vec<i32>,

    /// Elect any live replica for partitions without a leader, even one out of sync (may lose
    /// records)
    #[arg(long)]
    pub unclean: bool,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Outcome {
    topic: String,
    partition: i32,
    /// `elected`, `not_needed` or `failed`.
    result: &'static str,
    /// Why it failed or was not needed.
    message: Option<String>,
}

pub fn run(args: ElectArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let partitions = match &args.topic {
        None => None,
        Some(name) => {
            let ids = if args.partition.is_empty() {
                let admin = args.client.admin()?;
                cluster_view::topic(admin.inner(), &args.client, name, timeout)?.partitions.iter().map(|p| p.id).collect()
            } else {
                args.partition.clone()
            };
            Some(vec![TopicPartitions::default().with_topic(TopicName(StrBytes::from_string(name.clone()))).with_partitions(ids)])
        }
    };
    let request = ElectLeadersRequest::default()
        .with_election_type(i8::from(args.unclean))
        .with_topic_partitions(partitions)
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX));
    let mut connection = args.client.rpc_connection(timeout)?;
    let response = connection.call(&request).context("the leader election failed")?;
    if response.error_code != 0 {
        bail!("{} refused the leader election (Kafka error code {})", connection.address(), response.error_code);
    }
    let mut outcomes: BTreeMap<(String, i32), Outcome> = BTreeMap::new();
    for t in &response.replica_election_results {
        for p in &t.partition_result {
            let result = match p.error_code {
                0 => "elected",
                ELECTION_NOT_NEEDED => "not_needed",
                _ => "failed",
            };
            let message = p.error_message.as_ref().map(|m| m.to_string()).or_else(|| (p.error_code != 0).then(|| format!("Kafka error code {}", p.error_code)));
            outcomes.insert((t.topic.to_string(), p.partition_id), Outcome { topic: t.topic.to_string(), partition: p.partition_id, result, message });
        }
    }
    let outcomes: Vec<Outcome> = outcomes.into_values().collect();
    let failed = outcomes.iter().filter(|o| o.result == "failed").count();
    if args.output.json() {
        print_json(&outcomes)?;
    } else if outcomes.is_empty() {
        println!("Every partition already has the leader this election would give it.");
    } else {
        let mut table = TextTable::new(&[("TOPIC", false), ("PARTITION", true), ("RESULT", false), ("MESSAGE", false)]);
        for o in &outcomes {
            table.row([o.topic.clone(), o.partition.to_string(), o.result.replace('_', " "), o.message.clone().unwrap_or_default()]);
        }
        table.print()?;
    }
    if failed > 0 {
        bail!("{failed} of {} partitions could not get a new leader", outcomes.len());
    }
    Ok(())
}
