//! `fjord topic`: create, list, describe, delete, alter and reassign topics on any
//! Kafka-compatible cluster, and elect their partitions' leaders. One file per subcommand; this one holds the command tree and the admin-call
//! plumbing they share.

mod alter;
mod create;
mod delete;
mod describe;
mod elect;
mod list;
mod reassign;

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
    /// Move partitions to other brokers, drain a broker, or cancel a move
    Reassign(reassign::ReassignArgs),
    /// List the partition moves in progress
    Reassignments(reassign::ListArgs),
    /// Move leadership back to preferred replicas (or, with --unclean, revive leaderless
    /// partitions)
    ElectLeaders(elect::ElectArgs),
}

/// Runs one `fjord topic` subcommand.
pub fn run(command: TopicCommand) -> anyhow::Result<()> {
    match command {
        TopicCommand::Create(args) => create::run(args),
        TopicCommand::List(args) => list::run(args),
        TopicCommand::Describe(args) => describe::run(args),
        TopicCommand::Delete(args) => delete::run(args),
        TopicCommand::Alter(args) => alter::run(args),
        TopicCommand::Reassign(args) => reassign::run(args),
        TopicCommand::Reassignments(args) => reassign::run_list(args),
        TopicCommand::ElectLeaders(args) => elect::run(args),
    }
}
