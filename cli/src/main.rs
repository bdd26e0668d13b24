//! `fjord`: the one binary. Parses the command line and hands each subcommand to its module.
//!
//! This file owns the command tree and the process edges: logging setup, turning an error
//! into a message on stderr and an exit code. Every subcommand lives in its own module and
//! returns `anyhow::Result`; none of them exits the process or prints errors itself.

mod data_dir;
mod dev;
mod log_dump;
mod logging;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const ABOUT: &str = "Fjord: a Kafka-compatible streaming platform in one binary";

const LONG_ABOUT: &str = "\
Fjord: a Kafka-compatible streaming platform in one binary.

Fjord is an open-source streaming platform written in Rust that speaks the Kafka wire \
protocol, so existing Kafka clients and tools can use it unchanged.

This version holds Fjord's storage engine (partition logs made of Kafka RecordBatch v2 \
segments with sparse indexes, crash recovery, retention and compaction) and the tools around \
it. The Kafka broker, which will serve clients on port 9092, is the next milestone.";

const EXAMPLES: &str = "\
Examples:
  Start a development instance on ./fjord-data (opens and recovers every partition log):
    fjord dev

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
    /// Run a single-node development instance on a local data directory
    Dev(dev::DevArgs),
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
