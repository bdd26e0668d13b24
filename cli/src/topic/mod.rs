//! `fjord topic`: create, list, describe, delete and alter topics on any Kafka-compatible
//! cluster. One file per subcommand; this one holds the command tree and the admin-call
//! plumbing they share.

mod alter;
mod create;
mod delete;
mod describe;
mod list;

/// `fjord topic …`.
#[derive(Debug, clap::Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    Create(create::CreateArgs),
    /// List topics with their partition counts
    List(list::ListArgs),
    /// Show a topic's partitions (leader, replicas, ISR, start/end offsets) and configs
    Describe(describe::DescribeArgs),
    /// Delete topics and all their records
    Delete(delete::DeleteArgs),
    /// Add partitions to a topic or change its configs
    Alter(alter::AlterArgs),
}

/// Runs one `fjord topic` subcommand.
pub fn run(command: TopicCommand) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create(args) => create::run(args),
        TopicCommand::List(args) => list::run(args),
        TopicCommand::Describe(args) => describe::run(args),
        TopicCommand::Delete(args) => delete::run(args),
        TopicCommand::Alter(args) => alter::run(args),
    }
}
