//! `fjord connect standalone`: one worker in this process, its connectors from config files
//! (JSON, YAML, TOML or Java properties), source offsets in `--offsets-file`. Runs until
//! SIGINT/SIGTERM, then stops every task after it has flushed and stored its offsets.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fjord_connect::config::file;
use fjord_connect::converter::Converter;
use fjord_connect::offsets::file::FileOffsetStore;
use fjord_connect::registry;
use fjord_connect::runtime::{Cluster, Worker, WorkerSettings};
use tokio::signal::unix::{SignalKind, signal};

use crate::client::{ClientArgs, parse_duration};
use crate::output::{OutputArgs, print_json};

const AFTER_HELP: &str = "\
Examples:
  Tail a log file into a topic, and write the topic out to another file:
    cat > in.yaml <<'EOF'
    name: app-log
    connector.class: file-source
    file: /var/log/app.log
    topic: app-log
    value.converter: string
    EOF
    cat > out.yaml <<'EOF'
    name: app-log-copy
    connector.class: file-sink
    topics: app-log
    file: /tmp/app-log.copy
    value.converter: string
    EOF
    fjord connect standalone --offsets-file connect.offsets in.yaml out.yaml

Settings may take secrets from the environment or files: ${env:NAME}, ${file:/path/x.properties:key}.
`fjord connect plugins` lists the connector types and their settings.";

/// `fjord connect standalone`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct StandaloneArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// Where source offsets are kept between runs
    #[arg(long, value_name = "FILE", default_value = "connect.offsets")]
    offsets_file: PathBuf,

    /// Connector config files (JSON, YAML, TOML or .properties), one connector each; more can
    /// be created through the REST API
    #[arg(value_name = "CONFIG")]
    configs: Vec<PathBuf>,

    /// How often source offsets are stored and sink offsets committed (e.g. 5s)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    offset_flush_interval: Duration,

    /// Converter for keys of connectors that do not name one: json, string or bytes
    #[arg(long, value_name = "NAME", default_value = "json")]
    key_converter: String,

    /// Converter for values of connectors that do not name one: json, string or bytes
    #[arg(long, value_name = "NAME", default_value = "json")]
    value_converter: String,

    /// Address of the REST API (Kafka Connect's: /connectors, /connector-plugins, ...)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8083", env = "FJORD_CONNECT_REST_LISTEN")]
    rest_listen: std::net::SocketAddr,

    /// Whether the default JSON converters write and expect the {schema, payload} envelope
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    schemas_enable: bool,
}

pub fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let schemas = args.schemas_enable.to_string();
    let key_converter = Converter::named(&args.key_converter, Some(&schemas)).map_err(|e| anyhow::anyhow!("--key-converter: {e}"))?;
    let value_converter = Converter::named(&args.value_converter, Some(&schemas)).map_err(|e| anyhow::anyhow!("--value-converter: {e}"))?;
    let mut configs = Vec::new();
    for path in &args.configs {
        let config = file::load(path)?;
        Worker::check(&config).with_context(|| format!("{} is not a usable connector config", path.display()))?;
        configs.push(config);
    }
    let offsets = FileOffsetStore::open(&args.offsets_file)?;
    let cluster = Cluster { bootstrap_servers: args.client.bootstrap_server.clone(), properties: args.client.properties.clone() };
    let settings = WorkerSettings {
        key_converter,
        value_converter,
        offset_flush_interval: args.offset_flush_interval,
        ..WorkerSettings::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("could not start the async runtime")?;
    runtime.block_on(async move {
        let mut interrupt = signal(SignalKind::interrupt()).context("could not install a SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("could not install a SIGTERM handler")?;
        let listener = tokio::net::TcpListener::bind(args.rest_listen)
            .await
            .with_context(|| format!("could not bind the REST API on {}; is another worker running there? Choose another address with --rest-listen", args.rest_listen))?;
        let rest_address = listener.local_addr().context("the REST listener has no address")?;
        let settings = WorkerSettings { worker_id: rest_address.to_string(), ..settings };
        let worker = Worker::new(cluster, settings, Arc::new(offsets));
        let (stop_rest, rest_stopped) = tokio::sync::oneshot::channel::<()>();
        let rest = tokio::spawn(fjord_connect::rest::serve(listener, worker.clone(), async move {
            let _ = rest_stopped.await;
        }));
        for config in configs {
            let name = config.name().to_string();
            worker.create(config).await.with_context(|| format!("could not start connector {name}"))?;
        }
        tracing::info!(
            connectors = ?worker.names().await,
            bootstrap = %args.client.bootstrap_server,
            offsets = %args.offsets_file.display(),
            rest = %format!("http://{rest_address}/connectors"),
            "connect worker running; Ctrl-C stops it after the tasks flush"
        );
        let received = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!("received {received}; stopping connectors");
        let _ = stop_rest.send(());
        let _ = rest.await;
        worker.shutdown().await;
        tracing::info!("connect worker stopped; offsets stored");
        Ok(())
    })
}

/// `fjord connect plugins`.
#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    #[command(flatten)]
    output: OutputArgs,
}

pub fn plugins(args: PluginsArgs) -> anyhow::Result<()> {
    if args.output.json() {
            let list: Vec<serde_json::Value> = registry::plugins()
                .iter()
                .map(|p| {
                    let keys: Vec<serde_json::Value> = p
                        .full_definition()
                        .keys
                        .iter()
                        .map(|k| serde_json::json!({"name": k.name, "type": k.kind.kafka_name(), "required": k.required, "default": k.default, "documentation": k.doc}))
                        .collect();
                    serde_json::json!({"class": p.class, "aliases": p.aliases, "type": p.kind.name(), "version": p.version, "config": keys})
                })
                .collect();
            print_json(&list)?;
    } else {
            for p in registry::plugins() {
                println!("{} ({}, also {})", p.class, p.kind.name(), p.aliases.join(", "));
                for k in (p.definition)().keys {
                    let default = k.default.map(|d| format!(" [default {d}]")).unwrap_or_default();
                    let required = if k.required { " (required)" } else { "" };
                    println!("  {:<20} {}{required}{default}", k.name, k.doc);
                }
                println!();
            }
    }
    Ok(())
}
