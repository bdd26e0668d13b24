//! `fjord group reset-offsets`: move an inactive group's committed offsets to the earliest or
//! latest offset, a given offset, the first offset at a time, or by a relative amount.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::{committed_offsets, describe_group};
use crate::client::time_arg::parse_time_ms;
use crate::client::{ClientArgs, TimeoutArgs, cluster_view};
use crate::output::{OutputArgs, TextTable, offset_cell, print_json};
use crate::summary::plural;

/// Options of `fjord group reset-offsets`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])))]
#[command(after_help = "\
The group must have no active members: its consumers would overwrite the new offsets. Stop \
them, reset, start them again. New offsets are kept within each partition's start and end \
offsets.

Examples:
  fjord group reset-offsets billing --topic orders --to-earliest --dry-run
  fjord group reset-offsets billing --topic orders --to-earliest
  fjord group reset-offsets billing --topic orders:0,1 --to-offset 1000
  fjord group reset-offsets billing --all-topics --to-datetime 2026-11-29T08:00:00Z
  fjord group reset-offsets billing --topic orders --shift-by -100   # re-read the last 100")]
pub struct ResetArgs {
    /// Group whose offsets to move
    pub group: String,

    /// A topic, or TOPIC:P1,P2 for some of its partitions (repeatable)
    #[arg(long = "topic", short = 't', value_name = "TOPIC[:PARTITIONS]", value_parser = parse_topic_scope)]
    pub topics: Vec<(String, Option<Vec<i32>>)>,

    /// Every topic the group has committed offsets on
    #[arg(long)]
    pub all_topics: bool,

    /// To each partition's log start offset
    #[arg(long)]
    pub to_earliest: bool,

    /// To each partition's log end offset (skip everything there is now)
    #[arg(long)]
    pub to_latest: bool,

    /// To this offset
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,

    /// To the first record at or after this time (RFC 3339, epoch ms, or a duration ago such as 1h)
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms)]
    pub to_datetime: Option<i64>,

    /// By this many offsets from the committed one (negative to re-read)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,

    /// Show the new offsets without committing them
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Serialize)]
struct Reset {
    group: String,
    dry_run: bool,
    offsets: Vec<Moved>,
}

#[derive(Debug, Serialize)]
struct Moved {
    topic: String,
    partition: i32,
    previous_offset: Option<i64>,
    new_offset: i64,
}

pub fn run(args: ResetArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let group = args.group.as_str();
    let consumer = cluster_view::offsets_client(&args.client, Some(group))?;
    let topics = cluster_view::topics(consumer.client(), &args.client, timeout)?;
    if let Some(description) = describe_group(&consumer, &args.client, group, timeout)?
        && description.has_active_members()
    {
        bail!(
            "group `{group}` has {} (state {}); stop its consumers first, then reset",
            plural(description.members.len(), "active member"),
            description.state
        );
    }

    let candidates: Vec<_> = topics.values().filter(|t| !t.internal()).collect();
    let committed = committed_offsets(&consumer, &candidates, timeout)?;
    let mut partitions: Vec<(String, i32)> = Vec::new();
    if args.all_topics {
        partitions.extend(committed.keys().cloned());
        if partitions.is_empty() {
            bail!("group `{group}` has no committed offsets; name the topics with --topic");
        }
    }
    for (name, chosen) in &args.topics {
        let Some(topic) = topics.get(name) else {
            bail!("topic `{name}` does not exist; `fjord topic list` shows the topics there are");
        };
        match chosen {
            None => partitions.extend(topic.partitions.iter().map(|p| (name.clone(), p.id))),
            Some(chosen) => {
                for p in chosen {
                    if !topic.partitions.iter().any(|tp| tp.id == *p) {
                        bail!("`{name}` has no partition {p}; it has {}", plural(topic.partitions.len(), "partition"));
                    }
                    partitions.push((name.clone(), *p));
                }
            }
        }
    }
    partitions.sort();
    partitions.dedup();

    let by_time = match args.to_datetime {
        Some(ms) => Some(offsets_at(&consumer, &partitions, ms, timeout)?),
        None => None,
    };
    let mut moves = Vec::with_capacity(partitions.len());
    let mut commit = TopicPartitionList::new();
    for (topic, partition) in partitions {
        let (low, high) = cluster_view::watermarks(&consumer, &topic, partition, timeout)?;
        let previous = committed.get(&(topic.clone(), partition)).copied();
        let wanted = if args.to_earliest {
            low
        } else if args.to_latest {
            high
        } else if let Some(offset) = args.to_offset {
            offset
        } else if let Some(shift) = args.shift_by {
            let Some(previous) = previous else {
                bail!(
                    "group `{group}` has no committed offset on {topic}-{partition} to shift from; \
                     reset that partition with --to-earliest, --to-latest, --to-offset or --to-datetime"
                );
            };
            previous.saturating_add(shift)
        } else {
            by_time.as_ref().and_then(|t| t.get(&(topic.clone(), partition)).copied()).unwrap_or(high)
        };
        let new_offset = wanted.max(low).min(high);
        commit.add_partition_offset(&topic, partition, Offset::Offset(new_offset))?;
        moves.push(Moved { topic, partition, previous_offset: previous, new_offset });
    }

    if !args.dry_run {
        consumer
            .commit(&commit, CommitMode::Sync)
            .with_context(|| {
                format!("could not commit the new offsets of `{group}`; some partitions may have moved, check with `fjord group describe {group}`")
            })?;
    }
    let reset = Reset { group: group.to_owned(), dry_run: args.dry_run, offsets: moves };
    if args.output.json() {
        return print_json(&reset);
    }
    let mut table = TextTable::new(&[("TOPIC", false), ("PARTITION", true), ("PREVIOUS", true), ("NEW", true)]);
    for m in &reset.offsets {
        table.row([m.topic.clone(), m.partition.to_string(), offset_cell(m.previous_offset), m.new_offset.to_string()]);
    }
    table.print()?;
    if args.dry_run {
        eprintln!("Dry run: nothing was committed. Run again without --dry-run to apply.");
    } else {
        eprintln!("Committed new offsets for {} of `{group}`.", plural(reset.offsets.len(), "partition"));
    }
    Ok(())
}

/// The first offset at or after `ms` per partition (absent when there is none).
fn offsets_at(
    consumer: &rdkafka::consumer::BaseConsumer,
    partitions: &[(String, i32)],
    ms: i64,
    timeout: std::time::Duration,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let mut query = TopicPartitionList::new();
    for (topic, partition) in partitions {
        query.add_partition_offset(topic, *partition, Offset::Offset(ms))?;
    }
    let found = consumer.offsets_for_times(query, timeout).context("could not look up offsets by time")?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

/// `orders` or `orders:0,2,5`.
fn parse_topic_scope(text: &str) -> Result<(String, Option<Vec<i32>>), String> {
    match text.split_once(':') {
        None if !text.is_empty() => Ok((text.to_owned(), None)),
        Some((topic, list)) if !topic.is_empty() => {
            let partitions = list
                .split(',')
                .map(|p| p.trim().parse::<i32>().map_err(|_| format!("`{p}` in `{text}` is not a partition number")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((topic.to_owned(), Some(partitions)))
        }
        _ => Err(format!("`{text}` is not TOPIC or TOPIC:P1,P2")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_scopes_parse() {
        assert_eq!(parse_topic_scope("orders"), Ok(("orders".into(), None)));
        assert_eq!(parse_topic_scope("orders:0,2"), Ok(("orders".into(), Some(vec![0, 2]))));
        assert!(parse_topic_scope("orders:x").is_err());
        assert!(parse_topic_scope(":1").is_err());
    }
}
