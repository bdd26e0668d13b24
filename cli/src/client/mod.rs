//! What every client subcommand (`topic`, `produce`, `consume`, `group`, `cluster`, `bench`)
//! shares: how to reach a cluster (`--bootstrap-server`, `-X` client properties), the rdkafka
//! configuration built from that, running rdkafka's admin futures to completion, and the
//! wording of "could not reach the cluster" errors.
//!
//! The tools speak only the Kafka protocol, so they work against any Kafka-compatible cluster,
//! not just Fjord. Data and most admin calls go through rdkafka (librdkafka); what librdkafka
//! does not expose (DescribeCluster, IncrementalAlterConfigs, CreateTopics' error messages)
//! goes through [`rpc`].

pub mod cluster_view;
pub mod producer_tuning;
pub mod rpc;
pub mod time_arg;

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::metadata::Metadata;

/// The default bootstrap server: a local `fjord dev`.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// How to reach the cluster. Flattened into every client subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Broker(s) to bootstrap from, comma-separated
    #[arg(
        long,
        short = 'b',
        value_name = "HOST:PORT",
        env = "FJORD_BOOTSTRAP_SERVER",
        default_value = DEFAULT_BOOTSTRAP
    )]
    pub bootstrap_server: String,

    /// A librdkafka client property, e.g. `-X security.protocol=ssl` (repeatable)
    #[arg(short = 'X', long = "property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub properties: Vec<(String, String)>,
}

/// `--timeout` for commands made of requests and answers.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TimeoutArgs {
    /// How long to wait for the cluster to answer before giving up (e.g. 10s, 2m)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

impl ClientArgs {
    /// The rdkafka configuration for this cluster: bootstrap servers, a client id, quiet
    /// librdkafka logging (errors reach the user as results, not as log lines), then the
    /// user's `-X` properties, which win.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_server)
            .set("client.id", "fjord-cli")
            // TCP_NODELAY, as Kafka's Java client: small requests go out at once.
            .set("socket.nagle.disable", "true")
            .set("log_level", "0");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    /// Re-applies the user's `-X` properties, for callers that set their own defaults on the
    /// configuration after [`ClientArgs::config`]: what the user said wins.
    pub fn apply_overrides(&self, config: &mut ClientConfig) {
        for (key, value) in &self.properties {
            config.set(key, value);
        }
    }

    /// A consumer with the command's `settings` (the user's `-X` still win over them).
    pub fn consumer(&self, settings: &[(&str, &str)]) -> anyhow::Result<BaseConsumer> {
        let mut config = self.config();
        for (key, value) in settings {
            config.set(*key, *value);
        }
        self.apply_overrides(&mut config);
        config.create().context("could not create the Kafka consumer; check the -X properties")
    }

    /// An admin client for this cluster.
    pub fn admin(&self) -> anyhow::Result<AdminClient<DefaultClientContext>> {
        self.config()
            .create()
            .context("could not create the Kafka admin client; check the -X properties")
    }

    /// A connection for the requests librdkafka does not expose ([`rpc`]). It speaks plain
    /// TCP only, so it refuses `-X` settings for TLS or SASL instead of failing obscurely.
    pub fn rpc_connection(&self, timeout: Duration) -> anyhow::Result<rpc::Connection> {
        self.rpc_connection_to(&self.bootstrap_server, timeout)
    }

    /// As [`rpc_connection`](Self::rpc_connection), to `servers` (comma-separated
    /// HOST:PORT) rather than the bootstrap servers: a partition's leader, say.
    pub fn rpc_connection_to(&self, servers: &str, timeout: Duration) -> anyhow::Result<rpc::Connection> {
        let secured = self.properties.iter().any(|(key, value)| {
            (key == "security.protocol" && !value.eq_ignore_ascii_case("plaintext"))
                || key.starts_with("ssl.")
                || key.starts_with("sasl.")
        });
        if secured {
            anyhow::bail!(
                "this command talks to the cluster without librdkafka and supports plaintext listeners only; \
                 TLS and SASL (-X security.protocol, ssl.*, sasl.*) are not supported by it yet"
            );
        }
        rpc::Connection::connect(servers, timeout).with_context(|| self.reach_hint())
    }

    /// The hint appended to errors that may mean the cluster is not there.
    pub fn reach_hint(&self) -> String {
        format!(
            "is a broker running at {}? Start one with `fjord dev`, or point --bootstrap-server \
             (or FJORD_BOOTSTRAP_SERVER) at your cluster",
            self.bootstrap_server
        )
    }
}

/// Cluster metadata (all topics, or one), failing with a message that says what to check.
pub fn fetch_metadata<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
    args: &ClientArgs,
    topic: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Metadata> {
    client.fetch_metadata(topic, timeout).with_context(|| {
        format!(
            "could not get cluster metadata from {} within {}; {}",
            args.bootstrap_server,
            humantime::format_duration(timeout),
            args.reach_hint()
        )
    })
}

/// Admin options that wait at most `timeout` for the request and the operation.
pub fn admin_options(timeout: Duration) -> AdminOptions {
    AdminOptions::new().request_timeout(Some(timeout)).operation_timeout(Some(timeout))
}

/// Runs a future (rdkafka's admin calls) to completion on a small runtime of its own.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("could not start the async runtime")?;
    Ok(runtime.block_on(future))
}

/// `key=value` (the value may contain `=`).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// A duration such as `500ms`, `30s`, `2m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. 500ms, 30s, 2m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".to_owned(), "b=c".to_owned()))
        );
        assert_eq!(parse_key_value("a="), Ok(("a".to_owned(), String::new())));
        assert!(parse_key_value("=b").is_err());
        assert!(parse_key_value("ab").is_err());
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
    }
}
