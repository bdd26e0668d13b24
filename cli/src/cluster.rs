//! `fjord cluster describe`: the cluster id, the controller, the brokers with their
//! addresses, and how many topics and partitions the cluster holds.

use anyhow::bail;
use kafka_protocol::messages::DescribeClusterRequest;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, cluster_view};
use crate::output::{OutputArgs, TextTable, print_json};

/// `fjord cluster …`.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Show the cluster id, controller, brokers, and topic and partition counts
    Describe(DescribeArgs),
}

/// Options of `fjord cluster describe`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord cluster describe
  fjord cluster describe --bootstrap-server kafka-1:9092 --output json")]
pub struct DescribeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Described {
    cluster_id: String,
    controller_id: i32,
    brokers: Vec<Broker>,
    topics: usize,
    partitions: usize,
}

#[derive(Debug, Serialize)]
struct Broker {
    node_id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
    /// `alive` (serving, in the cluster) or `fenced` (stopped heartbeating, or starting up:
    /// it leads nothing and joins no ISR).
    state: &'static str,
}

/// Runs one `fjord cluster` subcommand.
pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Describe(args) => describe(args),
    }
}

fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let mut connection = args.client.rpc_connection(timeout)?;
    let response = connection.call(&DescribeClusterRequest::default().with_endpoint_type(1).with_include_fenced_brokers(true))?;
    if response.error_code != 0 {
        bail!(
            "{} refused DescribeCluster: {} (Kafka error code {})",
            connection.address(),
            response.error_message.as_ref().map_or("no message", |m| m.as_str()),
            response.error_code
        );
    }
    let admin = args.client.admin()?;
    let topics = cluster_view::topics(admin.inner(), &args.client, timeout)?;
    let mut brokers: Vec<Broker> = response
        .brokers
        .iter()
        .map(|b| Broker {
            node_id: b.broker_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.as_ref().map(|r| r.to_string()),
            state: if b.is_fenced { "fenced" } else { "alive" },
        })
        .collect();
    brokers.sort_by_key(|b| b.node_id);
    let described = Described {
        cluster_id: response.cluster_id.to_string(),
        controller_id: response.controller_id.0,
        brokers,
        topics: topics.len(),
        partitions: topics.values().map(|t| t.partitions.len()).sum(),
    };
    if args.output.json() {
        return print_json(&described);
    }
    println!("Cluster id:  {}", described.cluster_id);
    println!("Controller:  {}", described.controller_id);
    println!("Topics:      {} ({} partitions)", described.topics, described.partitions);
    println!();
    let mut table = TextTable::new(&[("BROKER", true), ("HOST", false), ("PORT", true), ("RACK", false), ("STATE", false)]);
    for b in &described.brokers {
        table.row([
            b.node_id.to_string(),
            b.host.clone(),
            b.port.to_string(),
            b.rack.clone().unwrap_or_else(|| "-".to_owned()),
            b.state.to_owned(),
        ]);
    }
    table.print()
}
