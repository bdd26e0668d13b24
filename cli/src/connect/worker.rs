//! `fjord connect worker`: a worker in a group (Kafka Connect's distributed mode). Workers
//! started with the same `--group-id` against the same cluster share their connectors (created
//! through any worker's REST API), source offsets and task states through compacted topics,
//! and divide the tasks; when a worker stops or dies the others take its tasks over.

use anyhow::Context;
use fjord_connect::runtime::{Cluster, DistributedSettings, Worker};

use crate::client::ClientArgs;
use crate::connect::serve::{Signals, WorkerProcessArgs, serve_until_signal};

const AFTER_HELP: &str = "\
Examples:
  Two workers sharing the group `etl` (run each in its own shell, or on its own machine):
    fjord connect worker -b localhost:9092 --group-id etl --rest-listen 127.0.0.1:8083
    fjord connect worker -b localhost:9092 --group-id etl --rest-listen 127.0.0.1:8084
  Create a connector through either; the group decides which worker runs its tasks:
    fjord connect create --url http://127.0.0.1:8083 my-sink.yaml
    fjord connect status --url http://127.0.0.1:8084 my-sink

The group keeps its state in the topics etl-configs (one partition), etl-offsets, etl-status
and etl-assignments, created when missing; name them with the --*-topic flags.
A worker that dies hands its tasks to the others after the group's session timeout (10 s).";

/// `fjord connect worker`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct GroupWorkerArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The group this worker joins; workers with the same group id share connectors
    #[arg(long, value_name = "GROUP", env = "FJORD_CONNECT_GROUP_ID")]
    group_id: String,

    #[command(flatten)]
    worker: WorkerProcessArgs,

    /// Topic of connector configs and target states (default: GROUP-configs; one partition)
    #[arg(long, value_name = "TOPIC")]
    config_storage_topic: Option<String>,

    /// Topic of source connectors' offsets (default: GROUP-offsets)
    #[arg(long, value_name = "TOPIC")]
    offset_storage_topic: Option<String>,

    /// Topic of task states (default: GROUP-status)
    #[arg(long, value_name = "TOPIC")]
    status_storage_topic: Option<String>,

    /// Topic whose partitions the group divides to assign tasks (default: GROUP-assignments)
    #[arg(long, value_name = "TOPIC")]
    assignment_topic: Option<String>,

    /// Replication factor of the internal topics this worker creates (-1: the cluster's default)
    #[arg(long, value_name = "N", default_value_t = -1, allow_hyphen_values = true)]
    replication_factor: i32,
}

pub fn run(args: GroupWorkerArgs) -> anyhow::Result<()> {
    let mut group = DistributedSettings::new(&args.group_id);
    if let Some(topic) = args.config_storage_topic {
        group.config_topic = topic;
    }
    if let Some(topic) = args.offset_storage_topic {
        group.offset_topic = topic;
    }
    if let Some(topic) = args.status_storage_topic {
        group.status_topic = topic;
    }
    if let Some(topic) = args.assignment_topic {
        group.assignment_topic = topic;
    }
    group.replication_factor = args.replication_factor;
    let cluster = Cluster { bootstrap_servers: args.client.bootstrap_server.clone(), properties: args.client.properties.clone() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("could not start the async runtime")?;
    runtime.block_on(async move {
        let signals = Signals::install()?;
        let (listener, rest_address) = args.worker.bind().await?;
        let settings = args.worker.settings(rest_address)?;
        let worker = Worker::join_group(cluster, settings, group.clone())
            .await
            .with_context(|| format!("could not join the connect group {} at {}", group.group_id, args.client.bootstrap_server))?;
        tracing::info!(
            group = %group.group_id,
            connectors = ?worker.names().await,
            bootstrap = %args.client.bootstrap_server,
            rest = %format!("http://{rest_address}/connectors"),
            "connect worker running in its group; Ctrl-C hands its tasks to the other workers"
        );
        serve_until_signal(listener, worker, signals).await
    })
}
