//! `fjord topic reassign` and `fjord topic reassignments`: move partitions to other brokers
//! (AlterPartitionReassignments), drain a broker before taking it away, cancel a move, and
//! list the moves in progress (ListPartitionReassignments) — what Kafka's
//! `kafka-reassign-partitions.sh` does, without a JSON plan file.
//!
//! A move adds the new replicas first; they copy the partition from its leader and join the
//! ISR, and only then are the replicas being replaced removed, so the partition keeps its
//! replication throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kafka_protocol::messages::alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use crate::client::cluster_view::{self, TopicView};
use crate::client::rpc::Connection;
use crate::client::{ClientArgs, TimeoutArgs, fetch_metadata};
use crate::output::{OutputArgs, TextTable, join_ids, print_json};

/// Options of `fjord topic reassign`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The new replicas copy each partition from its leader and join the in-sync replicas before the \
old ones are removed, so a move never lowers a partition's replication. The first broker of a \
replica list is the partition's preferred leader.

Examples:
  fjord topic reassign orders --partition 0 --replicas 2,3,4     # move one partition
  fjord topic reassign orders --replicas 1,2,3 --wait            # every partition of a topic
  fjord topic reassign --drain-broker 3 --wait                   # move everything off broker 3
  fjord topic reassign orders --cancel                           # back to the old replicas
  fjord topic reassignments                                      # moves in progress")]
#[command(group(clap::ArgGroup::new("what").required(true).args(["replicas", "drain_broker", "cancel"])))]
pub struct ReassignArgs {
    /// Topic to reassign (optional with --drain-broker: all topics)
    #[arg(required_unless_present = "drain_broker")]
    pub topic: Option<String>,

    /// Only this partition (repeatable; default: every partition of the topic)
    #[arg(long, short = 'p', value_name = "N")]
    pub partition: Vec<i32>,

    /// The new replicas, preferred leader first (e.g. 2,3,4)
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub replicas: Option<Vec<i32>>,

    /// Move every replica on this broker to the other live brokers (fewest replicas first)
    #[arg(long, value_name = "BROKER")]
    pub drain_broker: Option<i32>,

    /// Cancel the moves in progress, returning the partitions to their old replicas
    #[arg(long)]
    pub cancel: bool,

    /// Wait, with a progress bar, until every move has finished
    #[arg(long)]
    pub wait: bool,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options of `fjord topic reassignments`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  fjord topic reassignments
  fjord topic reassignments orders --output json")]
pub struct ListArgs {
    /// Only this topic's partitions
    pub topic: Option<String>,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub timeout: TimeoutArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One partition's move, as asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Move {
    topic: String,
    partition: i32,
    from: Vec<i32>,
    /// The target replicas; `null` for a cancellation.
    to: Option<Vec<i32>>,
}

/// One move in progress.
#[derive(Debug, Serialize)]
struct Ongoing {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
}

pub fn run(args: ReassignArgs) -> anyhow::Result<()> {
    let timeout = args.timeout.timeout;
    let admin = args.client.admin()?;
    let metadata = fetch_metadata(admin.inner(), &args.client, None, timeout)?;
    let live: BTreeSet<i32> = metadata.brokers().iter().map(rdkafka::metadata::MetadataBroker::id).collect();
    let topics = cluster_view::topics_of(&metadata);
    let mut connection = args.client.rpc_connection(timeout)?;

    let moves = if let Some(broker) = args.drain_broker {
        let scope: Vec<&TopicView> = match &args.topic {
            Some(name) => vec![topics.get(name).with_context(|| format!("topic `{name}` does not exist; `fjord topic list` shows the topics there are"))?],
            None => topics.values().collect(),
        };
        drain_plan(&scope, &topics, broker, &live)?
    } else {
        let name = args.topic.as_deref().context("name the topic to reassign")?;
        let topic = topics.get(name).with_context(|| format!("topic `{name}` does not exist; `fjord topic list` shows the topics there are"))?;
        let partitions: Vec<&cluster_view::PartitionView> = if args.partition.is_empty() {
            topic.partitions.iter().collect()
        } else {
            args.partition
                .iter()
                .map(|&p| topic.partitions.iter().find(|v| v.id == p).with_context(|| format!("`{name}` has no partition {p} (it has {})", topic.partitions.len())))
                .collect::<anyhow::Result<_>>()?
        };
        if args.cancel {
            let ongoing: BTreeSet<(String, i32)> = list(&mut connection, Some(name))?.into_iter().map(|o| (o.topic, o.partition)).collect();
            partitions
                .into_iter()
                .filter(|p| ongoing.contains(&(name.to_owned(), p.id)))
                .map(|p| Move { topic: name.to_owned(), partition: p.id, from: p.replicas.clone(), to: None })
                .collect()
        } else {
            let target = args.replicas.clone().context("give --replicas")?;
            if let Some(unknown) = target.iter().find(|b| !live.contains(b)) {
                bail!("broker {unknown} is not a live broker of this cluster (live: {}); `fjord cluster describe` lists them", join_ids(&live.iter().copied().collect::<Vec<_>>()));
            }
            partitions.into_iter().map(|p| Move { topic: name.to_owned(), partition: p.id, from: p.replicas.clone(), to: Some(target.clone()) }).collect()
        }
    };
    if moves.is_empty() {
        if args.output.json() {
            return print_json(&moves);
        }
        println!("Nothing to move.");
        return Ok(());
    }
    submit(&mut connection, &moves, timeout)?;
    if args.wait {
        let replicas_now = || {
            let topics = cluster_view::topics(admin.inner(), &args.client, timeout)?;
            Ok(topics.values().flat_map(|t| t.partitions.iter().map(|p| ((t.name.clone(), p.id), p.replicas.clone()))).collect())
        };
        wait_until_done(&mut connection, &moves, args.output.json(), replicas_now)?;
    }
    if args.output.json() {
        return print_json(&moves);
    }
    let mut table = TextTable::new(&[("TOPIC", false), ("PARTITION", true), ("FROM", false), ("TO", false)]);
    for m in &moves {
        table.row([m.topic.clone(), m.partition.to_string(), join_ids(&m.from), m.to.as_ref().map_or_else(|| "(cancelled)".to_owned(), |t| join_ids(t))]);
    }
    table.print()?;
    if !args.wait {
        println!("\nThe new replicas are catching up; `fjord topic reassignments` shows the moves still running.");
    }
    Ok(())
}

pub fn run_list(args: ListArgs) -> anyhow::Result<()> {
    let mut connection = args.client.rpc_connection(args.timeout.timeout)?;
    let ongoing = list(&mut connection, args.topic.as_deref())?;
    if args.output.json() {
        return print_json(&ongoing);
    }
    if ongoing.is_empty() {
        println!("No partition reassignments are in progress.");
        return Ok(());
    }
    let mut table = TextTable::new(&[("TOPIC", false), ("PARTITION", true), ("REPLICAS", false), ("ADDING", false), ("REMOVING", false)]);
    for o in &ongoing {
        table.row([o.topic.clone(), o.partition.to_string(), join_ids(&o.replicas), join_ids(&o.adding), join_ids(&o.removing)]);
    }
    table.print()
}

/// Replaces `broker` in every partition of `scope` that has it with the live broker holding
/// the fewest replicas (over all `topics`) that the partition does not already have.
fn drain_plan(scope: &[&TopicView], topics: &BTreeMap<String, TopicView>, broker: i32, live: &BTreeSet<i32>) -> anyhow::Result<Vec<Move>> {
    let mut load: BTreeMap<i32, usize> = live.iter().map(|&b| (b, 0)).collect();
    for p in topics.values().flat_map(|t| &t.partitions) {
        for r in &p.replicas {
            if let Some(n) = load.get_mut(r) {
                *n += 1;
            }
        }
    }
    let mut moves = Vec::new();
    for topic in scope {
        for p in topic.partitions.iter().filter(|p| p.replicas.contains(&broker)) {
            let Some((&to, _)) = load.iter().filter(|(b, _)| **b != broker && !p.replicas.contains(b)).min_by_key(|(b, n)| (**n, **b)) else {
                bail!(
                    "cannot drain broker {broker}: partition {}-{} has replicas {} and no other live broker can take its place; add a broker or lower the topic's replication",
                    topic.name,
                    p.id,
                    join_ids(&p.replicas)
                );
            };
            *load.entry(to).or_default() += 1;
            let target = p.replicas.iter().map(|&r| if r == broker { to } else { r }).collect();
            moves.push(Move { topic: topic.name.clone(), partition: p.id, from: p.replicas.clone(), to: Some(target) });
        }
    }
    Ok(moves)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn submit(connection: &mut Connection, moves: &[Move], timeout: Duration) -> anyhow::Result<()> {
    let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for m in moves {
        let replicas = m.to.as_ref().map(|t| t.iter().copied().map(BrokerId).collect());
        by_topic.entry(&m.topic).or_default().push(ReassignablePartition::default().with_partition_index(m.partition).with_replicas(replicas));
    }
    let topics = by_topic.into_iter().map(|(name, partitions)| ReassignableTopic::default().with_name(topic_name(name)).with_partitions(partitions)).collect();
    let request = AlterPartitionReassignmentsRequest::default().with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)).with_topics(topics);
    let response = connection.call(&request)?;
    if response.error_code != 0 {
        bail!("{} refused the reassignment: {} (Kafka error code {})", connection.address(), response.error_message.as_ref().map_or("no message", |m| m.as_str()), response.error_code);
    }
    let failures: Vec<String> = response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().filter(|p| p.error_code != 0).map(move |p| format!("{}-{}: {} (Kafka error code {})", t.name.as_str(), p.partition_index, p.error_message.as_ref().map_or("refused", |m| m.as_str()), p.error_code)))
        .collect();
    if !failures.is_empty() {
        bail!("{} of {} partition moves were refused:\n  {}", failures.len(), moves.len(), failures.join("\n  "));
    }
    Ok(())
}

fn list(connection: &mut Connection, topic: Option<&str>) -> anyhow::Result<Vec<Ongoing>> {
    // All partitions, filtered here: naming a topic needs its partition numbers.
    let request = ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000).with_topics(None::<Vec<ListPartitionReassignmentsTopics>>);
    let response = connection.call(&request)?;
    if response.error_code != 0 {
        bail!("{} refused to list reassignments: {} (Kafka error code {})", connection.address(), response.error_message.as_ref().map_or("no message", |m| m.as_str()), response.error_code);
    }
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
    Ok(response
        .topics
        .iter()
        .filter(|t| topic.is_none_or(|name| t.name.as_str() == name))
        .flat_map(|t| {
            t.partitions.iter().map(move |p| Ongoing {
                topic: t.name.to_string(),
                partition: p.partition_index,
                replicas: ids(&p.replicas),
                adding: ids(&p.adding_replicas),
                removing: ids(&p.removing_replicas),
            })
        })
        .collect())
}

/// Polls until every one of `moves` is finished: no longer in progress, and the partition's
/// replicas (as `replicas_now` reads them from metadata) the target — or, for a cancellation,
/// the replicas it had. Both, because the broker answering may learn of a move a moment after
/// the controller accepted it.
fn wait_until_done(
    connection: &mut Connection,
    moves: &[Move],
    quiet: bool,
    mut replicas_now: impl FnMut() -> anyhow::Result<BTreeMap<(String, i32), Vec<i32>>>,
) -> anyhow::Result<()> {
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(moves.len() as u64) };
    bar.set_style(ProgressStyle::with_template("{spinner} {pos}/{len} partitions moved [{elapsed}] {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let started = Instant::now();
    loop {
        let running: BTreeSet<(String, i32)> = list(connection, None)?.into_iter().map(|o| (o.topic, o.partition)).collect();
        let replicas = replicas_now()?;
        let done = moves
            .iter()
            .filter(|m| {
                let key = (m.topic.clone(), m.partition);
                !running.contains(&key) && replicas.get(&key) == Some(m.to.as_ref().unwrap_or(&m.from))
            })
            .count();
        bar.set_position(done as u64);
        if done == moves.len() {
            bar.finish_and_clear();
            if !quiet {
                println!("All {} partition moves finished in {}.", moves.len(), humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())));
            }
            return Ok(());
        }
        bar.set_message("waiting for the new replicas to catch up (Ctrl-C stops waiting; the moves go on)");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::cluster_view::PartitionView;

    fn topic(name: &str, replicas: &[&[i32]]) -> TopicView {
        let partitions = replicas.iter().enumerate().map(|(i, r)| PartitionView { id: i as i32, leader: r[0], replicas: r.to_vec(), isr: r.to_vec(), error: None }).collect();
        TopicView { name: name.into(), partitions }
    }

    #[test]
    fn draining_spreads_the_replicas_over_the_least_loaded_brokers() {
        let t = topic("t", &[&[1, 2, 3], &[2, 3, 4], &[3, 4, 1], &[4, 1, 2]]);
        let topics = BTreeMap::from([("t".to_string(), t.clone())]);
        let live = BTreeSet::from([1, 2, 3, 4, 5]);
        let moves = drain_plan(&[&t], &topics, 3, &live).unwrap();
        let targets: Vec<Vec<i32>> = moves.iter().map(|m| m.to.clone().unwrap()).collect();
        // Broker 5 holds nothing, so it takes the first; then the load evens out.
        assert_eq!(targets[0], vec![1, 2, 5]);
        assert!(targets.iter().all(|t| !t.contains(&3) && t.len() == 3));
        assert_eq!(moves.iter().map(|m| m.partition).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn draining_with_no_broker_to_spare_is_an_error() {
        let t = topic("t", &[&[1, 2, 3]]);
        let topics = BTreeMap::from([("t".to_string(), t.clone())]);
        let error = drain_plan(&[&t], &topics, 3, &BTreeSet::from([1, 2, 3])).unwrap_err().to_string();
        assert!(error.contains("no other live broker"), "{error}");
    }
}
