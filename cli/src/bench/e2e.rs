//! `fjord bench e2e`: end-to-end latency. A producer sends at a fixed rate while consumers
//! read the same partitions; each message carries the time it was *due* to be sent (its slot
//! in the schedule), and latency is from that time until a consumer has it. Measuring from
//! the schedule rather than the send call keeps a stalled producer from hiding latency
//! (coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::host_cpu::HostCpuWindow;
use super::latency::Latencies;
use super::produce::{BenchProducer, ProducerOutcome};
use super::progress::{Counters, LiveLine};
use super::report::BenchResult;
use super::{ResultArgs, TopicArgs, ensure_topic, payload};
use crate::client::producer_tuning::ProducerTuning;
use crate::client::{ClientArgs, cluster_view, parse_duration};

/// Bytes at the start of each value: its due time (ns since the epoch), this run's id and its
/// sequence number, each a big-endian u64. The id keeps other writers' messages on the same
/// topic out of the counts; the sequence number tells duplicates (retries) from new messages.
const STAMP: usize = 24;

/// Options of `fjord bench e2e`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Pick --rate below the cluster's maximum (e.g. half of what `fjord bench produce` reached): \
at or above it, queues grow and latency measures the backlog. Messages sent during --warmup \
are not counted. MB is 10^6 bytes.

Examples:
  fjord bench e2e --rate 50000 --duration 30s
  fjord bench e2e --rate 10000 --message-size 100 --acks 1 --output json")]
pub struct E2eArgs {
    /// Messages per second to send
    #[arg(long)]
    pub rate: u64,

    /// How long to send (after the warm-up)
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Sending time at the start that is not measured
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Bytes per message value (at least 24: the due time, run id and sequence number are stored in it)
    #[arg(long, default_value_t = 1024)]
    pub message_size: usize,

    #[command(flatten)]
    pub topic: TopicArgs,
    #[command(flatten)]
    pub tuning: ProducerTuning,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub result: ResultArgs,
}

pub fn run(args: E2eArgs) -> anyhow::Result<()> {
    if args.message_size < STAMP {
        bail!("--message-size must be at least {STAMP}: each value carries its due time, run id and sequence number");
    }
    if args.rate == 0 {
        bail!("--rate must be at least 1");
    }
    ensure_topic(&args.client, &args.topic, Duration::from_secs(30))?;
    let consumer = start_consumer(&args)?;

    let produced = Arc::new(Counters::default());
    let host_cpu = HostCpuWindow::start();
    let epoch = Instant::now();
    let producer =
        BenchProducer::new(&args.topic.topic, &args.client, &args.tuning, epoch, produced.clone(), args.message_size)?;
    // The schedule starts once the producer is connected; the warm-up is measured from there.
    let start = Instant::now();
    let measure_from = (start.duration_since(epoch) + args.warmup).as_nanos() as u64;
    producer.measure_from(measure_from);
    let total = ((args.warmup + args.duration).as_secs_f64() * args.rate as f64).ceil() as u64;
    let measured_expected = (args.duration.as_secs_f64() * args.rate as f64) as u64;
    let received = Arc::new(Counters::default());
    let producing = AtomicBool::new(true);
    let sent_total = AtomicU64::new(0);
    let duplicates = AtomicU64::new(0);
    let latencies = Mutex::new(Latencies::new());

    let live = LiveLine::start({
        let received = received.clone();
        move || format!("e2e: received {}", received.describe(epoch))
    });
    let run_id: u64 = rand::random();
    let outcome = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut local = Latencies::new();
            let mut idle_since: Option<Instant> = None;
            let mut seen = vec![0u64; usize::try_from(total.div_ceil(64)).unwrap_or(0)];
            loop {
                let done_sending = !producing.load(Ordering::Acquire);
                let all_here = received.messages.load(Ordering::Relaxed) >= sent_total.load(Ordering::Relaxed);
                if done_sending && (all_here || idle_since.is_some_and(|t| t.elapsed() > Duration::from_secs(10))) {
                    break;
                }
                match consumer.poll(Duration::from_millis(50)) {
                    Some(Ok(message)) => {
                        idle_since = None;
                        let now = epoch.elapsed().as_nanos() as u64;
                        let Some(stamp) = message.payload().and_then(|p| p.get(..STAMP)) else { continue };
                        let field = |i: usize| u64::from_be_bytes(stamp[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
                        let (due, id, seq) = (field(0), field(1), field(2));
                        // Not ours: the warm-up message, or another writer's.
                        if id != run_id || seq >= total {
                            continue;
                        }
                        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
                        let Some(slot) = seen.get_mut(word) else { continue };
                        if *slot & bit != 0 {
                            duplicates.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        *slot |= bit;
                        received.messages.fetch_add(1, Ordering::Relaxed);
                        received.bytes.fetch_add(message.payload_len() as u64, Ordering::Relaxed);
                        if due >= measure_from {
                            local.record_nanos(now.saturating_sub(due));
                        }
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(error)) => {
                        received.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("consume error: {error}");
                    }
                    None => {
                        if done_sending {
                            idle_since.get_or_insert_with(Instant::now);
                        }
                    }
                }
            }
            if let Ok(mut shared) = latencies.lock() {
                shared.merge(&local);
            }
        });
        let sent = produce_at_rate(&args, producer, (epoch, start), (run_id, total), &sent_total);
        producing.store(false, Ordering::Release);
        let read = reader.join();
        (sent, read)
    });
    drop(live);
    let (sent, read) = outcome;
    let acks = sent?;
    if read.is_err() {
        bail!("the consumer thread panicked");
    }

    let latencies = latencies.into_inner().unwrap_or_default();
    let measured = latencies.count();
    let result = BenchResult {
        benchmark: "e2e",
        topic: args.topic.topic.clone(),
        message_size: args.message_size,
        acks: Some(args.tuning.acks.to_string()),
        compression: Some(format!("{:?}", args.tuning.compression).to_lowercase()),
        clients: 1,
        target_rate: Some(args.rate),
        messages: measured,
        bytes: measured * args.message_size as u64,
        seconds: args.duration.as_secs_f64(),
        msgs_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_measures: "due-to-send → consumed",
        latency_ms: latencies.percentiles(),
        produce_latency_ms: Some(acks.latencies.percentiles()),
        errors: produced.errors.load(Ordering::Relaxed) + received.errors.load(Ordering::Relaxed),
        host_cpu: host_cpu.finish(),
    }
    .rates();
    args.result.emit(&result)?;
    let twice = duplicates.load(Ordering::Relaxed);
    if twice > 0 {
        eprintln!("{twice} messages arrived more than once (producer retries); counted once.");
    }
    let lost = sent_total.load(Ordering::Relaxed).saturating_sub(received.messages.load(Ordering::Relaxed));
    if lost > 0 {
        bail!("{lost} sent messages never arrived at the consumer within 10 s after sending stopped");
    }
    if measured < measured_expected / 2 {
        bail!("only {measured} of about {measured_expected} messages were measured; the cluster could not keep up with --rate {}", args.rate);
    }
    Ok(())
}

/// A consumer assigned every partition at its current end, ready before sending starts.
fn start_consumer(args: &E2eArgs) -> anyhow::Result<BaseConsumer> {
    let consumer = args.client.consumer(&[
        ("group.id", "fjord-bench-e2e"),
        ("enable.auto.commit", "false"),
        ("fetch.wait.max.ms", "100"),
        ("fetch.min.bytes", "1"),
    ])?;
    let timeout = Duration::from_secs(30);
    let topic = cluster_view::topic(consumer.client(), &args.client, &args.topic.topic, timeout)?;
    let mut assignment = TopicPartitionList::new();
    for p in &topic.partitions {
        let (_, high) = cluster_view::watermarks(&consumer, &topic.name, p.id, timeout)?;
        assignment.add_partition_offset(&topic.name, p.id, Offset::Offset(high))?;
    }
    consumer.assign(&assignment).context("could not assign partitions")?;
    Ok(consumer)
}

/// Sends `total` messages of this run on the schedule that starts at `start`.
fn produce_at_rate(
    args: &E2eArgs,
    producer: BenchProducer,
    (epoch, start): (Instant, Instant),
    (run_id, total): (u64, u64),
    sent_total: &AtomicU64,
) -> anyhow::Result<ProducerOutcome> {
    let mut value = payload(args.message_size);
    value[8..16].copy_from_slice(&run_id.to_be_bytes());
    let interval = 1.0 / args.rate as f64;
    for i in 0..total {
        let due = producer.wait_until(start + Duration::from_secs_f64(i as f64 * interval));
        let due_nanos = due.duration_since(epoch).as_nanos() as u64;
        value[..8].copy_from_slice(&due_nanos.to_be_bytes());
        value[16..24].copy_from_slice(&i.to_be_bytes());
        producer.send(&args.topic.topic, &value, due)?;
        sent_total.fetch_add(1, Ordering::Relaxed);
    }
    producer.finish(start)
}
