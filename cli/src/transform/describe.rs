//! `fjord transform describe`.

use std::collections::BTreeMap;

use anyhow::bail;
use rdkafka::consumer::Consumer;
use fjord_log_core::transform::{StoppedView, TransformRequest, TransformResponse, TransformView};
use serde::Serialize;

use crate::client::cluster_view::{TopicView, offsets_client, topics, watermarks};
use crate::client::{ClientArgs, TimeoutArgs};
use crate::group::committed_offsets;
use crate::output::{OutputArgs, TextTable, print_json};

/// Show a transform: its topics, plugin, state and, per input partition, the committed
/// offset (the next record it will process), the end offset and the lag between them.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The transform
    pub name: String,

    #[command(flatten)]
    pub client: ClientArgs,

    #[command(flatten)]
    pub timeout: TimeoutArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// A transform and its progress.
#[derive(Debug, Serialize)]
struct Described {
    name: String,
    input: String,
    /// The first output topic (where records naming no topic go).
    output: String,
    outputs: Vec<String>,
    state: String,
    stopped: Option<StoppedView>,
    on_error: String,
    dead_letter_topic: Option<String>,
    /// What the plugin may reach beyond its memory (`stderr`, `clock`).
    allow: Vec<String>,
    config: BTreeMap<String, String>,
    group_id: String,
    wasm_sha256: String,
    wasm_bytes: usize,
    deployed_at_ms: i64,
    /// Input records not yet processed, over all partitions.
    lag: i64,
    partitions: Vec<PartitionProgress>,
}

/// One input partition.
#[derive(Debug, Serialize)]
struct PartitionProgress {
    partition: i32,
    leader: i32,
    /// The next offset the transform will process; none before its first commit.
    committed_offset: Option<i64>,
    log_start_offset: i64,
    end_offset: i64,
    lag: i64,
}

/// Prints the transform.
pub fn run(args: DescribeArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let TransformResponse::Transform { transform } = super::call(&args.client, timeout, &TransformRequest::Describe { name: args.name.clone() })? else {
        bail!("the broker answered the description with something else");
    };
    let described = progress(&args.client, *transform, timeout)?;
    if args.output.json() {
        return print_json(&described);
    }
    print_human(&described)
}

fn progress(client: &ClientArgs, t: TransformView, timeout: std::time::Duration) -> anyhow::Result<Described> {
    let consumer = offsets_client(client, Some(&t.group_id))?;
    // A deleted input topic leaves the deployment with nothing to run on: shown, not an error.
    let input = topics(consumer.client(), client, timeout)?.remove(&t.input).unwrap_or_else(|| {
        eprintln!("Input topic {} does not exist (any more); the transform has nothing to process.", t.input);
        TopicView { name: t.input.clone(), partitions: Vec::new() }
    });
    let committed = committed_offsets(&consumer, &[&input], timeout)?;
    let mut partitions = Vec::new();
    for p in &input.partitions {
        let (start, end) = watermarks(&consumer, &t.input, p.id, timeout)?;
        let committed_offset = committed.get(&(t.input.clone(), p.id)).copied();
        // Before its first commit a runner starts at the log start.
        let lag = (end - committed_offset.unwrap_or(start).max(start)).max(0);
        partitions.push(PartitionProgress { partition: p.id, leader: p.leader, committed_offset, log_start_offset: start, end_offset: end, lag });
    }
    Ok(Described {
        output: t.outputs.first().cloned().unwrap_or_default(),
        lag: partitions.iter().map(|p| p.lag).sum(),
        name: t.name,
        input: t.input,
        outputs: t.outputs,
        state: t.state,
        stopped: t.stopped,
        on_error: t.on_error,
        dead_letter_topic: t.dead_letter_topic,
        allow: t.allow,
        config: t.config.into_iter().collect(),
        group_id: t.group_id,
        wasm_sha256: t.wasm_sha256,
        wasm_bytes: t.wasm_bytes,
        deployed_at_ms: t.deployed_at_ms,
        partitions,
    })
}

fn print_human(d: &Described) -> anyhow::Result<()> {
    println!("Transform:     {}", d.name);
    println!("State:         {}", d.state);
    if let Some(s) = &d.stopped {
        println!("Stopped at:    partition {} offset {}: {}", s.partition, s.offset, s.reason);
        println!("               fix the plugin or its config and deploy it again to resume from that record");
    }
    println!("Input:         {}", d.input);
    println!("Outputs:       {}", d.outputs.join(", "));
    match &d.dead_letter_topic {
        Some(topic) => println!("On error:      {} to {topic}", d.on_error),
        None => println!("On error:      {}", d.on_error),
    }
    println!("Allowed:       {}", if d.allow.is_empty() { "nothing beyond its memory".to_string() } else { d.allow.join(", ") });
    if !d.config.is_empty() {
        let config: Vec<String> = d.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("Config:        {}", config.join(" "));
    }
    println!("Plugin:        {} bytes, sha256 {}", d.wasm_bytes, d.wasm_sha256);
    println!("Offsets group: {}", d.group_id);
    println!("Lag:           {}", d.lag);
    println!();
    let mut table = TextTable::new(&[("PARTITION", true), ("LEADER", true), ("COMMITTED", true), ("END", true), ("LAG", true)]);
    for p in &d.partitions {
        let committed = p.committed_offset.map_or_else(|| "-".to_string(), |o| o.to_string());
        table.row([p.partition.to_string(), p.leader.to_string(), committed, p.end_offset.to_string(), p.lag.to_string()]);
    }
    table.print()
}
