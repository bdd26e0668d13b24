//! `fjord cluster describe`: the cluster id, the controller, the metadata quorum (leader,
//! term, each voter's lag), the brokers with their addresses and state, and how many topics
//! and partitions the cluster holds.

use anyhow::bail;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{DescribeClusterRequest, DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use fjord_log_core::protocol::extensions::BROKER_STATE_TAG;

use crate::client::{ClientArgs, TimeoutArgs, cluster_view};
use crate::output::{OutputArgs, TextTable, print_json};

/// `fjord cluster …`.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Show the cluster id, controller, metadata quorum, brokers, and topic and partition
    /// counts
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
    /// The metadata quorum; `null` when the cluster does not answer DescribeQuorum.
    quorum: Option<Quorum>,
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
    /// `alive` (serving, in the cluster), `shutting down` (moving its leadership away before
    /// it stops) or `fenced` (stopped heartbeating, or starting up: it leads nothing and
    /// joins no ISR).
    state: String,
}

/// The Raft quorum that replicates the cluster metadata, as its leader reports it.
#[derive(Debug, Serialize)]
struct Quorum {
    leader_id: i32,
    /// The Raft term (the metadata log's leader epoch).
    term: i32,
    /// One past the last committed metadata entry.
    high_watermark: i64,
    voters: Vec<Voter>,
    /// Broker-only nodes receiving the metadata log without a vote.
    observers: Vec<Voter>,
}

#[derive(Debug, Serialize)]
struct Voter {
    node_id: i32,
    /// One past the last entry the leader knows this voter holds (-1: unknown).
    log_end_offset: i64,
    /// Committed entries it lacks.
    lag: i64,
    /// Milliseconds since it last answered the leader (`null`: never).
    last_fetch_ms_ago: Option<i64>,
    /// Milliseconds since it last had the leader's whole log (`null`: never).
    last_caught_up_ms_ago: Option<i64>,
}

/// Asks for the metadata quorum; `None` (with the reason on stderr) when the broker does not
/// serve DescribeQuorum or refuses it.
fn quorum(connection: &mut crate::client::rpc::Connection) -> Option<Quorum> {
    let request = DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default().with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata"))).with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ]);
    let response = match connection.call(&request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("note: the metadata quorum is not shown: {e:#}");
            return None;
        }
    };
    let Some(p) = response.topics.first().and_then(|t| t.partitions.first()) else {
        eprintln!("note: the metadata quorum is not shown: the answer names no partition");
        return None;
    };
    let code = if response.error_code != 0 { response.error_code } else { p.error_code };
    if code != 0 {
        let message = response.error_message.as_ref().or(p.error_message.as_ref()).map_or("no message", |m| m.as_str());
        eprintln!("note: the metadata quorum is not shown: {message} (Kafka error code {code})");
        return None;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let ago = |at: i64| (at >= 0).then(|| (now - at).max(0));
    let replica = |v: &kafka_protocol::messages::describe_quorum_response::ReplicaState| Voter {
        node_id: v.replica_id.0,
        log_end_offset: v.log_end_offset,
        lag: if v.log_end_offset < 0 { p.high_watermark } else { (p.high_watermark - v.log_end_offset).max(0) },
        last_fetch_ms_ago: ago(v.last_fetch_timestamp),
        last_caught_up_ms_ago: ago(v.last_caught_up_timestamp),
    };
    let mut voters: Vec<Voter> = p.current_voters.iter().map(replica).collect();
    voters.sort_by_key(|v| v.node_id);
    let mut observers: Vec<Voter> = p.observers.iter().map(replica).collect();
    observers.sort_by_key(|v| v.node_id);
    Some(Quorum { leader_id: p.leader_id.0, term: p.leader_epoch, high_watermark: p.high_watermark, voters, observers })
}

/// A broker's state: Fjord's own answer (a tagged field Kafka clients skip) when present,
/// else Kafka's `is_fenced`.
fn broker_state(b: &kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker) -> String {
    match b.unknown_tagged_fields.get(&BROKER_STATE_TAG).map(|v| std::str::from_utf8(v)) {
        Some(Ok(state)) => state.to_owned(),
        _ if b.is_fenced => "fenced".to_owned(),
        _ => "alive".to_owned(),
    }
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
    let quorum = quorum(&mut connection);
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
            state: broker_state(b),
        })
        .collect();
    brokers.sort_by_key(|b| b.node_id);
    // Brokers name a broker as the controller for Kafka clients to send admin requests to;
    // the quorum's leader is the node that really is the controller (it may be a
    // controller-only node, which has no Kafka listener).
    let controller_id = quorum.as_ref().map(|q| q.leader_id).filter(|&id| id >= 0).unwrap_or(response.controller_id.0);
    let described = Described {
        cluster_id: response.cluster_id.to_string(),
        controller_id,
        quorum,
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
    if let Some(q) = &described.quorum {
        println!("Quorum:      leader {}, term {}, high watermark {}", q.leader_id, q.term, q.high_watermark);
        println!();
        let mut table = TextTable::new(&[("NODE", true), ("LOG END", true), ("LAG", true), ("LAST FETCH", true), ("LAST CAUGHT UP", true)]);
        let ms = |v: Option<i64>| v.map_or_else(|| "never".to_owned(), |ms| format!("{ms} ms ago"));
        let members = q.voters.iter().map(|v| (v, if v.node_id == q.leader_id { " (leader)" } else { "" })).chain(q.observers.iter().map(|v| (v, " (observer)")));
        for (v, role) in members {
            table.row([format!("{}{role}", v.node_id), v.log_end_offset.to_string(), v.lag.to_string(), ms(v.last_fetch_ms_ago), ms(v.last_caught_up_ms_ago)]);
        }
        table.print()?;
    }
    println!();
    let mut table = TextTable::new(&[("BROKER", true), ("HOST", false), ("PORT", true), ("RACK", false), ("STATE", false)]);
    for b in &described.brokers {
        table.row([
            b.node_id.to_string(),
            b.host.clone(),
            b.port.to_string(),
            b.rack.clone().unwrap_or_else(|| "-".to_owned()),
            b.state.clone(),
        ]);
    }
    table.print()
}
