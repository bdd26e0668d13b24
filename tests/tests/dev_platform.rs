//! `fjord dev` as a developer runs it: start it on a data directory, produce and consume with
//! a real client (rdkafka), stop it with Ctrl-C (SIGINT), start it again on the same data
//! directory, and find every record and the group's committed offsets still there.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fjord_tests::{fjord_bin, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use rustix::process::{Pid, Signal, kill_process};

/// How long `fjord dev` may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for producing, consuming and admin calls.
const LONG: Duration = Duration::from_secs(120);
const RECORDS: usize = 10_000;
const PARTITIONS: i32 = 3;
/// Records the group consumes (and commits) before the restart.
const CONSUMED_BEFORE: usize = 4_000;

/// A running `fjord dev`: killed (SIGKILL) and reaped when dropped, so a failing assertion
/// never leaves one behind; prints what it said if the test is failing.
struct Dev {
    child: Option<Child>,
    output: Arc<Mutex<String>>,
    kafka_port: u16,
}

impl Dev {
    /// Starts `fjord dev` on `data_dir` with free loopback ports and waits for its
    /// `Ready.` line (retrying on other ports if one was taken meanwhile).
    fn start(data_dir: &Path) -> Self {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(data_dir) {
                Ok(dev) => return dev,
                Err(output) if output.to_lowercase().contains("address already in use") => {
                    last = output;
                }
                Err(output) => panic!("fjord dev did not become ready; it printed:\n{output}"),
            }
        }
        panic!("fjord dev could not bind free ports in 5 attempts; last output:\n{last}")
    }

    fn try_start(data_dir: &Path) -> Result<Self, String> {
        let (kafka_port, metrics_port) = free_port_pair();
        let mut cmd = Command::new(fjord_bin());
        cmd.arg("dev")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{kafka_port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(["--connect-listen", "127.0.0.1:0"]);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FJORD_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", fjord_bin().display()));
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        // Both pipes are drained for the life of the process so it never blocks on them.
        spawn_reader(stdout, Arc::clone(&output), Some(ready_tx));
        spawn_reader(stderr, Arc::clone(&output), None);
        let mut dev = Dev {
            child: Some(child),
            output,
            kafka_port,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match ready_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => return Ok(dev),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed before the ready line: the process is exiting.
                    let status = dev.wait_for_exit(Duration::from_secs(10));
                    thread::sleep(Duration::from_millis(100));
                    return Err(format!("(exit: {status:?})\n{}", dev.output()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= deadline {
                let printed = dev.output();
                drop(dev);
                panic!(
                    "fjord dev printed no `Ready.` line within {READY_TIMEOUT:?}; killed it. It printed:\n{printed}"
                );
            }
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    /// Everything it printed so far (stdout and stderr interleaved by line).
    fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (Ctrl-C) and asserts a clean exit: status 0 within a minute.
    fn interrupt(&mut self) {
        let child = self.child.as_ref().expect("fjord dev is running");
        let pid = i32::try_from(child.id())
            .ok()
            .and_then(Pid::from_raw)
            .expect("a positive process id");
        kill_process(pid, Signal::INT).expect("send SIGINT");
        match self.wait_for_exit(STOP_TIMEOUT) {
            Some(status) => assert!(
                status.success(),
                "fjord dev exited with {status} after SIGINT; it printed:\n{}",
                self.output()
            ),
            None => panic!(
                "fjord dev did not exit within {STOP_TIMEOUT:?} of SIGINT; it printed:\n{}",
                self.output()
            ),
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("--- fjord dev output ---\n{}\n--- end ---", self.output());
        }
    }
}

/// Copies `pipe` line by line into `output`; signals `ready` at the `Ready.` line.
fn spawn_reader(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    ready: Option<mpsc::Sender<()>>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Ok(mut all) = output.lock() {
                all.push_str(&line);
            }
            if line.starts_with("Ready.")
                && let Some(ready) = &ready
            {
                let _ = ready.send(());
            }
        }
    });
}

/// Two distinct loopback ports that were free a moment ago.
fn free_port_pair() -> (u16, u16) {
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let ports = (
        a.local_addr().expect("address").port(),
        b.local_addr().expect("address").port(),
    );
    drop((a, b));
    ports
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &options,
        ))
        .expect("CreateTopics");
    for result in results {
        result.unwrap_or_else(|(t, e)| panic!("creating {t} failed: {e}"));
    }
}

/// Counts acknowledged and failed deliveries.
#[derive(Default)]
struct Deliveries {
    acked: AtomicUsize,
    failed: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                if let Ok(mut failed) = self.failed.lock() {
                    failed.push(e.to_string());
                }
            }
        }
    }
}

/// Produces `value-<i>` keyed `key-<i % 100>` for every `i < RECORDS` with acks=all and
/// asserts every one was acknowledged.
fn produce_all(bootstrap: &str, topic: &str) {
    let producer: ThreadedProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create_with_context(Deliveries::default())
        .expect("producer");
    for i in 0..RECORDS {
        let key = format!("key-{}", i % 100);
        let value = format!("value-{i}");
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        let deadline = Instant::now() + LONG;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        && Instant::now() < deadline =>
                {
                    record = r;
                    thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("send failed: {e}"),
            }
        }
    }
    producer
        .flush(LONG)
        .expect("every record acknowledged in time");
    let context = producer.context();
    let failed = context.failed.lock().map(|f| f.clone()).unwrap_or_default();
    assert!(
        failed.is_empty(),
        "deliveries failed: {:?}",
        &failed[..failed.len().min(10)]
    );
    assert_eq!(
        context.acked.load(Ordering::Relaxed),
        RECORDS,
        "acknowledged deliveries"
    );
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("consumer")
}

/// One consumed record: (partition, offset, value).
type Seen = (i32, i64, String);

/// Polls `consumer` until `wanted` records arrived (bounded).
fn poll_records(consumer: &BaseConsumer, wanted: usize) -> Vec<Seen> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + LONG;
    while seen.len() < wanted {
        assert!(
            Instant::now() < deadline,
            "only {} of {wanted} records within {LONG:?}",
            seen.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let value = m
                    .payload_view::<str>()
                    .and_then(Result::ok)
                    .unwrap_or_default()
                    .to_owned();
                seen.push((m.partition(), m.offset(), value));
            }
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            None => {}
        }
    }
    seen
}

/// Polls for `quiet` more and returns whatever else arrived.
fn poll_extra(consumer: &BaseConsumer, quiet: Duration) -> Vec<Seen> {
    let mut extra = Vec::new();
    let deadline = Instant::now() + quiet;
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            extra.push((m.partition(), m.offset(), String::new()));
        }
    }
    extra
}

/// The group's committed offsets on every partition of `topic` (`None`: nothing committed).
fn committed(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, Option<i64>> {
    let consumer = group_consumer(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(30))
        .expect("OffsetFetch");
    got.elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            (e.partition(), offset)
        })
        .collect()
}

/// Reads the whole topic from the beginning (assigned, no group) and returns the values.
fn read_all(bootstrap: &str, topic: &str) -> Vec<Seen> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("dev-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("assign from the beginning");
    }
    consumer.assign(&tpl).expect("assign");
    let mut records = poll_records(&consumer, RECORDS);
    records.extend(poll_extra(&consumer, Duration::from_secs(2)));
    records
}

/// Checks that `records` hold every `value-<i>` exactly once, offsets dense per partition.
#[track_caller]
fn assert_all_records(records: &[Seen], when: &str) {
    assert_eq!(records.len(), RECORDS, "{when}: number of records read");
    let values: BTreeSet<&str> = records.iter().map(|(_, _, v)| v.as_str()).collect();
    let expected: Vec<String> = (0..RECORDS).map(|i| format!("value-{i}")).collect();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(values, expected, "{when}: the values read");
    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o, _) in records {
        per_partition.entry(*p).or_default().push(*o);
    }
    for (p, offsets) in &per_partition {
        assert_eq!(
            *offsets,
            (0..offsets.len() as i64).collect::<Vec<_>>(),
            "{when}: partition {p} offsets"
        );
    }
}

#[test]
fn dev_keeps_records_and_committed_offsets_across_a_ctrl_c_restart() {
    let data = tempfile::tempdir().expect("temporary directory");
    let topic = unique_name("dev-records");
    let group = unique_name("dev-group");

    // First run: produce everything, consume part of it with a group and commit.
    let mut dev = Dev::start(data.path());
    let bootstrap = dev.bootstrap();
    create_topic(&bootstrap, &topic, PARTITIONS);
    produce_all(&bootstrap, &topic);

    let consumer = group_consumer(&bootstrap, &group);
    consumer.subscribe(&[&topic]).expect("subscribe");
    let first = poll_records(&consumer, CONSUMED_BEFORE);
    // What the group has consumed: the next offset per partition.
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o, _) in &first {
        let next = positions.entry(*p).or_default();
        *next = (*next).max(o + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, next) in &positions {
        tpl.add_partition_offset(&topic, *p, Offset::Offset(*next))
            .expect("offset");
    }
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    drop(consumer); // leaves the group

    let committed_before = committed(&bootstrap, &group, &topic);
    let expected_committed: BTreeMap<i32, Option<i64>> = (0..PARTITIONS)
        .map(|p| (p, positions.get(&p).copied()))
        .collect();
    assert_eq!(
        committed_before, expected_committed,
        "committed offsets before the restart"
    );
    assert_all_records(&read_all(&bootstrap, &topic), "before the restart");

    dev.interrupt();
    drop(dev);

    // Second run on the same data directory.
    let mut dev = Dev::start(data.path());
    let bootstrap = dev.bootstrap();
    assert_all_records(&read_all(&bootstrap, &topic), "after the restart");
    assert_eq!(
        committed(&bootstrap, &group, &topic),
        committed_before,
        "committed offsets after the restart"
    );

    // The group resumes where it committed: exactly the records it had not read.
    let consumer = group_consumer(&bootstrap, &group);
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut rest = poll_records(&consumer, RECORDS - CONSUMED_BEFORE);
    rest.extend(poll_extra(&consumer, Duration::from_secs(2)));
    let already: BTreeSet<(i32, i64)> = first.iter().map(|(p, o, _)| (*p, *o)).collect();
    let reread: Vec<_> = rest
        .iter()
        .filter(|(p, o, _)| already.contains(&(*p, *o)))
        .take(10)
        .collect();
    assert!(
        reread.is_empty(),
        "the group re-read committed records: {reread:?}"
    );
    let mut all = first;
    all.extend(rest);
    assert_all_records(&all, "the group's two runs together");
    drop(consumer);

    dev.interrupt();
}
