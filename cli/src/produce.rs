//! `fjord produce`: one record per input line, from stdin or a file, with optional keys
//! (`--key-separator`), headers and a fixed partition. Exits 0 only when every record was
//! acknowledged; a progress bar on stderr while a large file is read, a summary at the end.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use serde::Serialize;

use crate::client::producer_tuning::ProducerTuning;
use crate::client::{ClientArgs, parse_duration, parse_key_value};
use crate::output::{OutputArgs, print_json};
use crate::summary::{human_bytes, plural};

/// Options of `fjord produce`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each line of input becomes one record (the newline is not part of it). With --key-separator, \
the text before the first separator is the key and the rest the value; a line without the \
separator is an error. Records with the same key go to the same partition.

Exit status: 0 when every record was acknowledged, 1 otherwise (the error says how many were \
not).

Examples:
  echo 'hello' | fjord produce greetings
  fjord produce orders --file orders.txt --key-separator :
  fjord produce orders --header source=import --header batch=7 < orders.txt
  fjord produce logs --acks 1 --compression zstd --file app.log")]
pub struct ProduceArgs {
    /// Topic to write to (created on first use when the broker allows it)
    pub topic: String,

    /// Read lines from this file instead of stdin
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Split each line into key and value at the first occurrence of SEP
    #[arg(long, short = 'K', value_name = "SEP")]
    pub key_separator: Option<String>,

    /// A header on every record, e.g. --header source=cli (repeatable)
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub headers: Vec<(String, String)>,

    /// Write every record to this partition instead of choosing by key
    #[arg(long, short = 'p', value_name = "N")]
    pub partition: Option<i32>,

    #[command(flatten)]
    pub tuning: ProducerTuning,

    /// How long a record may wait for its acknowledgement before it counts as failed
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Delivery reports, counted by the producer's callback.
#[derive(Debug, Default)]
struct Deliveries {
    acknowledged: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<KafkaError>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.clone());
                }
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    topic: String,
    records: u64,
    bytes: u64,
    failed: u64,
    seconds: f64,
}

pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let mut config = args.client.config();
    args.tuning.apply(&mut config);
    config
        .set("message.timeout.ms", args.timeout.as_millis().to_string())
        // Keys land on the partitions Kafka's Java client (murmur2) would choose.
        .set("partitioner", "murmur2_random");
    args.client.apply_overrides(&mut config);
    let producer: BaseProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .context("could not create the Kafka producer; check the -X properties and producer options")?;

    let (input, size): (Box<dyn Read>, Option<u64>) = match &args.file {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("could not open {}", path.display()))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        }
        None => (Box::new(std::io::stdin().lock()), None),
    };
    let progress = progress_bar(size);
    let mut headers = OwnedHeaders::new_with_capacity(args.headers.len());
    for (key, value) in &args.headers {
        headers = headers.insert(Header { key, value: Some(value) });
    }

    let started = Instant::now();
    let sent = send_lines(&args, &producer, BufReader::with_capacity(1 << 20, input), &headers, &progress);
    // Whatever happened while reading, wait for the records already handed to the producer.
    let flushed = producer.flush(args.timeout + Duration::from_secs(5));
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    let deliveries = producer.context();
    let acknowledged = deliveries.acknowledged.load(Ordering::Relaxed);
    let failed = deliveries.failed.load(Ordering::Relaxed);
    let (lines, bytes) = match sent {
        Ok(counts) => counts,
        Err(error) => {
            return Err(error.context(format!(
                "stopped reading; {} before it {} acknowledged",
                plural(acknowledged as usize, "record"),
                if acknowledged == 1 { "was" } else { "were" }
            )));
        }
    };
    let unacknowledged = lines.saturating_sub(acknowledged);
    if unacknowledged > 0 || flushed.is_err() {
        let first = deliveries.first_error.lock().ok().and_then(|e| e.clone());
        let cause = match first {
            Some(e) => format!("first error: {e}"),
            None => format!("no acknowledgement within {}", humantime::format_duration(args.timeout)),
        };
        bail!(
            "{} of {} not acknowledged ({cause}); {}",
            plural(unacknowledged as usize, "record"),
            lines,
            args.client.reach_hint()
        );
    }

    let summary = Summary {
        topic: args.topic.clone(),
        records: acknowledged,
        bytes,
        failed,
        seconds: elapsed.as_secs_f64(),
    };
    if args.output.json() {
        return print_json(&summary);
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "Produced {} ({}) to `{}` in {:.2} s ({:.0} records/s, acks={}).",
        plural(acknowledged as usize, "record"),
        human_bytes(bytes),
        args.topic,
        secs,
        acknowledged as f64 / secs,
        args.tuning.acks
    );
    Ok(())
}

/// Hands every line to the producer; returns (records sent, key+value bytes).
fn send_lines(
    args: &ProduceArgs,
    producer: &BaseProducer<Deliveries>,
    mut input: impl BufRead,
    headers: &OwnedHeaders,
    progress: &ProgressBar,
) -> anyhow::Result<(u64, u64)> {
    let mut line = Vec::new();
    let (mut number, mut bytes) = (0u64, 0u64);
    loop {
        line.clear();
        let read = input.read_until(b'\n', &mut line).context("could not read the input")?;
        if read == 0 {
            return Ok((number, bytes));
        }
        number += 1;
        progress.inc(read as u64);
        let text = strip_newline(&line);
        let (key, value) = match &args.key_separator {
            Some(sep) => match split_once(text, sep.as_bytes()) {
                Some((key, value)) => (Some(key), value),
                None => bail!(
                    "line {number} has no key separator `{sep}`; every line needs KEY{sep}VALUE when --key-separator is given"
                ),
            },
            None => (None, text),
        };
        bytes += (key.map_or(0, <[u8]>::len) + value.len()) as u64;
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&args.topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        if headers.count() > 0 {
            record = record.headers(headers.clone());
        }
        send(producer, record).with_context(|| format!("could not produce line {number}"))?;
        if number % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
}

/// Sends one record, waiting while the producer's queue is full.
fn send<'a>(
    producer: &BaseProducer<Deliveries>,
    mut record: BaseRecord<'a, [u8], [u8]>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(50));
            }
            Err((error, _)) => return Err(error),
        }
    }
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    match size {
        Some(size) => {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}, {eta} left")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        // Someone typing records: a spinner would draw over their input.
        None if std::io::stdin().is_terminal() => ProgressBar::hidden(),
        None => {
            let spinner = ProgressBar::new_spinner();
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner
        }
    }
}

/// The line without its `\n` (or `\r\n`).
fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn split_once<'a>(text: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if sep.is_empty() {
        return None;
    }
    let at = text.windows(sep.len()).position(|w| w == sep)?;
    Some((&text[..at], &text[at + sep.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_line_ending() {
        assert_eq!(strip_newline(b"a\n"), b"a");
        assert_eq!(strip_newline(b"a\r\n"), b"a");
        assert_eq!(strip_newline(b"a"), b"a");
        assert_eq!(strip_newline(b"\n"), b"");
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        assert_eq!(split_once(b"k:v:w", b":"), Some((&b"k"[..], &b"v:w"[..])));
        assert_eq!(split_once(b"k::v", b"::"), Some((&b"k"[..], &b"v"[..])));
        assert_eq!(split_once(b":v", b":"), Some((&b""[..], &b"v"[..])));
        assert_eq!(split_once(b"kv", b":"), None);
    }
}
