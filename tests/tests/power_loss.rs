//! Power loss, simulated: a broker under the power-loss shim (see `fjord_tests::PowerLossShim`
//! and tests/src/power_loss.rs for the model) is SIGKILLed while producers are in flight, its
//! data directory is cut back to what a power loss could have left, and a broker started
//! without the shim must serve every acks=all record it acknowledged, at its offset, and
//! nothing that was never produced.
//!
//! Seeds: each round prints its seed. `FJORD_POWER_LOSS_SEED=<seed>` runs that one round (the
//! same workload, kill point and cut choices; what the broker had written when it was killed
//! still depends on timing), `FJORD_POWER_LOSS_ROUNDS=<n>` changes how many rounds run.
//! `FJORD_TEST_KEEP=1` keeps a failed round's directory: `data.before-cut` (as the broker
//! left it), `power-loss/` (the shim's journal and durable images) and `data` (cut, then
//! recovered and appended to by the second broker). The cut itself replays exactly from a
//! kept directory: `shim.session(&dir.join("data.before-cut"), &dir.join("power-loss"))
//! .cut_into(seed, &target)`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fjord_tests::{BrokerProcess, CutReport, PowerLossShim, Rng, run, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

/// The acks=all topic and its partitions.
const DURABLE: &str = "durable";
const DURABLE_PARTITIONS: i32 = 3;
/// The acks=1 topic and its partitions.
const FAST: &str = "fast";
const FAST_PARTITIONS: i32 = 2;
/// Small segments, so that rolls (and their deferred fsyncs) happen many times per round.
const SEGMENT_BYTES: &str = "65536";
/// acks=all producers.
const PRODUCERS: usize = 3;
/// Rounds per test unless FJORD_POWER_LOSS_ROUNDS says otherwise; no new round starts once a
/// test has run this long.
const ROUNDS: usize = 4;
const ROUNDS_BUDGET: Duration = Duration::from_secs(25);
/// Upper bound for any wait on the broker or the clients.
const WAIT: Duration = Duration::from_secs(60);
/// A reader that gets nothing for this long while the high watermark says there is more is
/// stuck (the broker serves an offset range it has no records for).
const STUCK: Duration = Duration::from_secs(20);
/// Records produced after the restart, per acks=all partition.
const AFTER_RESTART: usize = 10;

// ---------------------------------------------------------------------------------------------
// The simulation on its own, driven by shell tools (dd, mv, sync): a fast check of the shim and
// the cut that needs no broker.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_power_cut_keeps_fsynced_bytes_and_names_and_may_lose_everything_else() {
    let shim = PowerLossShim::build();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let pattern = |len: usize, salt: u8| (0..len).map(|i| (i % 251) as u8 ^ salt).collect::<Vec<u8>>();
    let (synced, unsynced, never) = (pattern(12_288, 1), pattern(8_192, 2), pattern(100, 3));
    fs::write(dir.join("synced"), &synced).unwrap();
    fs::write(dir.join("unsynced"), &unsynced).unwrap();
    fs::write(dir.join("never"), &never).unwrap();
    let watch = dir.join("w");
    fs::create_dir(&watch).unwrap();
    let session = shim.session(&watch, &dir.join("state"));
    let script = "set -e
        mkdir w/d
        dd if=synced of=w/d/a bs=4096 conv=fsync status=none             # 12 KiB, fsynced
        dd if=unsynced of=w/d/a bs=4096 seek=3 conv=notrunc status=none  # 8 KiB more, not
        mv w/d/a w/d/c    # a rename ...
        sync w/d          # ... made durable by a directory fsync
        dd if=never of=w/b status=none                                   # never fsynced
        mv w/d/c w/e      # a rename nothing makes durable";
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]).current_dir(dir).envs(session.env());
    run(&mut cmd, None, WAIT).assert_success();
    let journal = session.journal();

    let mut seen = HashSet::new();
    for seed in 0..64 {
        let target = dir.join(format!("cut-{seed}"));
        let report = session.cut_into(seed, &target);
        assert!(report.anomalies.is_empty(), "{report}\njournal:\n{journal}");
        let context = || format!("seed {seed}: {report}journal:\n{journal}");
        assert!(target.join("d").is_dir(), "{}", context());
        assert!(!target.join("d/a").exists(), "a durable rename was undone; {}", context());
        let file = match (fs::read(target.join("d/c")), fs::read(target.join("e"))) {
            (Ok(bytes), Err(_)) => {
                seen.insert("second rename undone");
                bytes
            }
            (Err(_), Ok(bytes)) => {
                seen.insert("second rename kept");
                bytes
            }
            _ => panic!("the renamed file must exist under exactly one name; {}", context()),
        };
        assert!((12_288..=20_480).contains(&file.len()), "length {}; {}", file.len(), context());
        assert_eq!(file[..12_288], synced[..], "fsynced bytes changed; {}", context());
        for (i, &b) in file[12_288..].iter().enumerate() {
            assert!(b == unsynced[i] || b == 0, "byte {} is neither written nor zero; {}", 12_288 + i, context());
        }
        seen.insert(if file[12_288..] == unsynced[..] { "unsynced bytes all kept" } else { "unsynced bytes lost" });
        match fs::read(target.join("b")) {
            Ok(bytes) => {
                seen.insert("never-fsynced file kept");
                assert!(bytes.len() <= never.len(), "{}", context());
                assert!(bytes.iter().zip(&never).all(|(b, n)| b == n || *b == 0), "{}", context());
            }
            Err(_) => {
                seen.insert("never-fsynced file vanished");
            }
        }
        // Deterministic: the same seed cuts the same way.
        let again = dir.join(format!("again-{seed}"));
        session.cut_into(seed, &again);
        for name in ["d/c", "e", "b"] {
            assert_eq!(fs::read(target.join(name)).ok(), fs::read(again.join(name)).ok(), "seed {seed}, {name}");
        }
    }
    for outcome in [
        "second rename undone",
        "second rename kept",
        "unsynced bytes all kept",
        "unsynced bytes lost",
        "never-fsynced file kept",
        "never-fsynced file vanished",
    ] {
        assert!(seen.contains(outcome), "no seed gave `{outcome}`; saw {seen:?}\njournal:\n{journal}");
    }
}

// ---------------------------------------------------------------------------------------------
// The broker under the simulation.
// ---------------------------------------------------------------------------------------------

/// Acks=all records the broker acknowledged survive the cut, at their offsets, and nothing
/// else is served than what was produced.
#[test]
fn acknowledged_acks_all_records_survive_a_simulated_power_loss() {
    rounds_without_problems(DEFAULTS);
}

/// The same with the acks=1 topic's segments not preallocated (`preallocate=false`, or a file
/// system without fallocate): appends then grow the file, and after a power loss an unflushed
/// sealed segment can come back shorter than its successor's base — even empty — with no
/// zeros to give the hole away (ext4's delayed allocation updates the size on disk at
/// writeback, while the next segment's creation is committed by the journal).
///
/// `PartitionLog::open` counts such a segment past the recovery point as a hole and drops the
/// segments after it, so no offset range without records is kept (before that fix: `fast-0`
/// with an empty segment 0 and an empty active segment at 78, a consumer at 0 never
/// progressing; seed 881528448 left `fast-1` readable up to 1641 with a log end of 1719).
#[test]
fn unflushed_segments_that_were_not_preallocated_recover_without_a_hole() {
    rounds_without_problems(Setup { fast_preallocate: false, ..DEFAULTS });
}

/// Runs seeded rounds (bounded by [`ROUNDS_BUDGET`]) and fails on the first with a problem
/// or a lost acks=all record.
fn rounds_without_problems(setup: Setup) {
    let shim = PowerLossShim::build();
    let started = Instant::now();
    for (rounds, seed) in seeds().into_iter().enumerate() {
        if rounds > 0 && started.elapsed() > ROUNDS_BUDGET {
            eprintln!("power-loss: time budget used after {rounds} rounds");
            break;
        }
        let outcome = round(&shim, seed, setup);
        eprintln!("{}", outcome.summary());
        assert!(
            outcome.problems.is_empty() && outcome.lost_acks_all.is_empty(),
            "power-loss round with seed {seed} failed:\n{}",
            outcome.details()
        );
    }
}

/// The simulation has teeth: with `--flush-on-acks-all false` the broker acknowledges acks=all
/// records from the page cache, and the cut loses some of them. (Everything else must still
/// hold: nothing served that was not produced, no gaps, produce works after the restart.)
#[test]
fn the_simulated_power_loss_loses_acks_all_records_acknowledged_without_fsync() {
    let shim = PowerLossShim::build();
    let mut lost = Vec::new();
    for seed in seeds() {
        let outcome = round(&shim, seed, Setup { flush_on_acks_all: false, ..DEFAULTS });
        eprintln!("{}", outcome.summary());
        assert!(outcome.problems.is_empty(), "power-loss round with seed {seed} failed:\n{}", outcome.details());
        lost.push((seed, outcome.lost_acks_all.len()));
        if !outcome.lost_acks_all.is_empty() {
            break;
        }
    }
    assert!(
        lost.iter().any(|(_, n)| *n > 0),
        "no round lost an acks=all record acknowledged without fsync; the simulation keeps \
         unsynced data: (seed, lost) {lost:?}"
    );
}

/// The seeds to run: FJORD_POWER_LOSS_SEED alone, or FJORD_POWER_LOSS_ROUNDS (default
/// [`ROUNDS`]) seeds drawn from the clock.
fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("FJORD_POWER_LOSS_SEED") {
        let seed = seed.trim().parse().expect("FJORD_POWER_LOSS_SEED must be an unsigned integer");
        return vec![seed];
    }
    let rounds = std::env::var("FJORD_POWER_LOSS_ROUNDS")
        .ok()
        .map_or(ROUNDS, |n| n.trim().parse().expect("FJORD_POWER_LOSS_ROUNDS must be a count"));
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default();
    let mut rng = Rng::new(clock ^ u64::from(std::process::id()));
    (0..rounds).map(|_| rng.next_u64() % 1_000_000_000).collect()
}

#[derive(Debug, Clone)]
struct Ack {
    partition: i32,
    offset: i64,
    value: String,
}

/// What one round saw.
struct Outcome {
    seed: u64,
    setup: Setup,
    acked_acks_all: usize,
    acked_acks_one: usize,
    lost_acks_all: Vec<Ack>,
    lost_acks_one: usize,
    served: usize,
    problems: Vec<String>,
    cut: CutReport,
    kept_dir: Option<String>,
    elapsed: Duration,
    /// (phase, seconds), for the summary.
    phases: Vec<(&'static str, f64)>,
}

impl Outcome {
    fn summary(&self) -> String {
        format!(
            "power-loss round seed {} ({:?}): {} acks=all and {} acks=1 records acknowledged; \
             lost {} acks=all and {} acks=1; {} records served after the cut; {} problems; {:.1} s ({}); \
             cut kept {}/{} journaled operations, changed {} of {} files, {} vanished \
             (replay: FJORD_POWER_LOSS_SEED={})",
            self.seed,
            self.setup,
            self.acked_acks_all,
            self.acked_acks_one,
            self.lost_acks_all.len(),
            self.lost_acks_one,
            self.served,
            self.problems.len(),
            self.elapsed.as_secs_f64(),
            self.phases.iter().map(|(name, secs)| format!("{name} {secs:.1}")).collect::<Vec<_>>().join(", "),
            self.cut.ops_kept,
            self.cut.ops_total,
            self.cut.changed.len(),
            self.cut.files,
            self.cut.vanished.len(),
            self.seed,
        )
    }

    fn details(&self) -> String {
        let mut text = self.summary();
        text.push('\n');
        for problem in self.problems.iter().take(30) {
            text.push_str(&format!("  problem: {problem}\n"));
        }
        for ack in self.lost_acks_all.iter().take(30) {
            text.push_str(&format!("  lost acks=all record: {DURABLE}-{} offset {} ({:.40}…)\n", ack.partition, ack.offset, ack.value));
        }
        text.push_str(&self.cut.to_string());
        match &self.kept_dir {
            Some(dir) => text.push_str(&format!("kept the round's directory: {dir}\n")),
            None => text.push_str("set FJORD_TEST_KEEP=1 to keep the round's directory\n"),
        }
        text
    }
}

/// How a round runs the broker.
#[derive(Debug, Clone, Copy)]
struct Setup {
    /// `--flush-on-acks-all` of the broker under the shim (false: acks=all is acknowledged
    /// from the page cache).
    flush_on_acks_all: bool,
    /// `preallocate` of the acks=1 topic.
    fast_preallocate: bool,
}

const DEFAULTS: Setup = Setup { flush_on_acks_all: true, fast_preallocate: true };

/// Times the phases of a round.
struct Phases {
    at: Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    fn new() -> Self {
        Self { at: Instant::now(), done: Vec::new() }
    }

    fn end(&mut self, name: &'static str) {
        self.done.push((name, self.at.elapsed().as_secs_f64()));
        self.at = Instant::now();
    }
}

/// One round: a broker under the shim, producers in flight, SIGKILL at a seeded point, the
/// cut, a broker without the shim, and the checks.
fn round(shim: &PowerLossShim, seed: u64, setup: Setup) -> Outcome {
    let Setup { flush_on_acks_all, fast_preallocate } = setup;
    let started = Instant::now();
    let mut phases = Phases::new();
    eprintln!("power-loss round: seed {seed}, {setup:?}");
    let mut rng = Rng::new(seed.rotate_left(29) ^ 0x5EED_F10D);
    let mut scratch = tempfile::Builder::new().prefix("fjord-power-loss-").tempdir().unwrap();
    // With FJORD_TEST_KEEP, a round that panics half-way leaves its directory behind.
    let keep_env = std::env::var_os("FJORD_TEST_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
    scratch.disable_cleanup(keep_env);
    eprintln!("power-loss round directory: {}", scratch.path().display());
    let data = scratch.path().join("data");
    fs::create_dir(&data).unwrap();
    let session = shim.session(&data, &scratch.path().join("power-loss"));

    // 1. The broker under the shim, and the topics.
    // One `__consumer_offsets` partition instead of 50: fewer files to journal, cut and
    // fsync at the clean stop. The restarted broker must say the same.
    let mut builder = BrokerProcess::builder().data_dir(&data).arg("--offsets-topic-partitions").arg("1");
    for (key, value) in session.env() {
        builder = builder.env(key, value);
    }
    if !flush_on_acks_all {
        builder = builder.arg("--flush-on-acks-all").arg("false");
    }
    let mut doomed = builder.start();
    let bootstrap = doomed.bootstrap();
    create_topics(&bootstrap, &fast_preallocate.to_string());
    phases.end("start");

    // 2. Producers in flight; SIGKILL once a seeded number of acks=all records are in.
    let kill_after = rng.between(100, 1_500) as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Arc<Mutex<HashSet<String>>> = Arc::default();
    let acks_all: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let acks_one: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let acked_all_count = Arc::new(AtomicUsize::new(0));
    let mut producers = Vec::new();
    for id in 0..=PRODUCERS {
        let acks_all_records = id < PRODUCERS;
        let context = AckContext {
            acks: if acks_all_records { acks_all.clone() } else { acks_one.clone() },
            count: if acks_all_records { acked_all_count.clone() } else { Arc::new(AtomicUsize::new(0)) },
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", rng.between(0, 5).to_string())
            .set("compression.type", ["none", "lz4", "zstd", "snappy"][rng.below(4) as usize])
            .set("batch.size", rng.between(1_000, 32_000).to_string())
            .set("message.timeout.ms", "30000")
            .set("queue.buffering.max.messages", "500");
        if acks_all_records {
            config.set("acks", "all").set("enable.idempotence", "true");
        } else {
            // No retries: an acks=1 record is in the log at most once.
            config.set("acks", "1").set("enable.idempotence", "false").set("message.send.max.retries", "0");
        }
        let producer: BaseProducer<AckContext> = config.create_with_context(context).unwrap();
        let (topic, partitions, tag) = if acks_all_records { (DURABLE, DURABLE_PARTITIONS, "all") } else { (FAST, FAST_PARTITIONS, "one") };
        let (stop, sent, mut rng) = (stop.clone(), sent.clone(), rng.fork());
        producers.push(thread::spawn(move || produce_until_stopped(&producer, topic, partitions, &format!("{tag}:{id}"), &stop, &sent, &mut rng)));
    }
    let deadline = Instant::now() + WAIT;
    while acked_all_count.load(Ordering::SeqCst) < kill_after {
        if Instant::now() > deadline || producers.iter().any(|p| p.is_finished()) || !doomed.is_running() {
            stop.store(true, Ordering::SeqCst);
            let why = if !doomed.is_running() {
                "the broker under the shim exited"
            } else if producers.iter().any(|p| p.is_finished()) {
                "a producer thread stopped (panicked)"
            } else {
                "time is up"
            };
            doomed.fail(&format!(
                "{why} after {} of the {kill_after} acks=all acknowledgements the kill waits for",
                acked_all_count.load(Ordering::SeqCst)
            ));
        }
        thread::sleep(Duration::from_millis(1));
    }
    doomed.kill();
    stop.store(true, Ordering::SeqCst);
    for producer in producers {
        producer.join().expect("producer thread");
    }
    // Every acknowledgement the clients hold was sent before the broker died.
    let acks_all = std::mem::take(&mut *acks_all.lock().unwrap());
    let acks_one = std::mem::take(&mut *acks_one.lock().unwrap());
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    phases.end("produce");

    // 3. The power cut, and a broker without the shim on what is left.
    let cut = session.power_cut(seed);
    eprint!("{cut}");
    phases.end("cut");
    let mut recovered = BrokerProcess::builder().data_dir(&data).arg("--offsets-topic-partitions").arg("1").start();
    let bootstrap = recovered.bootstrap();
    phases.end("restart");

    // 4. The checks.
    let mut problems = Vec::new();
    let durable = read_topic(&bootstrap, DURABLE, DURABLE_PARTITIONS, &mut problems);
    let fast = read_topic(&bootstrap, FAST, FAST_PARTITIONS, &mut problems);
    for (topic, log) in [(DURABLE, &durable), (FAST, &fast)] {
        check_served(topic, log, &sent, &mut problems);
    }
    let lost_acks_all = check_acked(DURABLE, &durable, &acks_all, &mut problems);
    let lost_acks_one = check_acked(FAST, &fast, &acks_one, &mut problems).len();
    phases.end("check");

    // 5. Produce after the restart: new records go after what was recovered.
    produce_after_restart(&bootstrap, &durable, &mut problems);
    phases.end("produce again");
    recovered.stop();
    drop(doomed);
    phases.end("stop");
    let served = durable.values().chain(fast.values()).map(|p| p.records.len()).sum();
    let failed = !problems.is_empty() || (flush_on_acks_all && !lost_acks_all.is_empty());
    scratch.disable_cleanup(failed && keep_env);
    let kept_dir = (failed && keep_env).then(|| scratch.path().display().to_string());
    Outcome {
        seed,
        setup,
        acked_acks_all: acks_all.len(),
        acked_acks_one: acks_one.len(),
        lost_acks_all,
        lost_acks_one,
        served,
        problems,
        cut,
        kept_dir,
        elapsed: started.elapsed(),
        phases: phases.done,
    }
}

/// Creates the acks=all topic and the acks=1 one (`preallocate` as given).
fn create_topics(bootstrap: &str, fast_preallocate: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let topics = [
        NewTopic::new(DURABLE, DURABLE_PARTITIONS, TopicReplication::Fixed(1)).set("segment.bytes", SEGMENT_BYTES),
        NewTopic::new(FAST, FAST_PARTITIONS, TopicReplication::Fixed(1)).set("segment.bytes", SEGMENT_BYTES).set("preallocate", fast_preallocate),
    ];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results = rt
        .block_on(admin.create_topics(&topics, &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))))
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating {t} failed: {e}"));
    }
}

/// Records each successful delivery: the broker acknowledged it.
struct AckContext {
    acks: Arc<Mutex<Vec<Ack>>>,
    count: Arc<AtomicUsize>,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            self.acks.lock().unwrap().push(Ack { partition: message.partition(), offset: message.offset(), value });
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A value no other record has, of a seeded length: `<tag>:<seq>:<filler>`.
fn value(tag: &str, seq: u64, rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let len = rng.between(8, 1_500) as usize;
    let filler: String = (0..len).map(|_| CHARS[rng.below(CHARS.len() as u64) as usize] as char).collect();
    format!("{tag}:{seq}:{filler}")
}

/// Produces round-robin over the partitions until `stop`, then gives up on what is still
/// queued or in flight (the broker is dead) and serves the delivery reports already decided.
fn produce_until_stopped(
    producer: &BaseProducer<AckContext>,
    topic: &str,
    partitions: i32,
    tag: &str,
    stop: &AtomicBool,
    sent: &Mutex<HashSet<String>>,
    rng: &mut Rng,
) {
    let mut seq = 0u64;
    'produce: while !stop.load(Ordering::SeqCst) {
        let payload = value(tag, seq, rng);
        sent.lock().unwrap().insert(payload.clone());
        let mut record = BaseRecord::<(), String>::to(topic).payload(&payload).partition((seq % partitions as u64) as i32);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                    if stop.load(Ordering::SeqCst) {
                        break 'produce;
                    }
                }
                Err((e, _)) => panic!("{tag}: send failed: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
        seq += 1;
    }
    producer.purge(PurgeConfig::default().queue().inflight());
    let deadline = Instant::now() + Duration::from_secs(10);
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        producer.poll(Duration::from_millis(50));
    }
}

/// One partition as served after the restart.
#[derive(Debug, Default)]
struct PartitionLog {
    low: i64,
    high: i64,
    /// (offset, value) in the order fetched.
    records: Vec<(i64, String)>,
}

/// Reads every partition of `topic` from its low to its high watermark.
fn read_topic(bootstrap: &str, topic: &str, partitions: i32, problems: &mut Vec<String>) -> BTreeMap<i32, PartitionLog> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("power-loss-reader"))
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
        .create()
        .unwrap();
    let mut logs = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, WAIT).unwrap_or_else(|e| panic!("watermarks of {topic}-{p}: {e}"));
        if high > low {
            assignment.add_partition_offset(topic, p, Offset::Offset(low)).unwrap();
        }
        logs.insert(p, PartitionLog { low, high, records: Vec::new() });
    }
    consumer.assign(&assignment).unwrap();
    let done = |logs: &BTreeMap<i32, PartitionLog>| logs.values().all(|l| l.records.last().map_or(l.high <= l.low, |(o, _)| o + 1 >= l.high));
    let deadline = Instant::now() + WAIT;
    let mut progress = Instant::now();
    while !done(&logs) {
        if Instant::now() > deadline || progress.elapsed() > STUCK {
            let positions: Vec<String> = logs
                .iter()
                .map(|(p, l)| format!("{p}: at {} of {}..{}", l.records.last().map_or(l.low, |(o, _)| o + 1), l.low, l.high))
                .collect();
            problems.push(format!(
                "{topic}: reading stopped short of the high watermarks (no progress for {STUCK:?}): {}",
                positions.join(", ")
            ));
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                progress = Instant::now();
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                if let Some(log) = logs.get_mut(&m.partition()) {
                    log.records.push((m.offset(), value));
                }
            }
            Some(Err(e)) => {
                problems.push(format!("{topic}: consumer error: {e}"));
                if problems.len() > 20 {
                    break;
                }
            }
            None => {}
        }
    }
    logs
}

/// Served records are records that were produced, each once, at consecutive offsets from the
/// low watermark (a gap would mean the broker serves past a hole).
fn check_served(topic: &str, logs: &BTreeMap<i32, PartitionLog>, sent: &HashSet<String>, problems: &mut Vec<String>) {
    let mut seen = HashSet::new();
    for (p, log) in logs {
        let mut expected = log.low;
        for (offset, value) in &log.records {
            if *offset != expected {
                problems.push(format!("{topic}-{p}: offset {offset} served where {expected} was expected"));
            }
            expected = offset + 1;
            if !sent.contains(value) {
                problems.push(format!("{topic}-{p} offset {offset}: a value that was never produced: {:.60}", value));
            } else if !seen.insert(value.as_str()) {
                problems.push(format!("{topic}-{p} offset {offset}: a value served twice: {:.60}", value));
            }
        }
    }
}

/// Every acknowledged record still in the log is at its acknowledged offset; returns the ones
/// the log no longer reaches.
fn check_acked(topic: &str, logs: &BTreeMap<i32, PartitionLog>, acks: &[Ack], problems: &mut Vec<String>) -> Vec<Ack> {
    let by_offset: HashMap<(i32, i64), &str> =
        logs.iter().flat_map(|(p, l)| l.records.iter().map(move |(o, v)| ((*p, *o), v.as_str()))).collect();
    let mut lost = Vec::new();
    for ack in acks {
        match by_offset.get(&(ack.partition, ack.offset)) {
            Some(served) if *served == ack.value => {}
            Some(served) => problems.push(format!(
                "{topic}-{} offset {}: acknowledged {:.40}… but serves {:.40}…",
                ack.partition, ack.offset, ack.value, served
            )),
            None => lost.push(ack.clone()),
        }
    }
    lost
}

/// Produces [`AFTER_RESTART`] acks=all records per partition: they must be acknowledged at
/// the offsets right after what was recovered, and be read back.
fn produce_after_restart(bootstrap: &str, recovered: &BTreeMap<i32, PartitionLog>, problems: &mut Vec<String>) {
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let context = AckContext { acks: acks.clone(), count: Arc::new(AtomicUsize::new(0)) };
    let producer: BaseProducer<AckContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create_with_context(context)
        .unwrap();
    let mut values = HashSet::new();
    for p in 0..DURABLE_PARTITIONS {
        for i in 0..AFTER_RESTART {
            let value = format!("after-restart:{p}:{i}");
            producer.send(BaseRecord::<(), String>::to(DURABLE).payload(&value).partition(p)).unwrap();
            values.insert(value);
        }
    }
    if let Err(e) = producer.flush(WAIT) {
        problems.push(format!("produce after the restart: {e}"));
    }
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    if acks.len() != values.len() {
        problems.push(format!("produce after the restart: {} of {} records acknowledged", acks.len(), values.len()));
    }
    for p in 0..DURABLE_PARTITIONS {
        let end = recovered.get(&p).map_or(0, |l| l.high);
        let mut offsets: Vec<i64> = acks.iter().filter(|a| a.partition == p).map(|a| a.offset).collect();
        offsets.sort_unstable();
        let expected: Vec<i64> = (end..end + AFTER_RESTART as i64).collect();
        if offsets != expected {
            problems.push(format!("{DURABLE}-{p}: records produced after the restart got offsets {offsets:?}, expected {end}..{}", end + AFTER_RESTART as i64));
        }
    }
    let mut reread = Vec::new();
    let logs = read_topic(bootstrap, DURABLE, DURABLE_PARTITIONS, &mut reread);
    problems.extend(reread);
    check_acked(DURABLE, &logs, &acks, problems)
        .into_iter()
        .for_each(|a| problems.push(format!("{DURABLE}-{} offset {}: acknowledged after the restart but not served", a.partition, a.offset)));
}
