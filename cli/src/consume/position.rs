//! Where a group-less `fjord consume` starts in each partition (`--offset`, `--from-time`,
//! `--from-beginning`), and which partitions have anything to read before their current end.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::client::cluster_view;

/// `--offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartArg {
    /// The log start offset.
    Earliest,
    /// The log end offset: only records written from now on.
    Latest,
    /// This offset.
    At(i64),
    /// This many records before the end.
    Last(i64),
}

impl StartArg {
    /// `earliest`, `latest`, `N` or `-N`.
    pub fn parse(text: &str) -> Result<StartArg, String> {
        match text {
            "earliest" | "beginning" => Ok(StartArg::Earliest),
            "latest" | "end" => Ok(StartArg::Latest),
            _ => match text.parse::<i64>() {
                Ok(n) if n < 0 => Ok(StartArg::Last(n.checked_neg().unwrap_or(i64::MAX))),
                Ok(n) => Ok(StartArg::At(n)),
                Err(_) => Err(format!(
                    "`{text}` is not an offset; write earliest, latest, an offset, or -N for the last N records"
                )),
            },
        }
    }
}

/// A start position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From `--offset` (or `--from-beginning`, or the default).
    Arg(StartArg),
    /// The first record at or after this time (ms since the epoch).
    Time(i64),
}

/// The outcome of [`assign`].
#[derive(Debug)]
pub struct Plan {
    /// Partitions with records between their start position and their end offset as it was
    /// when assigned, with that end offset.
    pub pending: BTreeMap<i32, i64>,
}

/// Assigns `partitions` of `topic` to `consumer` at their start positions.
pub fn assign(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    start: Start,
    timeout: Duration,
) -> anyhow::Result<Plan> {
    let mut watermarks = BTreeMap::new();
    for &p in partitions {
        watermarks.insert(p, cluster_view::watermarks(consumer, topic, p, timeout)?);
    }
    let starts: BTreeMap<i32, i64> = match start {
        Start::Time(ms) => {
            let mut query = TopicPartitionList::new();
            for &p in partitions {
                query.add_partition_offset(topic, p, Offset::Offset(ms))?;
            }
            let found = consumer
                .offsets_for_times(query, timeout)
                .context("could not look up offsets by time")?;
            found
                .elements()
                .iter()
                .map(|e| {
                    let (_, end) = watermarks.get(&e.partition()).copied().unwrap_or((0, 0));
                    // No record at or after the time: start at the end.
                    let offset = match e.offset() {
                        Offset::Offset(o) => o,
                        _ => end,
                    };
                    (e.partition(), offset)
                })
                .collect()
        }
        Start::Arg(arg) => watermarks
            .iter()
            .map(|(&p, &(low, high))| {
                let offset = match arg {
                    StartArg::Earliest => low,
                    StartArg::Latest => high,
                    StartArg::At(o) => o.max(low).min(high),
                    StartArg::Last(n) => high.saturating_sub(n).max(low),
                };
                (p, offset)
            })
            .collect(),
    };
    let mut assignment = TopicPartitionList::new();
    for (&p, &offset) in &starts {
        assignment.add_partition_offset(topic, p, Offset::Offset(offset))?;
    }
    consumer
        .assign(&assignment)
        .with_context(|| format!("could not assign the partitions of `{topic}`"))?;
    let pending = starts
        .iter()
        .filter_map(|(p, &offset)| {
            let (_, end) = watermarks.get(p).copied()?;
            (offset < end).then_some((*p, end))
        })
        .collect();
    Ok(Plan { pending })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(StartArg::parse("earliest"), Ok(StartArg::Earliest));
        assert_eq!(StartArg::parse("latest"), Ok(StartArg::Latest));
        assert_eq!(StartArg::parse("42"), Ok(StartArg::At(42)));
        assert_eq!(StartArg::parse("-10"), Ok(StartArg::Last(10)));
        assert!(StartArg::parse("x").is_err());
    }
}
