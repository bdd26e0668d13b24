//! Logging setup: `tracing` events go to stderr, filtered by `FJORD_LOG` (default `info`).
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

/// Installs the process-wide subscriber. Call once, before anything logs.
pub fn init() -> anyhow::Result<()> {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .with_env_var(FILTER_ENV)
        .from_env()
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
