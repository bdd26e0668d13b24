//! `fjord`: the one binary. Parses the command line and hands each subcommand to its module.
//!
//! This file owns the command tree and the process edges: logging setup, turning an error
//! into a message on stderr and an exit code. Every subcommand lives in its own module and
//! returns `anyhow::Result`; none of them exits the process or prints errors itself.

mod bench;
mod broker;
mod broker_settings;
mod client;
mod cluster;
mod connect;
mod consume;
mod data_dir;
mod dev;
mod dev_cluster;
mod group;
mod interrupt;
mod log_dump;
mod logging;
mod metrics_http;
mod output;
mod platform;
mod produce;
mod summary;
mod topic;
mod transform;

use std::process::ExitCode;

/// mimalloc keeps freed memory for reuse: fetch responses allocate megabytes per request, and
/// the system allocator would map and unmap (and page-fault) them every time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

const ABOUT: &str = "Fjord: a Kafka-compatible streaming platform in one binary";

const LONG_ABOUT: &str = "\
Fjord: a Kafka-compatible streaming platform in one binary.

Fjord is an open-source streaming platform written in Rust that speaks the Kafka wire \
protocol, so existing Kafka clients and tools can use it unchanged.

Run `fjord dev` for a whole single-node platform on ./fjord-data, or `fjord broker` for one \
broker process configured by flags, FJORD_* variables or a TOML file.

The client commands (topic, produce, consume, group, cluster) work against any \
Kafka-compatible cluster: point them at it with --bootstrap-server or FJORD_BOOTSTRAP_SERVER \
(default 127.0.0.1:9092, where `fjord dev` listens). They print tables for people and, with \
--output json, JSON for scripts. `fjord transform` deploys WebAssembly transforms that run \
inside a Fjord cluster's brokers. Exit status: 0 on success, 1 on failure, 2 on a usage error.";

const EXAMPLES: &str = "\
Examples:
  Start a development platform on ./fjord-data, Kafka clients connect to 127.0.0.1:9092:
    fjord dev

  Create a topic, write to it, read it back:
    fjord topic create orders --partitions 6
    seq 1 1000 | fjord produce orders
    fjord consume orders --from-beginning

  See a consumer group's lag:
    fjord group describe billing

  Mask e-mail addresses and card numbers in the brokers, from one topic into another:
    fjord transform deploy mask --wasm target/plugins/mask-pii.wasm --input signups --output signups-masked

  Run a broker from a config file:
    fjord broker --config /etc/fjord/broker.toml

  The same on another data directory:
    fjord dev --data-dir /var/lib/fjord

  Print the record batches of one partition, one line per batch:
    fjord log dump ./fjord-data/logs/orders-0

  The same as JSON lines, for jq and scripts:
    fjord log dump ./fjord-data/logs/orders-0 --output json

Logs go to stderr; set FJORD_LOG to change the level (default: info), e.g. FJORD_LOG=debug.";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "fjord",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole platform on one node for development (Kafka on 127.0.0.1:9092)
    Dev(dev::DevArgs),
    /// Run one Kafka-compatible broker
    Broker(broker::BrokerArgs),
    /// Create, list, describe, alter and delete topics
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Topic {
        #[command(subcommand)]
        command: topic::TopicCommand,
    },
    /// Write lines from stdin or a file to a topic, one record per line
    Produce(produce::ProduceArgs),
    /// Print a topic's records, alone or as a member of a consumer group
    Consume(consume::ConsumeArgs),
    /// List, describe, reset and delete consumer groups
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Group {
        #[command(subcommand)]
        command: group::GroupCommand,
    },
    /// Measure throughput and latency of any Kafka-compatible cluster, and this machine's limits
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Describe the cluster: id, controller, brokers
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Deploy and manage WebAssembly transforms that run inside the brokers
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Transform {
        #[command(subcommand)]
        command: transform::TransformCommand,
    },
    /// Run connectors that move data between the cluster and files (Kafka Connect's model)
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Connect {
        #[command(subcommand)]
        command: connect::ConnectCommand,
    },
    /// Inspect partition logs on disk
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Print the record batches of one partition log, one line per batch (like kafka-dump-log.sh)
    Dump(log_dump::DumpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = logging::init() {
        report(&err);
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Broker(args) => broker::run(args),
        Command::Topic { command } => topic::run(command),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Group { command } => group::run(command),
        Command::Cluster { command } => cluster::run(command),
        Command::Bench { command } => bench::run(command),
        Command::Transform { command } => transform::run(command),
        Command::Connect { command } => connect::run(command),
        Command::Log {
            command: LogCommand::Dump(args),
        } => log_dump::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `fjord log dump … | head`: the reader went away; that is not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error and its causes, one per line.
fn report(err: &anyhow::Error) {
    eprintln!("error: {err}");
    let mut previous = err.to_string();
    for cause in err.chain().skip(1) {
        // Some libraries wrap an error in layers that all print the same text.
        let text = cause.to_string();
        if text != previous {
            eprintln!("  caused by: {text}");
        }
        previous = text;
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn log_dump_takes_a_directory_and_an_output_format() {
        let cli = Cli::try_parse_from([
            "fjord",
            "log",
            "dump",
            "/data/logs/orders-0",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Log {
            command: LogCommand::Dump(args),
        } = cli.command
        else {
            panic!("not a dump: {cli:?}")
        };
        assert_eq!(args.dir, std::path::PathBuf::from("/data/logs/orders-0"));
        assert_eq!(args.output, log_dump::OutputFormat::Json);
    }
}
