//! `fjord bench fetch`: a catch-up reader's view of the broker's read path. Fetch requests go
//! out back to back over data already written, each timed from send to its whole answer; a
//! partition read to its high watermark starts again from its log start, so the load lasts as
//! long as asked. No librdkafka in the loop: its prefetch queues and backoffs would hide how
//! long the broker took.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;

use super::ResultArgs;
use super::host_cpu::HostCpuWindow;
use super::latency::Latencies;
use super::progress::{Counters, LiveLine};
use super::report::BenchResult;
use crate::client::{ClientArgs, cluster_view, fetch_metadata, parse_duration};

/// The newest Fetch version that names topics (13 and later name them by id).
const FETCH_BY_NAME: i16 = 12;

/// Kafka's OFFSET_OUT_OF_RANGE: the position fell below the log start (retention, deletes).
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Options of `fjord bench fetch`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each connection sends Fetch requests one after another (or --rate of them a second) for its \
partitions, each from where the last answer ended, and times every request from send to the last byte of its answer: the \
latency of the broker's read path as a catch-up consumer sees it, with no client-side queue in \
between. A partition read up to its high watermark is read again from its log start, so the \
topic is never exhausted and only data already written is read. Partitions are dealt to \
connections round-robin per leader broker. Fill the topic first, e.g. with `fjord bench \
produce`. Records counts the records of the complete batches returned; MB is 10^6 bytes of \
those batches.

Examples:
  fjord bench produce --count 500000 && fjord bench fetch --duration 20s
  fjord bench fetch --topic orders --connections 2 --partition-max-bytes 262144 --output json
  fjord bench fetch --rate 50 --duration 1m")]
pub struct FetchArgs {
    /// Topic to read
    #[arg(long, default_value = "fjord-bench")]
    pub topic: String,

    /// How long to measure
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Fetch for this long first without counting it (connections, page cache)
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Connections per leader broker (one thread each), partitions dealt among them
    #[arg(long, default_value_t = 1)]
    pub connections: usize,

    /// Fetch requests per second per connection [default: back to back]
    #[arg(long)]
    pub rate: Option<f64>,

    /// Most bytes one Fetch may return (its max_bytes; librdkafka's fetch.max.bytes)
    #[arg(long, default_value_t = 52_428_800)]
    pub max_bytes: i32,

    /// Most bytes one Fetch may return per partition (librdkafka's max.partition.fetch.bytes)
    #[arg(long, default_value_t = 1_048_576)]
    pub partition_max_bytes: i32,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub result: ResultArgs,
}

/// Largest --max-bytes: what the connection accepts as one answer, less room for headers.
const MAX_FETCH_BYTES: i32 = 60 << 20;

pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of requests per second");
    }
    if !(1..=MAX_FETCH_BYTES).contains(&args.max_bytes) || !(1..=MAX_FETCH_BYTES).contains(&args.partition_max_bytes) {
        bail!("--max-bytes and --partition-max-bytes must be between 1 and {MAX_FETCH_BYTES}");
    }
    let timeout = Duration::from_secs(30);
    let probe = cluster_view::offsets_client(&args.client, None)?;
    let metadata = fetch_metadata(probe.client(), &args.client, None, timeout)?;
    let brokers: BTreeMap<i32, String> = metadata.brokers().iter().map(|b| (b.id(), format!("{}:{}", b.host(), b.port()))).collect();
    let topic = cluster_view::topic_in(&metadata, &args.client, &args.topic)?;
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut available = 0i64;
    for p in &topic.partitions {
        if p.leader < 0 {
            bail!("partition {} of `{}` has no leader; try again once the cluster has elected one", p.id, topic.name);
        }
        let (low, high) = cluster_view::watermarks(&probe, &topic.name, p.id, timeout)?;
        if high > low {
            available += high - low;
            by_leader.entry(p.leader).or_default().push(p.id);
        }
    }
    drop(probe);
    if available == 0 {
        bail!("`{}` holds no messages; fill it first, e.g. `fjord bench produce --topic {}`", topic.name, topic.name);
    }

    // One reader per connection: its leader's address and its share of that leader's partitions.
    let mut readers = Vec::new();
    for (leader, partitions) in &by_leader {
        let address = brokers.get(leader).with_context(|| format!("the cluster's metadata names leader {leader} but not its address"))?;
        for i in 0..args.connections.min(partitions.len()) {
            let mine: Vec<i32> = partitions.iter().copied().skip(i).step_by(args.connections).collect();
            let connection = args.client.rpc_connection_to(address, timeout).with_context(|| format!("could not connect to broker {leader} at {address}"))?;
            readers.push((connection, mine));
        }
    }

    let counters = Arc::new(Counters::default());
    let clients = readers.len();
    let started = Instant::now();
    let measure_from = started + args.warmup;
    let until = measure_from + args.duration;
    let live = LiveLine::start({
        let counters = counters.clone();
        move || {
            if Instant::now() < measure_from {
                "fetch: warming up".to_string()
            } else {
                format!("fetch: {}", counters.describe(measure_from))
            }
        }
    });
    let mut host_cpu = None;
    let outcomes: Vec<anyhow::Result<Latencies>> = std::thread::scope(|scope| {
        let handles: Vec<_> = readers
            .into_iter()
            .map(|(connection, partitions)| {
                let reader = Reader { args: &args, partitions, positions: BTreeMap::new() };
                let counters = counters.clone();
                scope.spawn(move || reader.run(connection, &counters, measure_from, until))
            })
            .collect();
        // The host's CPU is sampled over the measured part only.
        std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
        let window = HostCpuWindow::start();
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        host_cpu = window.finish();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a fetch thread panicked"))))
            .collect()
    });
    drop(live);

    let mut latencies = Latencies::new();
    for outcome in outcomes {
        latencies.merge(&outcome?);
    }
    let messages = counters.messages.load(Ordering::Relaxed);
    let bytes = counters.bytes.load(Ordering::Relaxed);
    let result = BenchResult {
        benchmark: "fetch",
        topic: topic.name.clone(),
        message_size: (bytes / messages.max(1)) as usize,
        acks: None,
        compression: None,
        clients,
        target_rate: None,
        messages,
        bytes,
        seconds: args.duration.as_secs_f64(),
        msgs_per_sec: 0.0,
        mb_per_sec: 0.0,
        latency_measures: "each Fetch request, sent to its whole answer read",
        latency_ms: latencies.percentiles(),
        produce_latency_ms: None,
        errors: counters.errors.load(Ordering::Relaxed),
        host_cpu,
    }
    .rates();
    args.result.emit(&result)
}

/// One connection's partitions and where each is read next.
struct Reader<'a> {
    args: &'a FetchArgs,
    partitions: Vec<i32>,
    /// The next offset to fetch per partition (absent: its log start, learnt from an answer).
    positions: BTreeMap<i32, i64>,
}

impl Reader<'_> {
    fn run(
        mut self,
        mut connection: crate::client::rpc::Connection,
        counters: &Counters,
        measure_from: Instant,
        until: Instant,
    ) -> anyhow::Result<Latencies> {
        let mut latencies = Latencies::new();
        let interval = self.args.rate.map(|r| Duration::from_secs_f64(1.0 / r));
        let mut due = Instant::now();
        loop {
            if let Some(interval) = interval {
                // Paced: wait for this request's turn; after a late one the next goes at once,
                // with no burst to catch up.
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                due = (due + interval).max(Instant::now());
            }
            let sent = Instant::now();
            if sent >= until {
                break;
            }
            let response = connection.call_at_most(FETCH_BY_NAME, &self.request()).context("Fetch failed")?;
            let answered = Instant::now();
            let measured = sent >= measure_from;
            if measured {
                latencies.record_nanos(answered.duration_since(sent).as_nanos() as u64);
            }
            if response.error_code != 0 {
                bail!("the broker refused the Fetch with Kafka error code {}", response.error_code);
            }
            for partition in response.responses.iter().flat_map(|t| &t.partitions) {
                let id = partition.partition_index;
                match partition.error_code {
                    0 => {}
                    OFFSET_OUT_OF_RANGE => {
                        self.positions.insert(id, partition.log_start_offset.max(0));
                        continue;
                    }
                    code => {
                        // A leader move or a transient error: count it, ask again from the same place.
                        if measured {
                            counters.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::debug!(partition = id, code, "Fetch partition error");
                        continue;
                    }
                }
                let records = partition.records.as_deref().unwrap_or_default();
                let read = complete_batches(records);
                if measured {
                    counters.messages.fetch_add(read.records, Ordering::Relaxed);
                    counters.bytes.fetch_add(read.bytes, Ordering::Relaxed);
                }
                let next = read.next_offset.unwrap_or_else(|| self.position(id));
                // Read to the end: start again from the log start.
                let next = if next >= partition.high_watermark { partition.log_start_offset.max(0) } else { next };
                self.positions.insert(id, next);
            }
        }
        Ok(latencies)
    }

    fn position(&self, partition: i32) -> i64 {
        self.positions.get(&partition).copied().unwrap_or(0)
    }

    fn request(&self) -> FetchRequest {
        let partitions = self
            .partitions
            .iter()
            .map(|&p| FetchPartition::default().with_partition(p).with_fetch_offset(self.position(p)).with_partition_max_bytes(self.args.partition_max_bytes))
            .collect();
        FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(self.args.max_bytes)
            .with_topics(vec![FetchTopic::default().with_topic(TopicName(StrBytes::from_string(self.args.topic.clone()))).with_partitions(partitions)])
    }
}

/// What the complete batches at the front of a Fetch answer's records hold.
#[derive(Debug, Default, PartialEq, Eq)]
struct BatchesRead {
    records: u64,
    bytes: u64,
    /// The offset after the last complete batch, when there is one.
    next_offset: Option<i64>,
}

/// Walks the record batches of `records` (a partition's answer may end in a cut batch, which
/// is left for the next Fetch). Magic 2 batches give their record count and last offset delta;
/// an older message set's entry counts as one record at its own offset.
fn complete_batches(records: &[u8]) -> BatchesRead {
    let mut read = BatchesRead::default();
    let mut at = 0usize;
    while let Some(head) = records.get(at..at + 12) {
        let base_offset = i64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let Ok(length) = usize::try_from(i32::from_be_bytes(head[8..12].try_into().unwrap_or_default())) else { break };
        let Some(batch) = records.get(at..at + 12 + length) else { break };
        let (count, last_offset) = match batch.get(16) {
            Some(2) if batch.len() >= 61 => {
                let last_delta = i32::from_be_bytes(batch[23..27].try_into().unwrap_or_default());
                let count = i32::from_be_bytes(batch[57..61].try_into().unwrap_or_default());
                (u64::try_from(count).unwrap_or(0), base_offset + i64::from(last_delta))
            }
            _ => (1, base_offset),
        };
        read.records += count;
        read.bytes += batch.len() as u64;
        read.next_offset = Some(last_offset + 1);
        at += batch.len();
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A magic-2 batch header of `records` records from `base`, with `body` bytes after it.
    fn batch(base: i64, records: i32, body: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&base.to_be_bytes());
        b.extend_from_slice(&((49 + body) as i32).to_be_bytes()); // length after this field
        b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
        b.push(2); // magic
        b.extend_from_slice(&0u32.to_be_bytes()); // crc
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes
        b.extend_from_slice(&(records - 1).to_be_bytes()); // last offset delta
        b.extend_from_slice(&[0; 8 + 8 + 8 + 2 + 4]); // timestamps, producer id, epoch, sequence
        b.extend_from_slice(&records.to_be_bytes());
        b.extend(std::iter::repeat_n(0u8, body));
        b
    }

    #[test]
    fn complete_batches_are_counted_and_a_cut_one_is_left_for_the_next_fetch() {
        let mut records = batch(10, 5, 100);
        records.extend(batch(15, 3, 40));
        let whole = records.len() as u64;
        let cut = batch(18, 7, 500);
        records.extend_from_slice(&cut[..200]);
        assert_eq!(complete_batches(&records), BatchesRead { records: 8, bytes: whole, next_offset: Some(18) });
        assert_eq!(complete_batches(&cut[..30]), BatchesRead::default());
        assert_eq!(complete_batches(&[]), BatchesRead::default());
    }

    #[test]
    fn a_length_that_cannot_be_is_the_end_not_a_panic() {
        let mut records = batch(0, 1, 0);
        records[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(complete_batches(&records), BatchesRead::default());
        records[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(complete_batches(&records), BatchesRead::default());
    }
}
