//! `fjord transform`: deploy WebAssembly transforms to a Fjord cluster, list, describe
//! (state, and per input partition the committed offset, end offset and lag), delete them,
//! and read their logs. Deployments go through Fjord's admin request on the Kafka listener
//! (any broker takes it); offsets and logs are read as an ordinary Kafka client.

mod delete;
mod deploy;
mod describe;
mod list;
mod logs;

use std::time::Duration;

use anyhow::{Context, bail};
use fjord_log_core::transform::{TRANSFORM_ADMIN_VERSION, TransformRequest, TransformResponse};

use crate::client::ClientArgs;

/// `fjord transform …`.
#[derive(Debug, clap::Subcommand)]
pub enum TransformCommand {
    /// Deploy a WebAssembly transform: it runs next to each input partition's leader
    Deploy(deploy::DeployArgs),
    /// List the deployed transforms
    List(list::ListArgs),
    /// Show a transform's state and, per input partition, its committed offset and lag
    Describe(describe::DescribeArgs),
    /// Remove a transform (its runners stop; its committed offsets stay in its group)
    Delete(delete::DeleteArgs),
    /// Print a transform's log: starts, failed records, dead letters, stops
    Logs(logs::LogsArgs),
}

/// Runs one `fjord transform` subcommand.
pub fn run(command: TransformCommand) -> anyhow::Result<()> {
    match command {
        TransformCommand::Deploy(args) => deploy::run(args),
        TransformCommand::List(args) => list::run(args),
        TransformCommand::Describe(args) => describe::run(args),
        TransformCommand::Delete(args) => delete::run(args),
        TransformCommand::Logs(args) => logs::run(args),
    }
}

/// Sends one transform admin request; a refusal becomes an error with the broker's message.
fn call(client: &ClientArgs, timeout: Duration, request: &TransformRequest) -> anyhow::Result<TransformResponse> {
    let mut connection = client.rpc_connection(timeout)?;
    let body = serde_json::to_vec(request).context("could not encode the request")?;
    let answer = connection.call_fjord_admin(TRANSFORM_ADMIN_VERSION, &body)?;
    let response: TransformResponse = serde_json::from_slice(&answer)
        .with_context(|| format!("{} sent an answer that is not a transform admin response", connection.address()))?;
    if let TransformResponse::Error { error_code, message } = &response {
        let name = kafka_protocol::ResponseError::try_from_code(*error_code).map_or_else(|| format!("error code {error_code}"), |e| format!("{e:?}"));
        bail!("{message} ({name})");
    }
    Ok(response)
}
