//! `fjord bench consume`: consumers read a topic from the beginning as fast as they can;
//! throughput counts messages and bytes received.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::host_cpu::HostCpuWindow;
use super::latency::Latencies;
use super::progress::{Counters, LiveLine};
use super::report::BenchResult;
use super::ResultArgs;
use crate::client::{ClientArgs, cluster_view, parse_duration};

/// Options of `fjord bench consume`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads from the start of every partition (partitions dealt round-robin to the consumers, no \
consumer group) up to each partition's end offset at the start, or until --count messages \
arrived. Throughput is timed from the first message received to the last. \
Fill the topic first, e.g. with `fjord bench produce`. Latency here is how long poll() waited \
for a message (one poll in 64 is timed): near zero while the consumer keeps up with its \
prefetch. MB is 10^6 bytes.

Examples:
  fjord bench produce --count 2000000 && fjord bench consume
  fjord bench consume --topic orders --consumers 2 --output json")]
pub struct ConsumeArgs {
    /// Topic to read
    #[arg(long, default_value = "fjord-bench")]
    pub topic: String,

    /// Messages to read [default: all the topic holds when the run starts]
    #[arg(long)]
    pub count: Option<u64>,

    /// Consumers (one thread each)
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,

    /// Give up when the messages have not all arrived within this time
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub result: ResultArgs,
}

pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if args.consumers == 0 {
        bail!("--consumers must be at least 1");
    }
    let probe = cluster_view::offsets_client(&args.client, None)?;
    let topic = cluster_view::topic(probe.client(), &args.client, &args.topic, Duration::from_secs(30))?;
    let mut available = 0u64;
    let mut spans = Vec::new();
    for p in &topic.partitions {
        let (low, high) = cluster_view::watermarks(&probe, &topic.name, p.id, Duration::from_secs(30))?;
        available += (high - low).max(0) as u64;
        spans.push(Span { partition: p.id, start: low, end: high });
    }
    drop(probe);
    let wanted = args.count.unwrap_or(available);
    // Without --count, each partition is read up to its end offset as it is now; offsets that
    // hold no message (compaction, transaction markers) then cannot make the run wait.
    let until_ends = args.count.is_none();
    if wanted == 0 {
        bail!("`{}` holds no messages; fill it first, e.g. `fjord bench produce --topic {}`", topic.name, topic.name);
    }
    if wanted > available {
        eprintln!("`{}` holds {available} messages; waiting for the other {} to arrive.", topic.name, wanted - available);
    }

    let counters = Arc::new(Counters::default());
    let remaining = Arc::new(AtomicU64::new(wanted));
    let window = Arc::new(Window::default());
    let host_cpu = HostCpuWindow::start();
    let epoch = Instant::now();
    let deadline = epoch + args.timeout;
    let live = LiveLine::start({
        let counters = counters.clone();
        move || format!("consume: {}", counters.describe(epoch))
    });
    let outcomes: Vec<anyhow::Result<(Latencies, bool)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.consumers)
            .map(|i| {
                let mine: Vec<Span> = spans.iter().copied().skip(i).step_by(args.consumers).collect();
                let shared = Shared { counters: counters.clone(), remaining: remaining.clone(), window: window.clone(), epoch };
                let args = &args;
                scope.spawn(move || consume_one(args, &mine, until_ends, shared, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a consumer thread panicked"))))
            .collect()
    });
    drop(live);
    // From the first message received to the last: consumer set-up and the final idle poll
    // are not part of the throughput.
    let elapsed = Duration::from_nanos(window.last.load(Ordering::Relaxed).saturating_sub(window.first.load(Ordering::Relaxed)));

    let mut latencies = Latencies::new();
    let mut complete = true;
    for outcome in outcomes {
        let (theirs, finished) = outcome?;
        latencies.merge(&theirs);
        complete &= finished;
    }
    let messages = counters.messages.load(Ordering::Relaxed);
    let result = BenchResult {
        benchmark: "consume",
        topic: topic.name.clone(),
        message_size: (counters.bytes.load(Ordering::Relaxed) / messages.max(1)) as usize,
        acks: None,
        compression: None,
        clients: args.consumers,
        target_rate: None,
        messages,
        bytes: counters.bytes.load(Ordering::Relaxed),
        seconds: elapsed.as_secs_f64(),
        msgs_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_measures: "poll() wait per message, one poll in 64 sampled",
        latency_ms: latencies.percentiles(),
        produce_latency_ms: None,
        errors: counters.errors.load(Ordering::Relaxed),
        host_cpu: host_cpu.finish(),
    }
    .rates();
    args.result.emit(&result)?;
    if !complete {
        bail!(
            "timed out after {}: {messages} of {wanted} messages arrived",
            humantime::format_duration(args.timeout)
        );
    }
    Ok(())
}

/// One partition's offsets to read: `start..end`.
#[derive(Debug, Clone, Copy)]
struct Span {
    partition: i32,
    start: i64,
    end: i64,
}

/// When the first and the last message arrived, in ns since the epoch.
#[derive(Debug)]
struct Window {
    first: AtomicU64,
    last: AtomicU64,
}

impl Default for Window {
    fn default() -> Self {
        Window { first: AtomicU64::new(u64::MAX), last: AtomicU64::new(0) }
    }
}

/// What the consumer threads share.
#[derive(Debug)]
struct Shared {
    counters: Arc<Counters>,
    /// Messages still wanted (with --count).
    remaining: Arc<AtomicU64>,
    window: Arc<Window>,
    epoch: Instant,
}

fn consume_one(
    args: &ConsumeArgs,
    spans: &[Span],
    until_ends: bool,
    shared: Shared,
    deadline: Instant,
) -> anyhow::Result<(Latencies, bool)> {
    let mut latencies = Latencies::new();
    let mut unfinished: std::collections::BTreeMap<i32, i64> =
        spans.iter().filter(|s| s.start < s.end).map(|s| (s.partition, s.end)).collect();
    if spans.is_empty() || (until_ends && unfinished.is_empty()) {
        return Ok((latencies, true));
    }
    let Shared { counters, remaining, window, epoch } = shared;
    // librdkafka's default fetch sizes (1 MiB per partition) measured fastest here: larger
    // fetches make it allocate (and page-fault) bigger buffers per response. Its prefetch
    // queue is the other limit: once a partition holds queued.min.messages (100,000 by
    // default) librdkafka stops fetching it for fetch.queue.backoff.ms (1 s by default). With
    // 100-byte records a partition passes that after ten 1 MiB fetches, and the consumer then
    // sat idle for most of each second (0.4-0.7 M records/s at 17-27% CPU, see
    // docs/benchmarks.md); a 10 ms backoff keeps the fetcher going as the queue drains.
    let consumer = args.client.consumer(&[
        ("group.id", "fjord-bench-consume"),
        ("enable.auto.commit", "false"),
        ("enable.partition.eof", "true"),
        ("queued.max.messages.kbytes", "262144"),
        ("fetch.queue.backoff.ms", "10"),
    ])?;
    let mut assignment = TopicPartitionList::new();
    for span in spans {
        assignment.add_partition_offset(&args.topic, span.partition, Offset::Offset(span.start))?;
    }
    consumer.assign(&assignment).context("could not assign partitions")?;
    let mut polls = 0u64;
    let mut last = None;
    let finished = loop {
        let done = if until_ends { unfinished.is_empty() } else { remaining.load(Ordering::Relaxed) == 0 };
        if done {
            break true;
        }
        polls += 1;
        // Reading the clock costs as much as a poll that finds a message ready: time one
        // poll in 64 (and check the deadline then, and after every empty poll).
        let timed = polls.is_multiple_of(64);
        let asked = if timed { Some(Instant::now()) } else { None };
        if asked.is_some_and(|now| now >= deadline) {
            break false;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                // The clock is read on timed polls, for the first message and for the last
                // (below): reading it for every message cost the consumer thread a tenth of its
                // time with 100-byte records.
                if let Some(asked) = asked {
                    let now = Instant::now();
                    latencies.record_nanos(now.duration_since(asked).as_nanos() as u64);
                    last = Some(now);
                }
                if last.is_none() {
                    let now = Instant::now();
                    window.first.fetch_min(now.duration_since(epoch).as_nanos() as u64, Ordering::Relaxed);
                    last = Some(now);
                }
                let size = message.payload_len() + message.key().map_or(0, <[u8]>::len);
                counters.messages.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(size as u64, Ordering::Relaxed);
                // Saturating: other consumers may take the last ones at the same time.
                let _ = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1));
                if unfinished.get(&message.partition()).is_some_and(|end| message.offset() + 1 >= *end) {
                    unfinished.remove(&message.partition());
                    last = Some(Instant::now());
                }
                if !until_ends && remaining.load(Ordering::Relaxed) == 0 {
                    last = Some(Instant::now());
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                unfinished.remove(&partition);
            }
            None => {
                if Instant::now() >= deadline {
                    break false;
                }
            }
            Some(Err(error)) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("consume error: {error}");
            }
        }
    };
    if let Some(last) = last {
        window.last.fetch_max(last.duration_since(epoch).as_nanos() as u64, Ordering::Relaxed);
    }
    Ok((latencies, finished))
}
