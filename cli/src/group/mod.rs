//! `fjord group`: list, describe (members, assignments, committed offsets, lag), reset
//! offsets and delete consumer groups on any Kafka-compatible cluster. One file per
//! subcommand; this one holds the command tree and what they share: reading a group's
//! description (with member assignments decoded) and its committed offsets.

mod delete;
mod describe;
mod list;
mod reset;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use bytes::Buf;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::client::ClientArgs;
use crate::client::cluster_view::TopicView;

/// `fjord group …`.
#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state and member count
    List(list::ListArgs),
    /// Show a group's members, assignments, committed offsets and lag
    Describe(describe::DescribeArgs),
    /// Move a group's committed offsets (the group must have no active members)
    ResetOffsets(reset::ResetArgs),
    /// Delete groups and their committed offsets (they must have no active members)
    Delete(delete::DeleteArgs),
}

/// Runs one `fjord group` subcommand.
pub fn run(command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::List(args) => list::run(args),
        GroupCommand::Describe(args) => describe::run(args),
        GroupCommand::ResetOffsets(args) => reset::run(args),
        GroupCommand::Delete(args) => delete::run(args),
    }
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, Serialize)]
struct GroupDescription {
    group: String,
    /// Empty, PreparingRebalance, CompletingRebalance, Stable or Dead.
    state: String,
    protocol_type: String,
    /// The partition assignor the members agreed on (e.g. `range`).
    protocol: String,
    members: Vec<MemberDescription>,
}

#[derive(Debug, Clone, Serialize)]
struct MemberDescription {
    member_id: String,
    client_id: String,
    host: String,
    assignments: Vec<TopicPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
struct TopicPartition {
    topic: String,
    partition: i32,
}

impl GroupDescription {
    fn from_info(info: &GroupInfo) -> Self {
        GroupDescription {
            group: info.name().to_owned(),
            state: info.state().to_owned(),
            protocol_type: info.protocol_type().to_owned(),
            protocol: info.protocol().to_owned(),
            members: info
                .members()
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id().to_owned(),
                    client_id: m.client_id().to_owned(),
                    host: m.client_host().to_owned(),
                    assignments: m
                        .assignment()
                        .filter(|_| info.protocol_type() == "consumer")
                        .map(decode_assignment)
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// True when consumers are in the group: its offsets belong to them, not to the tools.
    fn has_active_members(&self) -> bool {
        !self.members.is_empty()
    }

    /// The member a partition is assigned to.
    fn owner(&self, topic: &str, partition: i32) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.assignments.iter().any(|a| a.topic == topic && a.partition == partition))
            .map(|m| m.member_id.as_str())
    }
}

/// The partitions in a Java-consumer-protocol assignment (empty when the bytes are not one).
fn decode_assignment(bytes: &[u8]) -> Vec<TopicPartition> {
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16().clamp(0, 3);
    let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut buf, version) else {
        return Vec::new();
    };
    let mut partitions: Vec<TopicPartition> = assignment
        .assigned_partitions
        .iter()
        .flat_map(|tp| {
            tp.partitions.iter().map(|&partition| TopicPartition { topic: tp.topic.to_string(), partition })
        })
        .collect();
    partitions.sort();
    partitions
}

/// Describes `group`; `None` when the cluster does not know it (or it is Dead).
fn describe_group(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    group: &str,
    timeout: Duration,
) -> anyhow::Result<Option<GroupDescription>> {
    let list = consumer
        .fetch_group_list(Some(group), timeout)
        .with_context(|| format!("could not describe group `{group}`; {}", args.reach_hint()))?;
    Ok(list
        .groups()
        .iter()
        .find(|g| g.name() == group && g.state() != "Dead")
        .map(GroupDescription::from_info))
}

/// The group's committed offsets on the partitions of `topics`, by (topic, partition).
/// `consumer` must have been created with `group.id` = the group.
pub(crate) fn committed_offsets(
    consumer: &BaseConsumer,
    topics: &[&TopicView],
    timeout: Duration,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let mut query = TopicPartitionList::new();
    for topic in topics {
        for p in &topic.partitions {
            query.add_partition(&topic.name, p.id);
        }
    }
    if query.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let committed = consumer
        .committed_offsets(query, timeout)
        .context("could not fetch the group's committed offsets")?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_decode_from_the_consumer_protocol() {
        // version 0, one topic "t" with partitions 2 and 0, null user data
        let bytes = [0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        let decoded = decode_assignment(&bytes);
        assert_eq!(
            decoded,
            vec![
                TopicPartition { topic: "t".into(), partition: 0 },
                TopicPartition { topic: "t".into(), partition: 2 },
            ]
        );
        assert!(decode_assignment(&[0xff]).is_empty());
        assert!(decode_assignment(&[0, 0, 0x7f, 0xff, 0xff, 0xff]).is_empty());
    }
}
