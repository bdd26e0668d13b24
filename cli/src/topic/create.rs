//! `fjord topic create`.

use anyhow::bail;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, block_on, cluster_view, parse_key_value};
use crate::output::{OutputArgs, print_json};
use crate::summary::plural;

/// Options of `fjord topic create`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord topic create orders --partitions 6
  fjord topic create users --partitions 3 --config cleanup.policy=compact
  fjord topic create audit --config retention.ms=2592000000 --if-not-exists
  fjord topic create orders --partitions 6 --validate-only   # check, create nothing")]
pub struct CreateArgs {
    /// Topic name: up to 249 of a-z A-Z 0-9 . _ -
    pub name: String,

    /// Number of partitions [default: the broker's num.partitions]
    #[arg(long, short = 'p', value_name = "N")]
    pub partitions: Option<i32>,

    /// Copies of each partition [default: the broker's default.replication.factor]
    #[arg(long, short = 'r', value_name = "N")]
    pub replication_factor: Option<i32>,

    /// A topic config, e.g. retention.ms=86400000 (repeatable)
    #[arg(long = "config", short = 'c', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,

    /// Succeed without changing anything when the topic already exists
    #[arg(long)]
    pub if_not_exists: bool,

    /// Let the broker check the request, but create nothing
    #[arg(long)]
    pub validate_only: bool,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Created {
    topic: String,
    /// False when `--if-not-exists` found the topic already there, or with `--validate-only`.
    created: bool,
    validate_only: bool,
    partitions: Option<usize>,
    replication_factor: Option<usize>,
}

pub fn run(args: CreateArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let admin = args.client.admin()?;
    // Fails early, with a clear message, when the cluster is not there.
    let existing = cluster_view::topics(admin.inner(), &args.client, timeout)?;
    let name = args.name.as_str();

    let mut new = NewTopic::new(
        name,
        args.partitions.unwrap_or(-1),
        TopicReplication::Fixed(args.replication_factor.unwrap_or(-1)),
    );
    for (key, value) in &args.configs {
        new = new.set(key, value);
    }
    let options = super::admin_options(timeout).validate_only(args.validate_only);
    let results = block_on(admin.create_topics([&new], &options))??;
    let outcome = results.into_iter().next();
    let created = match outcome {
        Some(Ok(_)) => !args.validate_only,
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if args.if_not_exists => false,
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => bail!(
            "topic `{name}` already exists; add --if-not-exists to accept that, or see it with `fjord topic describe {name}`"
        ),
        Some(Err((_, code))) => bail!("could not create topic `{name}`: {code}{}", hint(code)),
        None => bail!("the cluster did not answer for topic `{name}`"),
    };
    let topic = if args.validate_only {
        None
    } else {
        cluster_view::topics(admin.inner(), &args.client, timeout)?
            .remove(name)
            .or_else(|| existing.get(name).cloned())
    };
    let report = Created {
        topic: name.to_owned(),
        created,
        validate_only: args.validate_only,
        partitions: topic.as_ref().map(|t| t.partitions.len()).or(args.partitions.map(|p| p.max(0) as usize)),
        replication_factor: topic
            .as_ref()
            .map(|t| t.replication_factor())
            .or(args.replication_factor.map(|r| r.max(0) as usize)),
    };
    if args.output.json() {
        return print_json(&report);
    }
    let shape = match (report.partitions, report.replication_factor) {
        (Some(p), Some(r)) => format!(" ({}, replication factor {r})", plural(p, "partition")),
        _ => String::new(),
    };
    match (args.validate_only, created) {
        (true, _) => println!("Topic `{name}` can be created{shape}: the broker accepted the request (nothing was created)."),
        (false, true) => println!("Created topic `{name}`{shape}."),
        (false, false) => println!("Topic `{name}` already exists{shape}; nothing changed."),
    }
    Ok(())
}

/// What to do about the common refusals.
fn hint(code: RDKafkaErrorCode) -> &'static str {
    match code {
        RDKafkaErrorCode::InvalidTopic => "; names are 1 to 249 of a-z A-Z 0-9 . _ -",
        RDKafkaErrorCode::InvalidPartitions => "; --partitions must be at least 1",
        RDKafkaErrorCode::InvalidReplicationFactor => {
            "; --replication-factor must be at least 1 and at most the number of brokers (see `fjord cluster describe`)"
        }
        RDKafkaErrorCode::InvalidConfig => "; check the --config names and values",
        RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut => {
            "; the cluster did not answer in time, raise --timeout or check the broker's logs"
        }
        _ => "",
    }
}
