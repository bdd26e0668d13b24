//! `fjord bench transform`: the throughput of a broker-side WebAssembly transform, measured
//! beside the same pipeline without it, in one run: produce → consume on one topic (the
//! baseline), then produce → transform → consume (the input topic, the plugin deployed on the
//! brokers, the output topic). Each leg counts from the first record sent to the last record
//! received, with the same records, producer and consumer settings; the report is both rates
//! and their ratio. Its topics and the deployment are removed at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fjord_log_core::metadata::OnError;
use fjord_log_core::transform::{TransformRequest, TransformResponse};
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::progress::LiveLine;
use crate::client::{ClientArgs, admin_options, block_on, parse_duration, parse_key_value};

/// Options of `fjord bench transform`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each value is a JSON object with an id, an e-mail address and a card number, padded to \
--message-size, so masking and filtering plugins have work to do.

Examples:
  fjord bench transform --wasm target/plugins/identity.wasm
  fjord bench transform --wasm target/plugins/mask-pii.wasm --messages 500000 --message-size 2048 --output json")]
pub struct TransformBenchArgs {
    /// The plugin to deploy
    #[arg(long, value_name = "FILE")]
    pub wasm: std::path::PathBuf,

    /// A setting for the plugin's init (repeatable)
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub config: Vec<(String, String)>,

    /// Records per leg
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,

    /// Bytes per record value
    #[arg(long, default_value_t = 200)]
    pub message_size: usize,

    /// Partitions of each topic
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,

    /// Give up on a leg after this long
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub client: ClientArgs,

    #[arg(long, short = 'o', value_enum, default_value_t = crate::output::Output::Table)]
    pub output: crate::output::Output,
}

/// One leg's result.
#[derive(Debug, Clone, Serialize)]
struct Leg {
    records: u64,
    seconds: f64,
    records_per_sec: f64,
    mb_per_sec: f64,
}

/// The run's result.
#[derive(Debug, Clone, Serialize)]
struct TransformBench {
    benchmark: &'static str,
    plugin: String,
    message_size: usize,
    partitions: i32,
    /// produce → consume on one topic.
    baseline: Leg,
    /// produce → transform → consume.
    transform: Leg,
    /// transform records/s ÷ baseline records/s.
    ratio: f64,
}

/// A record value: JSON with personal data, padded to `size` bytes.
fn value(id: u64, size: usize) -> Vec<u8> {
    let mut v = format!(r#"{{"id":{id},"email":"user{id}@example.com","card":"4111 1111 1111 1111","pad":""#).into_bytes();
    while v.len() + 2 < size {
        v.push(b'x');
    }
    v.extend_from_slice(b"\"}");
    v
}

/// Runs the benchmark.
pub fn run(args: TransformBenchArgs) -> anyhow::Result<()> {
    if args.messages == 0 {
        bail!("--messages must be at least 1");
    }
    let wasm = std::fs::read(&args.wasm).with_context(|| format!("could not read the plugin {}", args.wasm.display()))?;
    let run_id = std::process::id();
    let (plain, input, output) = (format!("bench-plain-{run_id}"), format!("bench-in-{run_id}"), format!("bench-out-{run_id}"));
    let name = format!("bench-{run_id}");
    let admin = args.client.admin()?;
    let timeout = Duration::from_secs(30);
    let topics: Vec<NewTopic<'_>> = [&plain, &input, &output].iter().map(|t| NewTopic::new(t, args.partitions, TopicReplication::Fixed(-1))).collect();
    for result in block_on(admin.create_topics(&topics, &admin_options(timeout)))?? {
        if let Err((topic, code)) = result {
            bail!("could not create the benchmark topic {topic}: {code}");
        }
    }
    let outcome = (|| {
        eprintln!("Baseline: {} records of {} bytes, produce → consume on {plain}.", args.messages, args.message_size);
        let baseline = leg(&args, &plain, &plain, 0)?;
        let request = TransformRequest::Deploy {
            name: name.clone(),
            input: input.clone(),
            outputs: vec![output.clone()],
            config: args.config.clone(),
            on_error: OnError::Skip,
            allow: Vec::new(),
            wasm: Arc::from(wasm),
        };
        let mut connection = args.client.rpc_connection(timeout)?;
        let answer = connection.call_fjord_admin(fjord_log_core::transform::TRANSFORM_ADMIN_VERSION, &serde_json::to_vec(&request)?)?;
        if let Ok(TransformResponse::Error { message, .. }) = serde_json::from_slice(&answer) {
            bail!("could not deploy the plugin: {message}");
        }
        // A warm-up record through the transform: runners started, plugin compiled.
        eprintln!("Deployed {}; warming up.", args.wasm.display());
        leg(&args, &input, &output, u64::MAX / 2).context("the warm-up record did not come through the transform")?;
        eprintln!("Transform: the same records, produce → {name} → consume ({input} → {output}).");
        let transform = leg(&args, &input, &output, 0)?;
        Ok((baseline, transform))
    })();
    // Clean up whatever happened.
    if let Ok(mut connection) = args.client.rpc_connection(timeout) {
        let _ = connection.call_fjord_admin(0, &serde_json::to_vec(&TransformRequest::Delete { name: name.clone() })?);
    }
    let _ = block_on(admin.delete_topics(&[&plain, &input, &output], &admin_options(timeout)));
    let (baseline, transform) = outcome?;
    let result = TransformBench {
        benchmark: "transform",
        plugin: args.wasm.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        message_size: args.message_size,
        partitions: args.partitions,
        ratio: transform.records_per_sec / baseline.records_per_sec.max(1e-9),
        baseline,
        transform,
    };
    if args.output == crate::output::Output::Json {
        return crate::output::print_json(&result);
    }
    println!("{:<32} {:>12} {:>10} {:>9}", "", "records/s", "MB/s", "seconds");
    for (label, leg) in [("produce → consume", &result.baseline), ("produce → transform → consume", &result.transform)] {
        println!("{label:<32} {:>12.0} {:>10.1} {:>9.2}", leg.records_per_sec, leg.mb_per_sec, leg.seconds);
    }
    println!("ratio (transform ÷ baseline): {:.2}", result.ratio);
    Ok(())
}

/// Produces the records to `to` while a consumer reads `from` (the same topic, or the
/// transform's output) until it has them all; `first_id` past 2^62 sends one warm-up record.
fn leg(args: &TransformBenchArgs, to: &str, from: &str, first_id: u64) -> anyhow::Result<Leg> {
    let count = if first_id > 0 { 1 } else { args.messages };
    let consumer: BaseConsumer = args.client.consumer(&[("enable.auto.commit", "false"), ("fetch.max.bytes", "52428800"), ("group.id", "fjord-bench-transform")])?;
    // Each partition read from its end as it is before anything is sent, so only this leg's
    // records are counted (Offset::End would be resolved only at the first fetch).
    let mut assignment = TopicPartitionList::new();
    for p in 0..args.partitions {
        let (_, end) = consumer.fetch_watermarks(from, p, Duration::from_secs(30)).with_context(|| format!("could not list the offsets of {from}-{p}"))?;
        assignment.add_partition_offset(from, p, Offset::Offset(end))?;
    }
    consumer.assign(&assignment)?;
    let mut producer_config = args.client.config();
    producer_config.set("acks", "1").set("linger.ms", "5").set("batch.size", "1000000").set("queue.buffering.max.messages", "1000000");
    let producer: BaseProducer = producer_config.create().context("could not create the benchmark producer")?;
    let received = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let live = LiveLine::start({
        let received = received.clone();
        move || format!("{} of {count} records through", received.load(Ordering::Relaxed))
    });
    let deadline = started + args.timeout;
    let outcome = std::thread::scope(|scope| -> anyhow::Result<Instant> {
        let reader = scope.spawn(|| -> anyhow::Result<Instant> {
            let mut last = Instant::now();
            while received.load(Ordering::Relaxed) < count {
                if Instant::now() > deadline {
                    bail!("only {} of {count} records arrived within {:?}", received.load(Ordering::Relaxed), args.timeout);
                }
                if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                    message.context("consuming failed")?;
                    received.fetch_add(1, Ordering::Relaxed);
                    last = Instant::now();
                }
            }
            Ok(last)
        });
        for id in first_id..first_id + count {
            let value = value(id, args.message_size);
            let mut record = BaseRecord::<(), [u8]>::to(to).payload(&value);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(5));
                    }
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer.flush(Duration::from_secs(120)).context("the producer could not deliver every record")?;
        reader.join().map_err(|_| anyhow::anyhow!("the consumer thread panicked"))?
    });
    drop(live);
    let last = outcome?;
    let seconds = last.duration_since(started).as_secs_f64().max(1e-9);
    Ok(Leg { records: count, seconds, records_per_sec: count as f64 / seconds, mb_per_sec: (count as f64 * args.message_size as f64) / seconds / 1e6 })
}
