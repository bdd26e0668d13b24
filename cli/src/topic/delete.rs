//! `fjord topic delete`.

use anyhow::bail;
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, admin_options, block_on, cluster_view};
use crate::output::{OutputArgs, print_json};

/// Options of `fjord topic delete`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Deleting a topic removes all its records; it cannot be undone.

Examples:
  fjord topic delete orders
  fjord topic delete old-1 old-2 --if-exists")]
pub struct DeleteArgs {
    /// Topics to delete
    #[arg(required = true)]
    pub names: Vec<String>,

    /// Succeed when a topic does not exist
    #[arg(long)]
    pub if_exists: bool,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Deleted {
    topic: String,
    /// False when the topic did not exist (with `--if-exists`).
    deleted: bool,
}

pub fn run(args: DeleteArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let admin = args.client.admin()?;
    let existing = cluster_view::topics(admin.inner(), &args.client, timeout)?;
    let missing: Vec<&str> =
        args.names.iter().map(String::as_str).filter(|n| !existing.contains_key(*n)).collect();
    if !missing.is_empty() && !args.if_exists {
        bail!(
            "no such topic: {}; add --if-exists to accept that, `fjord topic list` shows the topics there are",
            missing.join(", ")
        );
    }
    let present: Vec<&str> =
        args.names.iter().map(String::as_str).filter(|n| existing.contains_key(*n)).collect();
    let mut report: Vec<Deleted> =
        missing.iter().map(|n| Deleted { topic: (*n).to_owned(), deleted: false }).collect();
    let mut failures = Vec::new();
    if !present.is_empty() {
        let results = block_on(admin.delete_topics(&present, &admin_options(timeout)))??;
        for result in results {
            match result {
                Ok(name) => report.push(Deleted { topic: name, deleted: true }),
                Err((name, RDKafkaErrorCode::UnknownTopicOrPartition)) if args.if_exists => {
                    report.push(Deleted { topic: name, deleted: false })
                }
                Err((name, code)) => failures.push(format!("{name}: {code}")),
            }
        }
    }
    if args.output.json() {
        print_json(&report)?;
    } else {
        for d in &report {
            match d.deleted {
                true => println!("Deleted topic `{}`.", d.topic),
                false => println!("Topic `{}` does not exist; nothing to delete.", d.topic),
            }
        }
    }
    if !failures.is_empty() {
        bail!("could not delete {}", failures.join("; "));
    }
    Ok(())
}
