//! `fjord broker`: one Kafka-compatible broker process.

use std::path::PathBuf;

use crate::broker_settings::BrokerSettings;
use crate::platform::{self, Mode};

/// Options of `fjord broker`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every setting can be given three ways; the first one found wins:
  1. the flag:                 --num-partitions 6
  2. the environment:          FJORD_NUM_PARTITIONS=6
  3. the TOML file (--config): num_partitions = 6

Examples:
  fjord broker --data-dir /var/lib/fjord --listen 0.0.0.0:9092 --advertised-listener kafka1.example.com:9092
  fjord broker --config /etc/fjord/broker.toml
  FJORD_DATA_DIR=/tmp/f fjord broker --metrics-listen 127.0.0.1:9644

A cluster: every node names the controller quorum; a node in the list votes in it.
  fjord broker --node-id 1 --listen 10.0.0.1:9092 --controller-quorum-voters 1@10.0.0.1:9192,2@10.0.0.2:9192,3@10.0.0.3:9192 --data-dir /var/lib/fjord
  fjord broker --node-id 4 --listen 10.0.0.4:9092 --rpc-listen 10.0.0.4:9192 --controller-quorum-voters ... (broker only)
  fjord broker --node-id 1 --process-roles controller --controller-quorum-voters ... (controller only: no Kafka listener)

Durability: on a single node an acks=all produce is fsynced before it is acknowledged, so \
a crash (even SIGKILL or power loss) loses nothing acknowledged. --flush-on-acks-all false \
relaxes this to Kafka's default (acknowledge from the page cache).

Stop with Ctrl-C or SIGTERM: in-flight requests finish, every partition is flushed and \
closed, and the process exits 0.")]
pub struct BrokerArgs {
    /// Broker settings
    #[command(flatten)]
    pub settings: BrokerSettings,

    /// TOML file with broker settings (flags and FJORD_* variables win over it)
    #[arg(long, value_name = "FILE", env = "FJORD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Runs the broker until SIGINT or SIGTERM.
pub fn run(args: BrokerArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => BrokerSettings::from_file(path)?,
        None => BrokerSettings::default(),
    };
    platform::run(args.settings.or(file).resolve()?, Mode::Broker)
}
