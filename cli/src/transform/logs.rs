//! `fjord transform logs`: a transform's lines from the `__fjord_transform_logs` topic.

use std::time::{Duration, Instant};

use anyhow::Context;
use fjord_log_core::transform::TRANSFORM_LOGS_TOPIC;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::client::cluster_view::{offsets_client, topic, watermarks};
use crate::client::{ClientArgs, TimeoutArgs};
use crate::output::OutputArgs;

/// Print a transform's log: where each runner started, records that failed (dead-lettered,
/// skipped, or stopping the transform), failed writes and restarts. Lines are kept a week.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The transform
    pub name: String,

    /// Keep printing new lines until interrupted
    #[arg(long, short = 'f')]
    pub follow: bool,

    #[command(flatten)]
    pub client: ClientArgs,

    #[command(flatten)]
    pub timeout: TimeoutArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Prints the lines.
pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    // A group id only because librdkafka wants one to assign partitions; nothing is committed.
    let consumer: BaseConsumer = offsets_client(&args.client, Some("fjord-cli-transform-logs"))?;
    let logs = topic(consumer.client(), &args.client, TRANSFORM_LOGS_TOPIC, timeout)
        .context("no transform has been deployed on this cluster yet (its log topic is missing)")?;
    let mut assignment = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in &logs.partitions {
        assignment.add_partition_offset(TRANSFORM_LOGS_TOPIC, p.id, Offset::Beginning)?;
        ends.push((p.id, watermarks(&consumer, TRANSFORM_LOGS_TOPIC, p.id, timeout)?.1));
    }
    consumer.assign(&assignment).context("could not read the transform log topic")?;
    let deadline = Instant::now() + timeout;
    let mut positions: Vec<(i32, i64)> = ends.iter().map(|(p, _)| (*p, 0)).collect();
    loop {
        let caught_up = ends.iter().all(|(p, end)| positions.iter().any(|(q, at)| q == p && at >= end));
        if !args.follow && (caught_up || Instant::now() > deadline) {
            return Ok(());
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message.context("reading the transform log failed")?;
        if let Some(entry) = positions.iter_mut().find(|(p, _)| *p == message.partition()) {
            entry.1 = message.offset() + 1;
        }
        if message.key() != Some(args.name.as_bytes()) {
            continue;
        }
        let Some(payload) = message.payload() else { continue };
        if args.output.json() {
            println!("{}", String::from_utf8_lossy(payload));
            continue;
        }
        let line: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
        let at = line["timestamp_ms"].as_i64().map(|ms| humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string());
        println!(
            "{} {:<6} partition {} {}",
            at.unwrap_or_default(),
            line["level"].as_str().unwrap_or("?"),
            line["partition"].as_i64().unwrap_or(-1),
            line["message"].as_str().unwrap_or("")
        );
    }
}
