//! `fjord consume`: print a topic's records, alone (chosen partitions and start positions) or
//! as a member of a consumer group (which commits what was printed).
//!
//! When it stops: after `--max-messages` records; else, without `--follow`, at the end
//! offsets the partitions had when it started; with `--follow`, never (Ctrl-C). `--timeout`
//! bounds the whole run and makes running out of time an error.

mod position;
mod render;
mod sink;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;

use crate::client::time_arg::parse_time_ms;
use crate::client::{ClientArgs, cluster_view, parse_duration};
use crate::interrupt;
use crate::summary::plural;
use position::{Start, StartArg};
use render::Template;
use sink::Sink;

/// `--output` of `fjord consume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsumeOutput {
    /// The value of each record (or the --format template), one per line
    Text,
    /// One JSON object per record per line: topic, partition, offset, timestamp, key, value, headers
    Json,
}

/// Options of `fjord consume`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Where it starts: without --group, at the end of each partition (only new records) unless \
--from-beginning, --offset or --from-time says otherwise. With --group, at the group's \
committed offsets; partitions without one start at the end, or at the beginning with \
--from-beginning. A group commits the offsets of the records printed.

When it stops: after --max-messages records; otherwise at the end offsets the partitions had \
when it started (with --group: once every partition assigned to it has been read to its end), \
or never with --follow. Ctrl-C stops it cleanly: what was printed is committed, the group is \
left. --timeout limits the whole run: running out of time is an error (exit status 1).

--format placeholders: {topic} {partition} {offset} {timestamp} {key} {value} {headers}; \
\\n and \\t are newline and tab, {{ and }} literal braces.

Examples:
  fjord consume orders --from-beginning
  fjord consume orders --follow
  fjord consume orders --group billing --from-beginning --max-messages 100
  fjord consume orders --from-beginning --format '{partition}/{offset} {key}: {value}'
  fjord consume orders --from-time 2026-11-29T08:00:00Z --output json | jq .value
  fjord consume orders --partition 0 --offset -10          # the last 10 offsets of partition 0")]
pub struct ConsumeArgs {
    /// Topic to read
    pub topic: String,

    /// Consume as a member of this consumer group, committing what was printed
    #[arg(long, short = 'g', value_name = "GROUP")]
    pub group: Option<String>,

    /// Start at the earliest offset (with --group: where the group has no committed offset)
    #[arg(long, conflicts_with_all = ["offset", "from_time"])]
    pub from_beginning: bool,

    /// Start offset: earliest, latest, an offset, or -N for N offsets before each partition's end
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true, value_parser = StartArg::parse, conflicts_with_all = ["group", "from_time"])]
    pub offset: Option<StartArg>,

    /// Start at the first record at or after this time (RFC 3339, epoch ms, or a duration ago such as 1h)
    #[arg(long, value_name = "TIME", value_parser = parse_time_ms, conflicts_with = "group")]
    pub from_time: Option<i64>,

    /// Read only these partitions (repeatable) [default: all]
    #[arg(long, short = 'p', value_name = "N", conflicts_with = "group")]
    pub partition: Vec<i32>,

    /// Stop after this many records
    #[arg(long, short = 'n', value_name = "N")]
    pub max_messages: Option<u64>,

    /// Keep waiting for new records instead of stopping at the end
    #[arg(long, short = 'F', conflicts_with = "max_messages")]
    pub follow: bool,

    /// Give up (exit status 1) when this much time has passed
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Print each record through this template (see below)
    #[arg(long, value_name = "TEMPLATE", value_parser = Template::parse, conflicts_with = "output")]
    pub format: Option<Template>,

    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = ConsumeOutput::Text)]
    pub output: ConsumeOutput,

    #[command(flatten)]
    pub client: ClientArgs,
}

/// What the consumer is doing about stopping at the end.
#[derive(Debug)]
enum EndWatch {
    /// Never stop at the end (`--follow`, `--max-messages`).
    Off,
    /// Stop when every listed partition reached its end offset (its value here).
    Offsets(BTreeMap<i32, i64>),
    /// Group member: stop when every assigned partition has reported reaching its end.
    Eof {
        /// Partitions whose end was reached with nothing read after it.
        at_end: BTreeSet<i32>,
        /// Every assigned partition is at its end.
        complete: bool,
    },
}

pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let metadata_timeout = args.timeout.unwrap_or(Duration::from_secs(30));
    let (group_id, auto_commit) = match &args.group {
        Some(group) => (group.as_str(), "true"),
        // librdkafka wants a group id even for assign(); nothing joins or commits under it.
        None => ("fjord-cli-consume", "false"),
    };
    let consumer = args.client.consumer(&[
        ("enable.partition.eof", "true"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", if args.from_beginning { "earliest" } else { "latest" }),
        ("group.id", group_id),
        ("enable.auto.commit", auto_commit),
    ])?;
    let topic = cluster_view::topic(consumer.client(), &args.client, &args.topic, metadata_timeout)?;
    let stop_at_end = !args.follow && args.max_messages.is_none();

    let mut end = if let Some(group) = &args.group {
        consumer
            .subscribe(&[&topic.name])
            .with_context(|| format!("could not join group `{group}`"))?;
        if stop_at_end { EndWatch::Eof { at_end: BTreeSet::new(), complete: false } } else { EndWatch::Off }
    } else {
        let partitions: Vec<i32> = if args.partition.is_empty() {
            topic.partitions.iter().map(|p| p.id).collect()
        } else {
            for p in &args.partition {
                if !topic.partitions.iter().any(|tp| tp.id == *p) {
                    bail!("`{}` has no partition {p}; it has {}", topic.name, plural(topic.partitions.len(), "partition"));
                }
            }
            args.partition.clone()
        };
        let start = match (&args.offset, args.from_time, args.from_beginning) {
            (Some(offset), _, _) => Start::Arg(*offset),
            (None, Some(ms), _) => Start::Time(ms),
            (None, None, true) => Start::Arg(StartArg::Earliest),
            (None, None, false) => Start::Arg(StartArg::Latest),
        };
        let plan = position::assign(&consumer, &topic.name, &partitions, start, metadata_timeout)?;
        if stop_at_end {
            if plan.pending.is_empty() && start == Start::Arg(StartArg::Latest) {
                eprintln!(
                    "Nothing to read: started at the end of `{}`. Add --from-beginning to read what is there, or --follow to wait for new records.",
                    topic.name
                );
            }
            EndWatch::Offsets(plan.pending)
        } else {
            EndWatch::Off
        }
    };

    let mut out = Sink::new(args.group.as_ref().map(|_| topic.name.clone()));
    let stop = interrupt::on_ctrl_c()?;
    let mut printed = 0u64;
    let result = (|| -> anyhow::Result<()> {
        loop {
            if args.max_messages.is_some_and(|max| printed >= max) || end.done() {
                return Ok(());
            }
            if stop.load(Ordering::Relaxed) {
                return match args.max_messages {
                    Some(max) if printed < max => bail!("interrupted after {} of the {max} wanted", plural(printed as usize, "record")),
                    _ => Ok(()),
                };
            }
            let wait = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        out.flush(&consumer)?;
                        bail!(
                            "timed out after {}: received {}{}",
                            humantime::format_duration(args.timeout.unwrap_or_default()),
                            plural(printed as usize, "record"),
                            args.max_messages.map(|n| format!(" of the {n} wanted")).unwrap_or_default()
                        );
                    }
                    left.min(Duration::from_millis(200))
                }
                None => Duration::from_millis(200),
            };
            match consumer.poll(wait) {
                Some(Ok(message)) => {
                    out.print(&consumer, args.format.as_ref(), args.output, &message)?;
                    printed += 1;
                    end.saw(message.partition(), message.offset());
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    out.flush(&consumer)?;
                    end.reached_end(partition, &consumer);
                }
                Some(Err(error)) => fail_or_warn(error, &args)?,
                None => out.flush(&consumer)?,
            }
        }
    })();
    // A failed write returns before this: what was not printed is not committed.
    out.flush(&consumer)?;
    if args.group.is_some() && printed > 0 {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => return Err(anyhow::Error::new(e).context("could not commit the group's offsets")),
        }
    }
    result
}

impl EndWatch {
    fn done(&self) -> bool {
        match self {
            EndWatch::Off => false,
            EndWatch::Offsets(pending) => pending.is_empty(),
            EndWatch::Eof { complete, .. } => *complete,
        }
    }

    fn saw(&mut self, partition: i32, offset: i64) {
        match self {
            EndWatch::Offsets(pending) => {
                if pending.get(&partition).is_some_and(|end| offset + 1 >= *end) {
                    pending.remove(&partition);
                }
            }
            EndWatch::Eof { at_end, complete } => {
                at_end.remove(&partition);
                *complete = false;
            }
            EndWatch::Off => {}
        }
    }

    fn reached_end(&mut self, partition: i32, consumer: &BaseConsumer) {
        match self {
            EndWatch::Offsets(pending) => {
                pending.remove(&partition);
            }
            EndWatch::Eof { at_end, complete } => {
                at_end.insert(partition);
                let assigned: Vec<i32> = consumer
                    .assignment()
                    .map(|tpl| tpl.elements().iter().map(|e| e.partition()).collect())
                    .unwrap_or_default();
                *complete = !assigned.is_empty() && assigned.iter().all(|p| at_end.contains(p));
            }
            EndWatch::Off => {}
        }
    }
}

/// Errors that end the run; others (a broker briefly away) are retried by the client.
fn fail_or_warn(error: KafkaError, args: &ConsumeArgs) -> anyhow::Result<()> {
    let code = error.rdkafka_error_code();
    let fatal = matches!(
        code,
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::InvalidGroupId
                | RDKafkaErrorCode::OffsetOutOfRange
        )
    );
    if fatal {
        bail!("consuming `{}` failed: {error}", args.topic);
    }
    tracing::warn!("{error}; retrying ({})", args.client.reach_hint());
    Ok(())
}
