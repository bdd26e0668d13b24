//! Logging setup: `tracing` events go to stderr, filtered by `FJORD_LOG` (default `info`,
//! with librdkafka's own log off).
//!
//! stdout is kept for command output, so `fjord log dump … --output json | jq` never sees a
//! log line.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The environment variable holding the log filter, in `tracing-subscriber`'s `EnvFilter`
/// syntax: a level (`debug`) or directives (`info,fjord_log_core=debug`).
pub const FILTER_ENV: &str = "FJORD_LOG";

/// The filter without FJORD_LOG.
/// openraft logs each failed message to an unreachable voter, several times a second, and
/// its routine progress at info: warnings and errors of its core only (the quorum reports a
/// lost leader or voter itself).
const DEFAULT_DIRECTIVES: &str = "info,librdkafka=off,rdkafka=off,openraft=warn,openraft::replication=off,openraft::engine::handler::replication_handler=off";

/// Installs the process-wide subscriber. Call once, before anything logs.
pub fn init() -> anyhow::Result<()> {
    // librdkafka reports every failed connection attempt as an error, over and over; the
    // client commands turn what matters into one message with a hint, so its log (and
    // rust-rdkafka's) is off unless FJORD_LOG asks for it (e.g. `librdkafka=debug`).
    let directives = std::env::var(FILTER_ENV).unwrap_or_else(|_| DEFAULT_DIRECTIVES.to_owned());
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse(&directives)
        .with_context(|| {
            format!(
                "{FILTER_ENV} is not a valid log filter; set it to a level such as `info` or `debug`, \
                 or to directives such as `info,fjord_log_core=debug`"
            )
        })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| anyhow::anyhow!("could not install the log subscriber: {e}"))
}
