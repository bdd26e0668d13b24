//! `fjord bench produce`: producers send fixed-size messages as fast as the cluster takes
//! them (or at `--rate`); throughput counts acknowledged messages, latency is from the moment
//! a message was due to be sent to its acknowledgement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::latency::Latencies;
use super::progress::{Counters, LiveLine};
use super::report::BenchResult;
use super::{ResultArgs, TopicArgs, ensure_topic, payload};
use crate::client::producer_tuning::ProducerTuning;
use crate::client::{ClientArgs, parse_duration};

/// Options of `fjord bench produce`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Messages have no key (the producer spreads batches over partitions) and random, \
incompressible values. Latency is measured from when each message was due to be sent (its \
slot in the --rate schedule, or the send call without --rate) to its acknowledgement, so a \
stalled producer shows up as latency instead of hiding it. MB is 10^6 bytes.

Examples:
  fjord bench produce --message-size 1024 --count 1000000
  fjord bench produce --message-size 100 --count 5000000 --acks 1
  fjord bench produce --duration 60s --rate 50000 --output json --result-file produce.json")]
pub struct ProduceArgs {
    /// Bytes per message value
    #[arg(long, default_value_t = 1024)]
    pub message_size: usize,

    /// Messages to send in all [default: 1000000 unless --duration]
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,

    /// Send for this long instead of a count
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Messages per second in all (default: as fast as possible)
    #[arg(long)]
    pub rate: Option<u64>,

    /// Producers (one thread and one connection set each)
    #[arg(long, default_value_t = 1)]
    pub producers: usize,

    #[command(flatten)]
    pub topic: TopicArgs,
    #[command(flatten)]
    pub tuning: ProducerTuning,
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub result: ResultArgs,
}

/// How much one producer sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Amount {
    Count(u64),
    Until(Instant),
}

/// Delivery bookkeeping of one producer; the callback runs on that producer's own thread
/// (BaseProducer delivers reports from `poll`), so the mutex is never contended.
#[derive(Debug)]
pub(super) struct Deliveries {
    /// Time zero of the run; delivery opaques are nanoseconds since it.
    pub epoch: Instant,
    pub latencies: Mutex<Latencies>,
    pub counters: Arc<Counters>,
    pub message_bytes: u64,
    pub first_error: Mutex<Option<KafkaError>>,
    pub last_ack_nanos: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, due_nanos: usize) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => {
                if let Ok(mut latencies) = self.latencies.lock() {
                    latencies.record_nanos(now.saturating_sub(due_nanos as u64));
                }
                self.counters.messages.fetch_add(1, Ordering::Relaxed);
                self.counters.bytes.fetch_add(self.message_bytes, Ordering::Relaxed);
                self.last_ack_nanos.fetch_max(now, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.clone());
                }
            }
        }
    }
}

pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    if args.producers == 0 {
        bail!("--producers must be at least 1");
    }
    ensure_topic(&args.client, &args.topic, Duration::from_secs(30))?;
    let counters = Arc::new(Counters::default());
    let epoch = Instant::now();
    let amount = |i: usize| match (args.count, args.duration) {
        (_, Some(d)) => Amount::Until(epoch + d),
        (count, None) => {
            let total = count.unwrap_or(1_000_000);
            let n = args.producers as u64;
            Amount::Count(total / n + u64::from((i as u64) < total % n))
        }
    };
    let per_producer_rate = args.rate.map(|r| (r as f64 / args.producers as f64).max(1e-3));
    let live = LiveLine::start({
        let counters = counters.clone();
        move || format!("produce: {}", counters.describe(epoch))
    });

    let outcomes: Vec<anyhow::Result<ProducerOutcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.producers)
            .map(|i| {
                let (args, counters) = (&args, counters.clone());
                let amount = amount(i);
                scope.spawn(move || produce_one(args, counters, epoch, amount, per_producer_rate))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a producer thread panicked"))))
            .collect()
    });
    drop(live);

    let mut latencies = Latencies::new();
    let mut last_ack = 0u64;
    let mut first_error = None;
    for outcome in outcomes {
        let outcome = outcome?;
        latencies.merge(&outcome.latencies);
        last_ack = last_ack.max(outcome.last_ack_nanos);
        first_error = first_error.or(outcome.first_error);
    }
    let messages = counters.messages.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    if messages == 0 {
        bail!(
            "no message was acknowledged{}; {}",
            first_error.map(|e| format!(" (first error: {e})")).unwrap_or_default(),
            args.client.reach_hint()
        );
    }
    let result = BenchResult {
        benchmark: "produce",
        topic: args.topic.topic.clone(),
        message_size: args.message_size,
        acks: Some(args.tuning.acks.to_string()),
        compression: Some(format!("{:?}", args.tuning.compression).to_lowercase()),
        clients: args.producers,
        target_rate: args.rate,
        messages,
        bytes: counters.bytes.load(Ordering::Relaxed),
        seconds: Duration::from_nanos(last_ack).as_secs_f64(),
        msgs_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_measures: "due-to-send → acknowledged",
        latency_ms: latencies.percentiles(),
        errors,
    }
    .rates();
    args.result.emit(&result)?;
    if errors > 0 {
        bail!(
            "{errors} messages were not acknowledged (first error: {})",
            first_error.map_or_else(|| "unknown".to_owned(), |e| e.to_string())
        );
    }
    Ok(())
}

struct ProducerOutcome {
    latencies: Latencies,
    last_ack_nanos: u64,
    first_error: Option<KafkaError>,
}

fn produce_one(
    args: &ProduceArgs,
    counters: Arc<Counters>,
    epoch: Instant,
    amount: Amount,
    rate: Option<f64>,
) -> anyhow::Result<ProducerOutcome> {
    let mut config = args.client.config();
    args.tuning.apply(&mut config);
    config
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", "60000");
    let context = Deliveries {
        epoch,
        latencies: Mutex::new(Latencies::new()),
        counters,
        message_bytes: args.message_size as u64,
        first_error: Mutex::new(None),
        last_ack_nanos: AtomicU64::new(0),
    };
    let producer: BaseProducer<Deliveries> =
        config.create_with_context(context).context("could not create the producer; check -X and the producer options")?;
    let value = payload(args.message_size);
    let started = Instant::now();
    let mut sent = 0u64;
    loop {
        match amount {
            Amount::Count(n) if sent >= n => break,
            Amount::Until(end) if Instant::now() >= end => break,
            _ => {}
        }
        let due = match rate {
            Some(rate) => {
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                let now = Instant::now();
                if due > now {
                    producer.poll(Duration::ZERO);
                    std::thread::sleep(due - now);
                }
                due
            }
            None => Instant::now(),
        };
        let due_nanos = due.duration_since(epoch).as_nanos() as usize;
        let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(&args.topic.topic, due_nanos).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(anyhow::Error::new(error).context("could not send")),
            }
        }
        sent += 1;
        if sent.is_multiple_of(256) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(60)).context("messages were still unacknowledged after 60 s")?;
    let context = producer.context();
    Ok(ProducerOutcome {
        latencies: context.latencies.lock().map(|l| l.clone()).unwrap_or_default(),
        last_ack_nanos: context.last_ack_nanos.load(Ordering::Relaxed),
        first_error: context.first_error.lock().ok().and_then(|e| e.clone()),
    })
}
