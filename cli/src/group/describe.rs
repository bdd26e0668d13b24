//! `fjord group describe`: state, members with their assigned partitions, and per partition
//! the committed offset, the end offset and the lag between them.

use std::collections::BTreeSet;

use anyhow::bail;
use rdkafka::consumer::Consumer;
use serde::Serialize;

use super::{GroupDescription, MemberDescription, committed_offsets, describe_group};
use crate::client::{ClientArgs, TimeoutArgs, cluster_view};
use crate::output::{OutputArgs, TextTable, offset_cell, print_json};

/// Options of `fjord group describe`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
LAG is END (the partition's log end offset) minus COMMITTED (where the group resumes): the \
records the group has yet to process. A partition appears when the group has committed an \
offset on it or a member is assigned it.

Examples:
  fjord group describe billing
  fjord group describe billing --output json | jq '[.offsets[].lag] | add'")]
pub struct DescribeArgs {
    /// Group to describe
    pub group: String,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Described {
    group: String,
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<MemberDescription>,
    offsets: Vec<PartitionOffsets>,
}

#[derive(Debug, Serialize)]
struct PartitionOffsets {
    topic: String,
    partition: i32,
    /// Where the group resumes; null when it has committed nothing here.
    committed_offset: Option<i64>,
    end_offset: i64,
    /// `end_offset - committed_offset`; null without a committed offset.
    lag: Option<i64>,
    /// The member assigned this partition, if any.
    member_id: Option<String>,
}

pub fn run(args: DescribeArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let group = args.group.as_str();
    let consumer = cluster_view::offsets_client(&args.client, Some(group))?;
    let topics = cluster_view::topics(consumer.client(), &args.client, timeout)?;
    let description = describe_group(&consumer, &args.client, group, timeout)?;
    let candidates: Vec<_> = topics.values().filter(|t| !t.internal()).collect();
    let committed = committed_offsets(&consumer, &candidates, timeout)?;

    let description = match description {
        Some(d) => d,
        None if committed.is_empty() => bail!(
            "group `{group}` does not exist (no members, no committed offsets); `fjord group list` shows the groups there are"
        ),
        // Offsets committed outside group management, with no group state: still worth showing.
        None => GroupDescription {
            group: group.to_owned(),
            state: "Empty".to_owned(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        },
    };

    let mut partitions: BTreeSet<(String, i32)> = committed.keys().cloned().collect();
    for member in &description.members {
        partitions.extend(member.assignments.iter().map(|a| (a.topic.clone(), a.partition)));
    }
    let mut offsets = Vec::with_capacity(partitions.len());
    for (topic, partition) in partitions {
        let (_, end_offset) = cluster_view::watermarks(&consumer, &topic, partition, timeout)?;
        let committed_offset = committed.get(&(topic.clone(), partition)).copied();
        offsets.push(PartitionOffsets {
            member_id: description.owner(&topic, partition).map(str::to_owned),
            lag: committed_offset.map(|c| (end_offset - c).max(0)),
            topic,
            partition,
            committed_offset,
            end_offset,
        });
    }

    let described = Described {
        group: description.group,
        state: description.state,
        protocol_type: description.protocol_type,
        protocol: description.protocol,
        members: description.members,
        offsets,
    };
    if args.output.json() {
        return print_json(&described);
    }
    print_human(&described)
}

fn print_human(d: &Described) -> anyhow::Result<()> {
    let total_lag: i64 = d.offsets.iter().filter_map(|o| o.lag).sum();
    println!("Group:     {}", d.group);
    println!("State:     {}", d.state);
    if !d.protocol_type.is_empty() {
        println!("Protocol:  {} ({})", d.protocol_type, if d.protocol.is_empty() { "-" } else { &d.protocol });
    }
    println!("Members:   {}", d.members.len());
    println!("Total lag: {total_lag}");
    if !d.members.is_empty() {
        println!();
        let mut members = TextTable::new(&[("MEMBER", false), ("CLIENT", false), ("HOST", false), ("PARTITIONS", false)]);
        for m in &d.members {
            let assigned = m
                .assignments
                .iter()
                .map(|a| format!("{}-{}", a.topic, a.partition))
                .collect::<Vec<_>>()
                .join(",");
            members.row([m.member_id.clone(), m.client_id.clone(), m.host.clone(), assigned]);
        }
        members.print()?;
    }
    if !d.offsets.is_empty() {
        println!();
        let mut table = TextTable::new(&[
            ("TOPIC", false),
            ("PARTITION", true),
            ("COMMITTED", true),
            ("END", true),
            ("LAG", true),
            ("MEMBER", false),
        ]);
        for o in &d.offsets {
            table.row([
                o.topic.clone(),
                o.partition.to_string(),
                offset_cell(o.committed_offset),
                o.end_offset.to_string(),
                offset_cell(o.lag),
                o.member_id.clone().unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        table.print()?;
    }
    Ok(())
}
