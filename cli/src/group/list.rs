//! `fjord group list`.

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs};
use crate::output::{OutputArgs, TextTable, print_json};

/// Options of `fjord group list`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord group list
  fjord group list --output json | jq -r '.[] | select(.state == \"Empty\") | .group'")]
pub struct ListArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Listed {
    group: String,
    state: String,
    protocol_type: String,
    members: usize,
}

pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let consumer: BaseConsumer = args
        .client
        .config()
        .create()
        .context("could not create the Kafka client; check the -X properties")?;
    let list = consumer
        .fetch_group_list(None, args.timeout.timeout)
        .with_context(|| format!("could not list groups; {}", args.client.reach_hint()))?;
    let mut groups: Vec<Listed> = list
        .groups()
        .iter()
        .filter(|g| g.state() != "Dead")
        .map(|g| Listed {
            group: g.name().to_owned(),
            state: g.state().to_owned(),
            protocol_type: g.protocol_type().to_owned(),
            members: g.members().len(),
        })
        .collect();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    groups.dedup_by(|a, b| a.group == b.group);
    if args.output.json() {
        return print_json(&groups);
    }
    if groups.is_empty() {
        eprintln!("No consumer groups. A group appears when a consumer with a group.id joins or commits.");
        return Ok(());
    }
    let mut table = TextTable::new(&[("GROUP", false), ("STATE", false), ("TYPE", false), ("MEMBERS", true)]);
    for g in &groups {
        table.row([g.group.clone(), g.state.clone(), g.protocol_type.clone(), g.members.to_string()]);
    }
    table.print()
}
