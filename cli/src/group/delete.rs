//! `fjord group delete`.

use anyhow::bail;
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use crate::client::{ClientArgs, TimeoutArgs, admin_options, block_on};
use crate::output::{OutputArgs, print_json};

/// Options of `fjord group delete`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Deletes the groups and their committed offsets. A group with active members cannot be \
deleted: stop its consumers first (`fjord group describe G` shows them).

Examples:
  fjord group delete billing
  fjord group delete old-a old-b")]
pub struct DeleteArgs {
    /// Groups to delete
    #[arg(required = true)]
    pub groups: Vec<String>,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Deleted {
    group: String,
}

pub fn run(args: DeleteArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let admin = args.client.admin()?;
    crate::client::fetch_metadata(admin.inner(), &args.client, None, timeout)?;
    let names: Vec<&str> = args.groups.iter().map(String::as_str).collect();
    let results = block_on(admin.delete_groups(&names, &admin_options(timeout)))??;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(group) => deleted.push(Deleted { group }),
            Err((group, RDKafkaErrorCode::NonEmptyGroup)) => failures.push(format!(
                "`{group}` has active members; stop its consumers first (`fjord group describe {group}` lists them)"
            )),
            Err((group, RDKafkaErrorCode::GroupIdNotFound)) => {
                failures.push(format!("`{group}` does not exist; `fjord group list` shows the groups there are"))
            }
            Err((group, code)) => failures.push(format!("`{group}`: {code}")),
        }
    }
    if args.output.json() {
        print_json(&deleted)?;
    } else {
        for d in &deleted {
            println!("Deleted group `{}`.", d.group);
        }
    }
    if !failures.is_empty() {
        bail!("could not delete {}", failures.join("; "));
    }
    Ok(())
}
