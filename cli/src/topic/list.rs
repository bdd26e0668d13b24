//! `fjord topic list`.

use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, cluster_view};
use crate::output::{OutputArgs, TextTable, print_json};

/// Options of `fjord topic list`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord topic list
  fjord topic list --internal --output json | jq -r '.[].topic'")]
pub struct ListArgs {
    /// Include internal topics (names starting with __, such as __consumer_offsets)
    #[arg(long)]
    pub internal: bool,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Listed {
    topic: String,
    partitions: usize,
    replication_factor: usize,
    internal: bool,
}

pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let admin = args.client.admin()?;
    let topics = cluster_view::topics(admin.inner(), &args.client, args.timeout.timeout)?;
    let listed: Vec<Listed> = topics
        .values()
        .filter(|t| args.internal || !t.internal())
        .map(|t| Listed {
            topic: t.name.clone(),
            partitions: t.partitions.len(),
            replication_factor: t.replication_factor(),
            internal: t.internal(),
        })
        .collect();
    if args.output.json() {
        return print_json(&listed);
    }
    if listed.is_empty() {
        eprintln!("No topics yet. Create one with `fjord topic create NAME --partitions N`.");
        return Ok(());
    }
    let mut table = TextTable::new(&[("TOPIC", false), ("PARTITIONS", true), ("REPLICATION", true)]);
    for t in &listed {
        table.row([t.topic.clone(), t.partitions.to_string(), t.replication_factor.to_string()]);
    }
    table.print()
}
