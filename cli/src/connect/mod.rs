//! `fjord connect`: run Kafka Connect-style connectors (files, PostgreSQL) against any
//! Kafka-compatible cluster, and manage them through a worker's REST API. `standalone` runs a
//! worker in this process (connectors from config files, source offsets in a local file,
//! the REST API beside them); `worker` runs one of a group of workers sharing connectors
//! through topics; the other subcommands talk to a worker's REST API — Fjord's or
//! Kafka Connect's, which is the same API.

mod commands;
pub mod embedded;
mod rest_client;
mod serve;
mod standalone;
mod worker;

/// `fjord connect …`.
#[derive(Debug, clap::Subcommand)]
pub enum ConnectCommand {
    /// Run a worker in this process: connectors from config files (offsets in a local file), a REST API
    Standalone(standalone::StandaloneArgs),
    /// Run a worker in a group: workers with the same --group-id share connectors and divide their tasks
    Worker(worker::GroupWorkerArgs),
    /// List the connector types this build has, with their settings
    Plugins(standalone::PluginsArgs),
    /// List a worker's connectors with their state
    List(commands::ListArgs),
    /// Show a connector's state and each task's (restarts, last error)
    Status(commands::NameArgs),
    /// Create a connector from a config file (JSON, YAML, TOML or .properties)
    Create(commands::CreateArgs),
    /// Delete a connector (its stored offsets stay)
    Delete(commands::NameArgs),
    /// Pause a connector's tasks
    Pause(commands::NameArgs),
    /// Resume a paused or stopped connector
    Resume(commands::NameArgs),
    /// Stop a connector's tasks, keeping its config (offsets can then be changed)
    Stop(commands::NameArgs),
    /// Restart a connector (and its tasks with --include-tasks)
    Restart(commands::RestartArgs),
}

/// Runs one `fjord connect` subcommand.
pub fn run(command: ConnectCommand) -> anyhow::Result<()> {
    match command {
        ConnectCommand::Standalone(args) => standalone::run(args),
        ConnectCommand::Worker(args) => worker::run(args),
        ConnectCommand::Plugins(args) => standalone::plugins(args),
        ConnectCommand::List(args) => commands::list(args),
        ConnectCommand::Status(args) => commands::status(args),
        ConnectCommand::Create(args) => commands::create(args),
        ConnectCommand::Delete(args) => commands::delete(args),
        ConnectCommand::Pause(args) => commands::pause(args),
        ConnectCommand::Resume(args) => commands::resume(args),
        ConnectCommand::Stop(args) => commands::stop(args),
        ConnectCommand::Restart(args) => commands::restart(args),
    }
}
