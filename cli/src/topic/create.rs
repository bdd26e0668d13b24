//! `fjord topic create`, sent as a CreateTopics request of its own (not through librdkafka,
//! whose admin API drops the broker's error message) so a refusal says why.

use anyhow::{anyhow, bail};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, parse_key_value};
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
    let name = args.name.as_str();
    let mut connection = args.client.rpc_connection(timeout)?;
    let configs = args
        .configs
        .iter()
        .map(|(key, value)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_value(Some(StrBytes::from_string(value.clone())))
        })
        .collect();
    let replication_factor = match args.replication_factor {
        None => -1,
        Some(r) => i16::try_from(r).map_err(|_| anyhow!("--replication-factor {r} is out of range"))?,
    };
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                .with_num_partitions(args.partitions.unwrap_or(-1))
                .with_replication_factor(replication_factor)
                .with_configs(configs),
        ])
        .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
        .with_validate_only(args.validate_only);
    let response = connection.call(&request)?;
    let Some(result) = response.topics.iter().find(|t| t.name.as_str() == name) else {
        bail!("the cluster did not answer for topic `{name}`");
    };
    let created = match ResponseError::try_from_code(result.error_code) {
        None => !args.validate_only,
        Some(ResponseError::TopicAlreadyExists) if args.if_not_exists => false,
        Some(ResponseError::TopicAlreadyExists) => bail!(
            "topic `{name}` already exists; add --if-not-exists to accept that, or see it with `fjord topic describe {name}`"
        ),
        Some(error) => match result.error_message.as_ref().filter(|m| !m.is_empty()) {
            Some(message) => bail!("could not create topic `{name}`: {message} ({error})"),
            None => bail!("could not create topic `{name}`: {error}{}", hint(error)),
        },
    };
    // CreateTopics v5+ reports the partitions and replication actually used (-1 before).
    // Nothing is known of an existing topic's shape from this answer: report none.
    let counted = |n: i64, asked: Option<i64>| {
        if !created && !args.validate_only {
            return None;
        }
        usize::try_from(if n >= 0 { n } else { asked.unwrap_or(-1) }).ok()
    };
    let report = Created {
        topic: name.to_owned(),
        created,
        validate_only: args.validate_only,
        partitions: counted(i64::from(result.num_partitions), args.partitions.map(i64::from)),
        replication_factor: counted(i64::from(result.replication_factor), args.replication_factor.map(i64::from)),
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
        (false, false) => println!("Topic `{name}` already exists; nothing changed."),
    }
    Ok(())
}

/// What to do about the common refusals.
fn hint(error: ResponseError) -> &'static str {
    match error {
        ResponseError::InvalidTopicException => "; names are 1 to 249 of a-z A-Z 0-9 . _ -",
        ResponseError::InvalidPartitions => "; --partitions must be at least 1",
        ResponseError::InvalidReplicationFactor => {
            "; --replication-factor must be at least 1 and at most the number of brokers (see `fjord cluster describe`)"
        }
        ResponseError::InvalidConfig => "; check the --config names and values",
        ResponseError::RequestTimedOut => "; the cluster did not answer in time, raise --timeout or check the broker's logs",
        _ => "",
    }
}
