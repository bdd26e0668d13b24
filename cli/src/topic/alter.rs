//! `fjord topic alter`: add partitions (CreatePartitions) and set or remove topic configs
//! (IncrementalAlterConfigs, so the configs not named stay as they are).

use anyhow::bail;
use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::NewPartitions;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, admin_options, block_on, cluster_view, parse_key_value};
use crate::output::{OutputArgs, print_json};
use crate::summary::plural;

/// Kafka's resource type number for topics.
const RESOURCE_TOPIC: i8 = 2;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// Options of `fjord topic alter`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Partitions can only be added, never removed; records keep the partition they were written to, \
so keys may map to different partitions after the change.

Examples:
  fjord topic alter orders --partitions 12
  fjord topic alter orders --config retention.ms=86400000 --config max.message.bytes=2097152
  fjord topic alter orders --delete-config retention.ms     # back to the broker default")]
#[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["partitions", "configs", "delete_configs"])))]
pub struct AlterArgs {
    /// Topic to change
    pub name: String,

    /// New total number of partitions (must be more than now)
    #[arg(long, short = 'p', value_name = "N")]
    pub partitions: Option<usize>,

    /// Set a topic config (repeatable)
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,

    /// Remove a topic config override, returning it to the broker default (repeatable)
    #[arg(long = "delete-config", value_name = "KEY")]
    pub delete_configs: Vec<String>,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Altered {
    topic: String,
    partitions: Option<usize>,
    set_configs: Vec<String>,
    deleted_configs: Vec<String>,
}

pub fn run(args: AlterArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let admin = args.client.admin()?;
    let topic = cluster_view::topic(admin.inner(), &args.client, &args.name, timeout)?;
    let name = topic.name.as_str();

    if let Some(total) = args.partitions
        && total <= topic.partitions.len()
    {
        bail!(
            "`{name}` has {} already; --partitions is the new total and must be more (partitions cannot be removed)",
            plural(topic.partitions.len(), "partition")
        );
    }

    // Configs first: they are the change a broker is likelier to refuse, and refusing them
    // must leave the partition count untouched.
    if !args.configs.is_empty() || !args.delete_configs.is_empty() {
        alter_configs(&args, name, timeout)?;
    }

    if let Some(total) = args.partitions {
        let new = NewPartitions::new(name, total);
        let results = block_on(admin.create_partitions([&new], &admin_options(timeout)))??;
        for result in results {
            if let Err((_, code)) = result {
                bail!("could not add partitions to `{name}`: {code}");
            }
        }
    }

    let report = Altered {
        topic: name.to_owned(),
        partitions: args.partitions,
        set_configs: args.configs.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        deleted_configs: args.delete_configs.clone(),
    };
    if args.output.json() {
        return print_json(&report);
    }
    if let Some(total) = report.partitions {
        println!("`{name}` now has {}.", plural(total, "partition"));
    }
    for set in &report.set_configs {
        println!("Set {set} on `{name}`.");
    }
    for key in &report.deleted_configs {
        println!("Removed the {key} override from `{name}`; it follows the broker default.");
    }
    Ok(())
}

fn alter_configs(args: &AlterArgs, name: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    let mut configs: Vec<AlterableConfig> = args
        .configs
        .iter()
        .map(|(key, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(value.clone())))
        })
        .collect();
    configs.extend(args.delete_configs.iter().map(|key| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(key.clone()))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(name.to_owned()))
            .with_configs(configs),
    ]);
    let mut connection = args.client.rpc_connection(timeout)?;
    let response = connection.call(&request)?;
    for resource in &response.responses {
        if resource.error_code != 0 {
            let message = resource.error_message.as_ref().map_or("", |m| m.as_str());
            bail!(
                "could not change the configs of `{name}`: {} (Kafka error code {}){}",
                if message.is_empty() { "refused" } else { message },
                resource.error_code,
                if resource.error_code == 40 { "; check the config names and values" } else { "" }
            );
        }
    }
    Ok(())
}
