//! `fjord connect standalone`: one worker in this process, its connectors from config files
//! (JSON, YAML, TOML or Java properties), source offsets in `--offsets-file`. Runs until
//! SIGINT/SIGTERM, then stops every task after it has flushed and stored its offsets.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use fjord_connect::config::file;
use fjord_connect::offsets::file::FileOffsetStore;
use fjord_connect::registry;
use fjord_connect::runtime::{Cluster, Worker};

use crate::client::ClientArgs;
use crate::connect::serve::{Signals, WorkerProcessArgs, serve_until_signal};
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

    #[command(flatten)]
    worker: WorkerProcessArgs,
}

pub fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let mut configs = Vec::new();
    for path in &args.configs {
        let config = file::load(path)?;
        Worker::check(&config).with_context(|| format!("{} is not a usable connector config", path.display()))?;
        configs.push(config);
    }
    let offsets = FileOffsetStore::open(&args.offsets_file)?;
    let cluster = Cluster { bootstrap_servers: args.client.bootstrap_server.clone(), properties: args.client.properties.clone() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("could not start the async runtime")?;
    runtime.block_on(async move {
        let signals = Signals::install()?;
        let (listener, rest_address) = args.worker.bind().await?;
        let worker = Worker::new(cluster, args.worker.settings(rest_address)?, Arc::new(offsets));
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
        serve_until_signal(listener, worker, signals).await
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
