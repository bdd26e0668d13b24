//! `fjord bench`: a load generator for any Kafka-compatible cluster, in the spirit of the
//! OpenMessaging Benchmark and rdkafka_performance — `produce`, `consume`, `e2e` (end-to-end
//! latency at a fixed rate, free of coordinated omission), `fetch` (the read path's latency under
//! catch-up reads) — and `baseline`, this machine's
//! physical limits measured in the same run, so results can be stated as ratios.

mod baseline;
mod connect;
mod consume;
mod e2e;
mod fetch;
mod host_cpu;
mod latency;
mod produce;
mod progress;
mod report;
mod transform;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::{ClientArgs, admin_options, block_on, cluster_view};
use report::BenchResult;

/// `fjord bench …`.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Produce as fast as possible (or at --rate) and measure throughput and ack latency
    Produce(produce::ProduceArgs),
    /// Consume a topic from the beginning and measure throughput
    Consume(consume::ConsumeArgs),
    /// Produce at a fixed rate while consuming; measure end-to-end latency
    E2e(e2e::E2eArgs),
    /// Fetch a filled topic over and over; measure each Fetch request's latency
    Fetch(fetch::FetchArgs),
    /// Measure this machine's limits: disk write (buffered and fsync'd) and loopback TCP
    Baseline(baseline::BaselineArgs),
    /// Throughput of a broker-side WebAssembly transform beside produce → consume without it
    Transform(transform::TransformBenchArgs),
    /// Rows/s of the PostgreSQL sink beside a plain COPY of the same rows
    PostgresSink(connect::SinkBenchArgs),
    /// Changes/s and commit → topic latency of PostgreSQL change data capture at a steady rate
    PostgresCdc(connect::CdcBenchArgs),
    /// Lines/s of the file source beside one producer sending the same lines
    FileSource(connect::FileBenchArgs),
}

/// Runs one `fjord bench` subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Produce(args) => produce::run(args),
        BenchCommand::Consume(args) => consume::run(args),
        BenchCommand::E2e(args) => e2e::run(args),
        BenchCommand::Fetch(args) => fetch::run(args),
        BenchCommand::Baseline(args) => baseline::run(args),
        BenchCommand::Transform(args) => transform::run(args),
        BenchCommand::PostgresSink(args) => connect::postgres_sink(args),
        BenchCommand::PostgresCdc(args) => connect::postgres_cdc(args),
        BenchCommand::FileSource(args) => connect::file_source(args),
    }
}

/// The topic a benchmark uses, created when missing.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicArgs {
    /// Topic to use (created with --partitions when missing)
    #[arg(long, default_value = "fjord-bench")]
    pub topic: String,

    /// Partitions of the topic when the benchmark creates it
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
}

/// Where a result goes.
#[derive(Debug, Clone, clap::Args)]
pub struct ResultArgs {
    /// Print the result as one JSON object instead of a summary
    #[arg(long, short = 'o', value_enum, default_value_t = crate::output::Output::Table)]
    pub output: crate::output::Output,

    /// Also write the JSON result to this file
    #[arg(long, value_name = "FILE")]
    pub result_file: Option<PathBuf>,
}

impl ResultArgs {
    fn emit(&self, result: &BenchResult) -> anyhow::Result<()> {
        if let Some(path) = &self.result_file {
            report::write_result_file(path, result)?;
        }
        if self.output == crate::output::Output::Json {
            crate::output::print_json(result)
        } else {
            result.print_human();
            Ok(())
        }
    }
}

/// Makes sure `topic` exists; returns its partition count.
fn ensure_topic(client: &ClientArgs, topic: &TopicArgs, timeout: Duration) -> anyhow::Result<usize> {
    let admin = client.admin()?;
    if let Some(existing) = cluster_view::topics(admin.inner(), client, timeout)?.get(&topic.topic) {
        return Ok(existing.partitions.len());
    }
    let new = NewTopic::new(&topic.topic, topic.partitions, TopicReplication::Fixed(-1));
    for result in block_on(admin.create_topics([&new], &admin_options(timeout)))?? {
        match result {
            Ok(_) => eprintln!("Created topic `{}` with {} partitions.", topic.topic, topic.partitions),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => bail!("could not create the benchmark topic `{}`: {code}", topic.topic),
        }
    }
    // A new topic may take a moment to reach every broker's metadata.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(created) = cluster_view::topics(admin.inner(), client, timeout)?.get(&topic.topic) {
            return Ok(created.partitions.len());
        }
        if std::time::Instant::now() >= deadline {
            bail!("the benchmark topic `{}` was created but does not appear in the cluster's metadata", topic.topic);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Random bytes (incompressible, like encrypted or already-compressed payloads).
fn payload(size: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; size];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}
