//! `fjord dev`: a single-node development instance on a local data directory.
//!
//! It starts what exists today, honestly: it takes the data directory (one process at a
//! time), opens — and so recovers — every partition log under `<data-dir>/logs/`, prints what
//! it found, then waits for Ctrl-C or SIGTERM and closes every log cleanly so that the next
//! start needs no recovery. The Kafka listener arrives with the broker; until then `--listen`
//! is validated and reported, never bound.
//!
//! Every log it opens is closed before it returns, on success and on failure alike.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use fjord_log_core::storage::{LogConfig, PartitionLog, RecoveryReport};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::data_dir::{DataDir, PartitionDir};
use crate::summary::{self, PartitionRow};

/// Options of `fjord dev`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord dev
  fjord dev --data-dir /tmp/fjord --listen 0.0.0.0:9092
  FJORD_LOG=debug fjord dev

Partition logs live in <data-dir>/logs/<topic>-<partition>/. Stop with Ctrl-C (or SIGTERM): \
every log is closed cleanly, so the next start skips recovery.")]
pub struct DevArgs {
    /// Directory holding the partition logs; created when missing
    #[arg(
        long,
        value_name = "DIR",
        env = "FJORD_DATA_DIR",
        hide_env_values = true,
        default_value = "./fjord-data"
    )]
    pub data_dir: PathBuf,

    /// Address for the Kafka listener. Not served yet in this version: the listener arrives
    /// with the broker
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_LISTEN", hide_env_values = true, default_value = "127.0.0.1:9092", value_parser = parse_listen_address)]
    pub listen: String,
}

/// An open partition log, its name, and what opening it found.
#[derive(Debug)]
struct OpenPartition {
    name: String,
    log: PartitionLog,
    recovery: RecoveryReport,
}

/// Runs `fjord dev` until Ctrl-C or SIGTERM.
pub fn run(args: DevArgs) -> anyhow::Result<()> {
    let data_dir = DataDir::create(&args.data_dir)?;
    let _lock = data_dir.lock()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    // Handlers go in before anything is opened or printed: a signal that arrives from here
    // on is never lost and never kills the process with logs left unclosed.
    let mut shutdown = {
        let _runtime = runtime.enter();
        ShutdownSignals::install()?
    };

    println!(
        "fjord dev {}: data directory {}",
        env!("CARGO_PKG_VERSION"),
        data_dir.root().display()
    );
    let started = Instant::now();
    let partitions = open_all(&data_dir)?;
    print_partitions(&data_dir, &partitions, started);
    println!();
    println!(
        "Kafka listener on {}: not available in fjord {}. It arrives with the broker, the next milestone; \
         until then no client can connect.",
        args.listen,
        env!("CARGO_PKG_VERSION")
    );
    println!("Ready. Press Ctrl-C (or send SIGTERM) to stop.");

    let received = runtime.block_on(shutdown.recv());
    println!(
        "Received {received}; closing {}.",
        summary::plural(partitions.len(), "partition log")
    );
    close_all(partitions)?;
    println!("fjord dev shut down cleanly.");
    Ok(())
}

/// SIGINT (Ctrl-C) and SIGTERM, registered as soon as they are created.
#[derive(Debug)]
struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    /// Must run inside the runtime's context.
    fn install() -> anyhow::Result<Self> {
        let register = |kind, name| {
            signal(kind).with_context(|| format!("could not install a handler for {name}"))
        };
        Ok(Self {
            interrupt: register(SignalKind::interrupt(), "SIGINT")?,
            terminate: register(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Waits for the first of them and names it.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Opens every partition log. On failure, closes the ones already open and says which
/// partition failed and what to do about it.
fn open_all(data_dir: &DataDir) -> anyhow::Result<Vec<OpenPartition>> {
    let mut opened = Vec::new();
    for dir in data_dir.partitions()? {
        match open_one(data_dir, &dir) {
            Ok(partition) => opened.push(partition),
            Err(err) => {
                if let Err(close_err) = close_all(opened) {
                    tracing::warn!(error = %format!("{close_err:#}"), "could not close every log after a failed start");
                }
                return Err(err);
            }
        }
    }
    Ok(opened)
}

fn open_one(data_dir: &DataDir, dir: &PartitionDir) -> anyhow::Result<OpenPartition> {
    let name = dir.name();
    // No topic configuration store exists yet: every log runs with Kafka's defaults.
    let (log, recovery) = PartitionLog::open(&dir.path, LogConfig::default()).with_context(|| {
        format!(
            "could not open the partition log {name} at {}; inspect it with `fjord log dump {}`, \
             or move it out of {} to start without it",
            dir.path.display(),
            dir.path.display(),
            data_dir.logs_dir().display()
        )
    })?;
    tracing::debug!(partition = %name, ?recovery, "opened partition log");
    Ok(OpenPartition {
        name,
        log,
        recovery,
    })
}

fn print_partitions(data_dir: &DataDir, partitions: &[OpenPartition], started: Instant) {
    if partitions.is_empty() {
        println!(
            "No partition logs under {} yet.",
            data_dir.logs_dir().display()
        );
        return;
    }
    println!(
        "Opened {} in {} ms:",
        summary::plural(partitions.len(), "partition log"),
        started.elapsed().as_millis()
    );
    println!();
    let rows: Vec<PartitionRow> = partitions
        .iter()
        .map(|p| PartitionRow {
            name: p.name.clone(),
            segments: p.log.segment_count(),
            log_start: p.log.log_start_offset(),
            log_end: p.log.log_end_offset(),
            size_bytes: p.log.size_bytes(),
            state: summary::describe_recovery(&p.recovery),
        })
        .collect();
    print!("{}", summary::render(&rows));
}

/// Closes every log, even after one fails, and reports all failures together.
fn close_all(partitions: Vec<OpenPartition>) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for OpenPartition { name, log, .. } in partitions {
        if let Err(err) = log.close() {
            tracing::error!(partition = %name, error = %err, "could not close the partition log");
            failures.push(format!("{name}: {err}"));
        }
    }
    if !failures.is_empty() {
        bail!(
            "could not close {} cleanly; they will be recovered on the next start:\n  {}",
            summary::plural(failures.len(), "partition log"),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Accepts `HOST:PORT` (`[v6]:PORT` for IPv6) with a port from 1 to 65535.
fn parse_listen_address(value: &str) -> Result<String, String> {
    let expected = "expected HOST:PORT, e.g. 127.0.0.1:9092 or localhost:9092";
    let (host, port) = value.rsplit_once(':').ok_or_else(|| expected.to_owned())?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && !host.contains(':') && !host.contains(char::is_whitespace),
    };
    if !host_ok {
        return Err(format!("invalid host `{host}`; {expected}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(value.to_owned()),
        _ => Err(format!("invalid port `{port}`; {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_are_host_and_port() {
        for ok in [
            "127.0.0.1:9092",
            "localhost:9092",
            "0.0.0.0:1",
            "[::1]:9092",
            "broker-1.example.com:65535",
        ] {
            assert_eq!(parse_listen_address(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "9092",
            ":9092",
            "localhost",
            "localhost:",
            "localhost:0",
            "localhost:70000",
            "::1:9092",
            "[nope]:9092",
            "a b:1",
        ] {
            assert!(parse_listen_address(bad).is_err(), "{bad}");
        }
    }
}
