//! `fjord transform list`.

use anyhow::bail;
use fjord_log_core::transform::{TransformRequest, TransformResponse};

use crate::client::{ClientArgs, TimeoutArgs};
use crate::output::{OutputArgs, TextTable, print_json};

/// List the deployed transforms.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub client: ClientArgs,

    #[command(flatten)]
    pub timeout: TimeoutArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Prints every deployment.
pub fn run(args: ListArgs) -> anyhow::Result<()> {
    let TransformResponse::Transforms { transforms } = super::call(&args.client, args.timeout.timeout, &TransformRequest::List)? else {
        bail!("the broker answered the list with something else");
    };
    if args.output.json() {
        return print_json(&transforms);
    }
    if transforms.is_empty() {
        eprintln!("No transforms deployed. Deploy one with `fjord transform deploy NAME --wasm FILE --input TOPIC --output TOPIC`.");
        return Ok(());
    }
    let mut table = TextTable::new(&[("NAME", false), ("INPUT", false), ("OUTPUTS", false), ("STATE", false), ("ON ERROR", false)]);
    for t in &transforms {
        let on_error = match &t.dead_letter_topic {
            Some(topic) => format!("{} ({topic})", t.on_error),
            None => t.on_error.clone(),
        };
        table.row([t.name.clone(), t.input.clone(), t.outputs.join(","), t.state.clone(), on_error]);
    }
    table.print()
}
