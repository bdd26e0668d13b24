//! `fjord bench produce`: producers send fixed-size messages as fast as the cluster takes
//! them (or at `--rate`); throughput counts acknowledged messages, latency is from the moment
//! a message was due to be sent to its acknowledgement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::host_cpu::HostCpuWindow;
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

/// The delivery opaque of the message that warms a producer up; not counted.
const WARM_UP: usize = usize::MAX;

/// How much one producer sends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Amount {
    Count(u64),
    For(Duration),
}

/// Delivery bookkeeping of one producer; the callback runs on that producer's polling thread
/// (ThreadedProducer serves delivery reports as they arrive, so an ack's time is taken when
/// it arrives, not when the sender next gets round to polling); the mutex is never contended.
#[derive(Debug)]
pub(super) struct Deliveries {
    /// Time zero of the run; delivery opaques are nanoseconds since it.
    pub epoch: Instant,
    pub latencies: Mutex<Latencies>,
    pub counters: Arc<Counters>,
    pub message_bytes: u64,
    pub first_error: Mutex<Option<KafkaError>>,
    pub last_ack_nanos: AtomicU64,
    /// Messages due before this (ns since the epoch) are a warm-up: not in the latencies.
    pub measure_from_nanos: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, due_nanos: usize) {
        if due_nanos == WARM_UP {
            return;
        }
        let now = self.epoch.elapsed().as_nanos() as u64;
        match result {
            Ok(_) => {
                let measured = due_nanos as u64 >= self.measure_from_nanos.load(Ordering::Relaxed);
                if let Some(mut latencies) = self.latencies.lock().ok().filter(|_| measured) {
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
    let host_cpu = HostCpuWindow::start();
    let epoch = Instant::now();
    let amount = |i: usize| match (args.count, args.duration) {
        (_, Some(d)) => Amount::For(d),
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
    let mut first_send = u64::MAX;
    let mut last_ack = 0u64;
    let mut first_error = None;
    for outcome in outcomes {
        let outcome = outcome?;
        latencies.merge(&outcome.latencies);
        last_ack = last_ack.max(outcome.last_ack_nanos);
        first_send = first_send.min(outcome.first_send_nanos);
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
        seconds: Duration::from_nanos(last_ack.saturating_sub(first_send)).as_secs_f64(),
        msgs_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_measures: "due-to-send → acknowledged",
        latency_ms: latencies.percentiles(),
        produce_latency_ms: None,
        errors,
        host_cpu: host_cpu.finish(),
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

pub(super) struct ProducerOutcome {
    pub latencies: Latencies,
    /// When the first measured message was due, in ns since the epoch.
    first_send_nanos: u64,
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
    let producer = BenchProducer::new(&args.topic.topic, &args.client, &args.tuning, epoch, counters, args.message_size)?;
    let value = payload(args.message_size);
    let started = Instant::now();
    let mut sent = 0u64;
    loop {
        match amount {
            Amount::Count(n) if sent >= n => break,
            Amount::For(d) if started.elapsed() >= d => break,
            _ => {}
        }
        let due = match rate {
            Some(rate) => producer.wait_until(started + Duration::from_secs_f64(sent as f64 / rate)),
            None => Instant::now(),
        };
        producer.send(&args.topic.topic, &value, due)?;
        sent += 1;
    }
    producer.finish(started)
}

/// Shortest sleep of a paced producer. Sleeping until each message's exact due time costs a
/// context switch every few messages at high rates (measured at 50k msgs/s: a quarter of a
/// core, the load generator's largest share), CPU taken from the broker and client threads
/// whose latency is measured. Waking at most every 200 µs and sending all that is due then
/// adds at most that to a message's latency.
const MIN_SLEEP: Duration = Duration::from_micros(200);

/// A benchmark producer: rdkafka's ThreadedProducer with delivery bookkeeping, sends that wait
/// while the local queue is full, and pacing.
pub(super) struct BenchProducer {
    inner: ThreadedProducer<Deliveries>,
    epoch: Instant,
}

impl BenchProducer {
    /// A producer with `tuning`, recording latencies relative to `epoch` into its own
    /// histogram and counting into `counters`. It has sent one uncounted message to `topic`
    /// and had it acknowledged, so connecting and fetching metadata are not measured.
    pub fn new(
        topic: &str,
        client: &ClientArgs,
        tuning: &ProducerTuning,
        epoch: Instant,
        counters: Arc<Counters>,
        message_size: usize,
    ) -> anyhow::Result<Self> {
        let mut config = client.config();
        tuning.apply(&mut config);
        config
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", "60000");
        client.apply_overrides(&mut config);
        let context = Deliveries {
            epoch,
            latencies: Mutex::new(Latencies::new()),
            counters,
            message_bytes: message_size as u64,
            first_error: Mutex::new(None),
            last_ack_nanos: AtomicU64::new(0),
            measure_from_nanos: AtomicU64::new(0),
        };
        let inner: ThreadedProducer<Deliveries> = config
            .create_with_context(context)
            .context("could not create the producer; check -X and the producer options")?;
        // Full size, so that a topic filled by benchmarks holds messages of one size only.
        // It starts with eight 0xff bytes: `e2e` reads that as "no due time" and skips it.
        let mut filler = payload(message_size);
        filler.iter_mut().take(8).for_each(|b| *b = 0xff);
        let warm_up = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, WARM_UP).payload(&filler);
        inner.send(warm_up).map_err(|(e, _)| e).context("could not send the warm-up message")?;
        inner
            .flush(Duration::from_secs(30))
            .with_context(|| format!("the warm-up message was not acknowledged within 30 s; {}", client.reach_hint()))?;
        Ok(BenchProducer { inner, epoch })
    }

    /// Leaves messages due before `nanos` (since the epoch) out of the latencies.
    pub fn measure_from(&self, nanos: u64) {
        self.inner.context().measure_from_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Sleeps until `due`, but never for less than [`MIN_SLEEP`]; returns `due`. A message
    /// may so leave up to `MIN_SLEEP` after its due time, which its latency (counted from
    /// `due`) includes.
    pub fn wait_until(&self, due: Instant) -> Instant {
        let now = Instant::now();
        if due > now {
            std::thread::sleep((due - now).max(MIN_SLEEP));
        }
        due
    }

    /// Hands one message to the producer, waiting while its queue is full; its latency is
    /// measured from `due`.
    pub fn send(&self, topic: &str, value: &[u8], due: Instant) -> anyhow::Result<()> {
        let due_nanos = due.duration_since(self.epoch).as_nanos() as usize;
        let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, due_nanos).payload(value);
        loop {
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(anyhow::Error::new(error).context("could not send")),
            }
        }
    }

    /// Waits for every acknowledgement; returns what was recorded.
    pub fn finish(self, started: Instant) -> anyhow::Result<ProducerOutcome> {
        self.inner.flush(Duration::from_secs(60)).context("messages were still unacknowledged after 60 s")?;
        let context = self.inner.context();
        Ok(ProducerOutcome {
            latencies: context.latencies.lock().map(|l| l.clone()).unwrap_or_default(),
            first_send_nanos: started.duration_since(self.epoch).as_nanos() as u64,
            last_ack_nanos: context.last_ack_nanos.load(Ordering::Relaxed),
            first_error: context.first_error.lock().ok().and_then(|e| e.clone()),
        })
    }
}
