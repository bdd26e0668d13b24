//! `fjord dev`: the whole single-node platform in one process, with development defaults —
//! data under `./fjord-data`, the Kafka listener on 127.0.0.1:9092, metrics on :9644, and a
//! group's first rebalance without Kafka's 3-second wait. It prints every endpoint it serves
//! and shuts down cleanly on Ctrl-C or SIGTERM. Components that land later (connect, SQL,
//! transforms, mirror) start here too; a connect worker
//! (REST API on 127.0.0.1:8083) runs beside the broker.

use std::path::PathBuf;

use crate::broker_settings::BrokerSettings;
use crate::platform::{self, Mode};

/// Options of `fjord dev`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord dev
  fjord dev --data-dir /tmp/fjord --listen 127.0.0.1:19092
  fjord dev --nodes 3                  # a 3-node cluster on 9092, 9093, 9094 and a connect worker
  FJORD_LOG=debug fjord dev

Any `fjord broker` setting can be given too (see `fjord broker --help`). Stop with Ctrl-C (or \
SIGTERM): in-flight requests finish and every partition is flushed and closed, so nothing \
acknowledged is lost and the next start skips recovery.")]
pub struct DevArgs {
    /// Broker settings (same as `fjord broker`)
    #[command(flatten)]
    pub settings: BrokerSettings,

    /// TOML file with broker settings (flags and FJORD_* variables win over it)
    #[arg(long, value_name = "FILE", env = "FJORD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Run a local cluster of this many nodes (child processes on consecutive ports from
    /// --listen, data under --data-dir/node-<id>) instead of a single node
    #[arg(long, value_name = "N")]
    pub nodes: Option<u16>,

    /// Where the connect worker's REST API listens (Kafka Connect's API; `fjord connect list`)
    #[arg(long, value_name = "HOST:PORT", env = "FJORD_CONNECT_LISTEN", default_value = "127.0.0.1:8083")]
    pub connect_listen: std::net::SocketAddr,
}

/// Runs `fjord dev` until Ctrl-C or SIGTERM.
pub fn run(args: DevArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => BrokerSettings::from_file(path)?,
        None => BrokerSettings::default(),
    };
    if let Some(nodes) = args.nodes {
        return crate::dev_cluster::run(nodes, &args.settings.or(file), args.connect_listen);
    }
    let dev_defaults = BrokerSettings { group_initial_rebalance_delay_ms: Some(0), ..BrokerSettings::default() };
    let settings = args.settings.or(file).or(dev_defaults).resolve()?;
    platform::run(settings, Mode::Dev(platform::DevOptions { connect_listen: args.connect_listen }))
}
