//! Broker-side WebAssembly transforms end to end, through `fjord transform` and real Kafka
//! clients: the PII masker deployed on a broker masks what a producer writes; after the
//! broker is SIGKILLed mid-stream and restarted (and, in a three-node cluster of `fjord broker`
//! processes and on `fjord dev --nodes 3`, after the input partition's leader is killed) the
//! transform resumes, and no input record is missing from the output while re-processed ones
//! stay within the uncommitted tail (counted and printed). Bad deployments are refused with a
//! clear message; records the plugin traps, loops or runs out of memory on go to the
//! dead-letter topic.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_tests::{BrokerProcess, ClusterProcess, fjord_bin, plugin_path, run, unique_name, wait_until};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// The most records a runner has past its committed offset (`UNCOMMITTED_LIMIT` plus one
/// batch of `BATCH_RECORDS`, log-core/src/transform/runner.rs): a crash re-processes at most
/// this many per partition.
const UNCOMMITTED_TAIL: usize = 5_000;

fn fjord(bootstrap: &str, args: &[&str]) -> fjord_tests::Output {
    let mut cmd = Command::new(fjord_bin());
    cmd.args(args).args(["-b", bootstrap]);
    run(&mut cmd, None, Duration::from_secs(120))
}

fn create_topic(bootstrap: &str, topic: &str, partitions: u32, replication: u32) {
    fjord(bootstrap, &["topic", "create", topic, "--partitions", &partitions.to_string(), "--replication-factor", &replication.to_string()]).assert_success();
}

fn deploy_masker(bootstrap: &str, name: &str, input: &str, output: &str) {
    let wasm = plugin_path("mask-pii");
    fjord(bootstrap, &["transform", "deploy", name, "--wasm", wasm.to_str().unwrap(), "--input", input, "--output", output]).assert_success();
}

/// A broker with single-partition topics `in-…` and `out-…`: (broker, bootstrap, input, output).
fn broker_with_input_and_output() -> (BrokerProcess, String, String, String) {
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let (input, output) = (unique_name("in"), unique_name("out"));
    create_topic(&bootstrap, &input, 1, 1);
    create_topic(&bootstrap, &output, 1, 1);
    (broker, bootstrap, input, output)
}

/// A JSON signup holding an e-mail address and a card number, with its id.
fn signup(id: u64) -> String {
    format!(r#"{{"id":{id},"email":"user{id}@example.com","card":"4111 1111 1111 1111","note":"pay with 5500-0000-0000-0004 or mail me at user{id}@example.com"}}"#)
}

fn produce(bootstrap: &str, topic: &str, ids: std::ops::Range<u64>) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create()
        .unwrap();
    for id in ids {
        let value = signup(id);
        let key = id.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(50));
        }
    }
    producer.flush(Duration::from_secs(120)).expect("every record acknowledged");
}

/// Every value of `topic` so far (all partitions, from the beginning): read until `expected`
/// ids are there or `deadline` passes, then a little longer so stray extras show.
fn read_output(bootstrap: &str, topic: &str, partitions: i32, expected: usize, deadline: Duration) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut values = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    let until = Instant::now() + deadline;
    let mut settle: Option<Instant> = None;
    while Instant::now() < until && settle.is_none_or(|s| Instant::now() < s) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let text = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
            ids.insert(id_of(&text));
            values.push(text);
        }
        if settle.is_none() && ids.len() >= expected {
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    values
}

fn id_of(value: &str) -> u64 {
    let json: serde_json::Value = serde_json::from_str(value).unwrap_or_else(|e| panic!("output {value:?} is not JSON: {e}"));
    json["id"].as_u64().unwrap_or_else(|| panic!("output {value:?} has no id"))
}

/// Checks that every input id is in the output and nothing personal is; returns how many
/// outputs are repeats.
fn check_masked(values: &[String], ids: std::ops::Range<u64>) -> usize {
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for value in values {
        assert!(!value.contains("@example.com"), "an e-mail address is not masked: {value}");
        assert!(!value.contains("4111 1111") && !value.contains("5500-0000"), "card digits are not masked: {value}");
        *seen.entry(id_of(value)).or_default() += 1;
    }
    let missing: Vec<u64> = ids.clone().filter(|id| !seen.contains_key(id)).collect();
    assert!(missing.is_empty(), "{} input records are missing from the output, e.g. {:?}", missing.len(), &missing[..missing.len().min(10)]);
    assert!(seen.keys().all(|id| ids.contains(id)), "the output holds ids that were never written");
    seen.values().map(|n| n - 1).sum()
}

fn describe(bootstrap: &str, name: &str) -> serde_json::Value {
    let out = fjord(bootstrap, &["transform", "describe", name, "--output", "json", "--timeout", "10s"]);
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap()
}

/// Starts a producer writing `ids` to `input` on another thread and returns once transform
/// `name` is busy with them (committed past the first round of 2000), the producer still
/// writing; prints each partition's committed and end offsets at that moment.
fn second_round_under_way(bootstrap: &str, input: &str, name: &str, ids: std::ops::Range<u64>) -> std::thread::JoinHandle<()> {
    let writer = {
        let (bootstrap, input) = (bootstrap.to_string(), input.to_string());
        std::thread::spawn(move || produce(&bootstrap, &input, ids))
    };
    let busy = wait_until("the transform to be busy with the second round", Duration::from_secs(60), Duration::from_millis(50), || {
        let d = describe(bootstrap, name);
        let committed: i64 = d["partitions"].as_array()?.iter().filter_map(|p| p["committed_offset"].as_i64()).sum();
        (committed > 2_500).then_some(d)
    });
    let at: Vec<String> = busy["partitions"].as_array().unwrap().iter().map(|p| format!("{}/{}", p["committed_offset"], p["end_offset"])).collect();
    eprintln!("killing at committed/end offsets {at:?}");
    writer
}

/// On a three-node cluster at `bootstrap`: replicated input and output topics, the masker
/// deployed, a first round of 2000 records masked; returns the topics and the input leader.
fn masker_on_three_nodes(bootstrap: &str) -> (String, String, usize) {
    let (input, output) = (unique_name("signups"), unique_name("masked"));
    create_topic(bootstrap, &input, 1, 3);
    create_topic(bootstrap, &output, 1, 3);
    deploy_masker(bootstrap, "mask", &input, &output);
    produce(bootstrap, &input, 0..2_000);
    check_masked(&read_output(bootstrap, &output, 1, 2_000, Duration::from_secs(90)), 0..2_000);
    let leader = describe(bootstrap, "mask")["partitions"][0]["leader"].as_i64().unwrap() as usize;
    (input, output, leader)
}

/// After the input leader was killed during the second round: all 42,000 ids masked in
/// `output`, re-processed ones (printed) within the uncommitted tail.
fn check_after_failover(bootstrap: &str, output: &str, what: &str) {
    let values = read_output(bootstrap, output, 1, 42_000, Duration::from_secs(180));
    let repeats = check_masked(&values, 0..42_000);
    eprintln!("{what}: {} outputs for 42000 inputs, {repeats} re-processed", values.len());
    assert!(repeats <= UNCOMMITTED_TAIL, "{repeats} records were processed twice; at most the uncommitted tail ({UNCOMMITTED_TAIL}) may be");
}

/// Waits until the transform has committed everything: lag 0 on every input partition.
fn wait_caught_up(bootstrap: &str, name: &str) -> serde_json::Value {
    wait_until(&format!("transform {name} to catch up"), Duration::from_secs(120), Duration::from_millis(500), || {
        let mut cmd = Command::new(fjord_bin());
        cmd.args(["transform", "describe", name, "--output", "json", "--timeout", "5s", "-b", bootstrap]);
        let out = run(&mut cmd, None, Duration::from_secs(30));
        let d: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        let caught_up = d["partitions"].as_array()?.iter().all(|p| p["lag"] == 0 && p["committed_offset"] == p["end_offset"]);
        caught_up.then_some(d)
    })
}

#[test]
fn the_masker_masks_a_brokers_records_and_resumes_after_sigkill_without_losing_any() {
    let mut broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let (input, output) = (unique_name("signups"), unique_name("masked"));
    create_topic(&bootstrap, &input, 2, 1);
    create_topic(&bootstrap, &output, 1, 1);
    deploy_masker(&bootstrap, "mask", &input, &output);

    let listed = fjord(&bootstrap, &["transform", "list", "--output", "json"]);
    listed.assert_success();
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed[0]["name"], "mask", "{listed}");
    assert_eq!(listed[0]["state"], "running", "{listed}");

    produce(&bootstrap, &input, 0..2_000);
    let values = read_output(&bootstrap, &output, 1, 2_000, Duration::from_secs(90));
    assert_eq!(check_masked(&values, 0..2_000), 0, "no restart yet, so no record is processed twice");
    let d = wait_caught_up(&bootstrap, "mask");
    assert_eq!((d["name"].as_str(), d["input"].as_str(), d["output"].as_str(), d["state"].as_str()), (Some("mask"), Some(input.as_str()), Some(output.as_str()), Some("running")), "{d}");
    let committed: i64 = d["partitions"].as_array().unwrap().iter().map(|p| p["committed_offset"].as_i64().unwrap()).sum();
    assert_eq!(committed, 2_000, "{d}");
    let metrics = broker.metrics();
    for name in ["fjord_transform_lag{", "fjord_transform_records_in_total{", "fjord_transform_records_out_total{", "fjord_transform_runners "] {
        assert!(metrics.contains(name), "/metrics has no {name}:\n{metrics}");
    }
    wait_until("/metrics to show the caught-up transform's lag as 0", Duration::from_secs(30), Duration::from_millis(300), || {
        broker.metrics().contains(r#"fjord_transform_lag{transform="mask",partition="0"} 0"#).then_some(())
    });

    // Kill the broker while a producer writes a second round and the transform works on it;
    // the producer retries what was not acknowledged once the broker is back.
    let writer = second_round_under_way(&bootstrap, &input, "mask", 2_000..100_000);
    broker.kill();
    broker.restart();
    writer.join().unwrap();
    let values = read_output(&bootstrap, &output, 1, 100_000, Duration::from_secs(180));
    let repeats = check_masked(&values, 0..100_000);
    eprintln!("after SIGKILL and restart: {} outputs for 100000 inputs, {repeats} re-processed", values.len());
    assert!(repeats <= 2 * UNCOMMITTED_TAIL, "{repeats} records were processed twice; at most the uncommitted tail ({UNCOMMITTED_TAIL} per partition) may be");
    wait_caught_up(&bootstrap, "mask");

    let logs = fjord(&bootstrap, &["transform", "logs", "mask", "--timeout", "10s"]);
    logs.assert_success();
    assert!(logs.stdout.contains("started on"), "the transform's log tells where each runner started:\n{}", logs.stdout);

    // With its input topic deleted, the deployment is still described (with no partitions).
    fjord(&bootstrap, &["topic", "delete", &input]).assert_success();
    let d = describe(&bootstrap, "mask");
    assert_eq!((d["state"].as_str(), d["partitions"].as_array().map(Vec::len)), (Some("running"), Some(0)), "{d}");

    fjord(&bootstrap, &["transform", "delete", "mask"]).assert_success();
    let listed = fjord(&bootstrap, &["transform", "list", "--output", "json"]);
    assert_eq!(listed.stdout.trim(), "[]");
}

#[test]
fn bad_deployments_are_refused_with_the_reason_and_failing_records_go_to_the_dead_letter_topic() {
    let (_broker, bootstrap, input, output) = broker_with_input_and_output();

    // Not a plugin at all.
    let junk = std::env::temp_dir().join(format!("{}.wasm", unique_name("junk")));
    std::fs::write(&junk, b"this is not WebAssembly").unwrap();
    let out = fjord(&bootstrap, &["transform", "deploy", "junk", "--wasm", junk.to_str().unwrap(), "--input", &input, "--output", &output]);
    std::fs::remove_file(&junk).ok();
    assert!(!out.status.success());
    assert!(out.stderr.contains("not a valid WebAssembly component"), "{}", out.stderr);
    // Past the size limit (2 MiB): refused before anything else.
    let huge = std::env::temp_dir().join(format!("{}.wasm", unique_name("huge")));
    std::fs::write(&huge, vec![0u8; 3 << 20]).unwrap();
    let out = fjord(&bootstrap, &["transform", "deploy", "huge", "--wasm", huge.to_str().unwrap(), "--input", &input, "--output", &output]);
    std::fs::remove_file(&huge).ok();
    assert!(!out.status.success() && out.stderr.contains("at most 2097152 bytes"), "{}", out.stderr);
    // A plugin refusing its configuration.
    let mask = plugin_path("mask-pii");
    let out = fjord(&bootstrap, &["transform", "deploy", "m", "--wasm", mask.to_str().unwrap(), "--input", &input, "--output", &output, "--config", "bogus=1"]);
    assert!(!out.status.success());
    assert!(out.stderr.contains("refused its configuration") && out.stderr.contains("unknown setting"), "{}", out.stderr);
    // A missing topic, and an output that is the input.
    let out = fjord(&bootstrap, &["transform", "deploy", "m", "--wasm", mask.to_str().unwrap(), "--input", "no-such-topic", "--output", &output]);
    assert!(!out.status.success() && out.stderr.contains("does not exist"), "{}", out.stderr);
    let out = fjord(&bootstrap, &["transform", "deploy", "m", "--wasm", mask.to_str().unwrap(), "--input", &input, "--output", &input]);
    assert!(!out.status.success() && out.stderr.contains("loop"), "{}", out.stderr);
    assert_eq!(fjord(&bootstrap, &["transform", "list", "--output", "json"]).stdout.trim(), "[]", "nothing refused was deployed");

    // The misbehaving guest traps on "trap", loops forever on "spin" and allocates without end
    // on "boom": those records go to the dead-letter topic with the error in a header, the
    // others through, and the broker goes on serving.
    let guest = plugin_path("test-guests/misbehave");
    let dlq = unique_name("dlq");
    fjord(&bootstrap, &["transform", "deploy", "picky", "--wasm", guest.to_str().unwrap(), "--input", &input, "--output", &output, "--dead-letter-topic", &dlq]).assert_success();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    for value in ["a", "trap", "b", "spin", "c", "boom", "d"] {
        producer.send(BaseRecord::<(), str>::to(&input).payload(value)).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let good = read_raw(&bootstrap, &output, 4);
    assert_eq!(good.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    let dead = read_raw(&bootstrap, &dlq, 3);
    let values: Vec<&str> = dead.iter().map(|(v, _)| v.as_str()).collect();
    assert_eq!(values, ["trap", "spin", "boom"], "{dead:?}");
    let errors: Vec<&str> = dead.iter().map(|(_, h)| h.get("fjord.error").map_or("", String::as_str)).collect();
    assert!(errors[0].contains("trapped"), "{errors:?}");
    assert!(errors[1].contains("CPU budget"), "{errors:?}");
    assert!(errors[2].contains("memory limit"), "{errors:?}");
    for (offset, (_, headers)) in [1, 3, 5].into_iter().zip(&dead) {
        assert_eq!(headers.get("fjord.transform").map(String::as_str), Some("picky"));
        assert_eq!(headers.get("fjord.source.topic"), Some(&input));
        assert_eq!(headers.get("fjord.source.offset").map(String::as_str), Some(offset.to_string().as_str()));
    }
}

/// A plugin built for WASI (wasm32-wasip2) deployed with `--allow stderr`: what it writes to
/// stderr, a panic's message included, is in `fjord transform logs`; its clock stays stopped
/// (not granted); an unknown grant is refused.
#[test]
fn a_wasi_plugins_stderr_is_in_the_transform_log_when_granted() {
    let (_broker, bootstrap, input, output) = broker_with_input_and_output();
    let probe = plugin_path("test-guests/wasi-probe");
    let deploy = |extra: &[&str]| {
        let mut args = vec!["transform", "deploy", "probe", "--wasm", probe.to_str().unwrap(), "--input", &input, "--output", &output];
        args.extend_from_slice(extra);
        fjord(&bootstrap, &args)
    };
    let refused = deploy(&["--allow", "network"]);
    assert!(!refused.status.success() && refused.stderr.contains("network"), "{}", refused.stderr);
    deploy(&["--allow", "stderr", "--on-error", "skip"]).assert_success();
    let described = describe(&bootstrap, "probe");
    assert_eq!(described["allow"], serde_json::json!(["stderr"]), "{described}");

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    for value in ["hello", "clock", "panic", "bye"] {
        producer.send(BaseRecord::<(), str>::to(&input).payload(value)).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let out = read_raw(&bootstrap, &output, 3);
    assert_eq!(out.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>(), ["hello", "0", "bye"], "the clock reads zero without --allow clock");

    let wanted = [format!("wasi-probe passed offset 0 of {input}"), "wasi-probe was asked to panic at offset 2".to_string(), format!("wasi-probe passed offset 3 of {input}")];
    let logs = wait_until("the plugin's stderr lines in its log", Duration::from_secs(60), Duration::from_millis(500), || {
        let logs = fjord(&bootstrap, &["transform", "logs", "probe", "--timeout", "10s"]).stdout;
        wanted.iter().all(|w| logs.contains(w.as_str())).then_some(logs)
    });
    assert!(logs.lines().any(|l| l.contains("stderr") && l.contains("wasi-probe passed offset 0")), "{logs}");
}

/// Values and headers of `topic`'s partition 0, until `expected` arrived (or 60 s passed).
fn read_raw(bootstrap: &str, topic: &str, expected: usize) -> Vec<(String, BTreeMap<String, String>)> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap).set("group.id", unique_name("raw")).create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    let until = Instant::now() + Duration::from_secs(60);
    while out.len() < expected && Instant::now() < until {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| h.iter().map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())).collect())
                .unwrap_or_default();
            out.push((String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(), headers));
        }
    }
    out
}

#[test]
fn in_a_three_node_cluster_the_transform_moves_with_the_input_leader_and_loses_nothing() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    cluster.wait_until_all_alive();
    let bootstrap = cluster.bootstrap();
    let (input, output, leader) = masker_on_three_nodes(&bootstrap);

    let writer = second_round_under_way(&bootstrap, &input, "mask", 2_000..42_000);
    cluster.node(leader).kill();
    writer.join().unwrap();
    check_after_failover(&cluster.bootstrap(), &output, &format!("after killing input leader {leader}"));
    let after = wait_caught_up(&cluster.bootstrap(), "mask");
    assert_ne!(after["partitions"][0]["leader"].as_i64().unwrap() as usize, leader, "{after}");
    cluster.node(leader).restart();
}

/// `fjord dev --nodes 3` on free loopback ports (its connect worker's REST API too), stopped
/// (SIGTERM, then SIGKILL for whatever is left) when dropped.
struct DevCluster {
    child: std::process::Child,
    log: std::path::PathBuf,
    dir: tempfile::TempDir,
    kafka: u16,
    connect: std::net::SocketAddr,
}

impl DevCluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (kafka, metrics) = free_port_ranges();
        let connect: std::net::SocketAddr = format!("127.0.0.1:{}", metrics + 3).parse().unwrap();
        let log = dir.path().join("dev.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(fjord_bin())
            .args(["dev", "--nodes", "3", "--listen", &format!("127.0.0.1:{kafka}"), "--metrics-listen", &format!("127.0.0.1:{metrics}")])
            .args(["--connect-listen", &connect.to_string(), "--data-dir"])
            .arg(dir.path().join("data"))
            .env("FJORD_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let dev = Self { child, log, dir, kafka, connect };
        wait_until("fjord dev --nodes 3 to form its cluster", Duration::from_secs(90), Duration::from_millis(500), || {
            let mut cmd = Command::new(fjord_bin());
            cmd.args(["cluster", "describe", "--output", "json", "--timeout", "5s", "-b", &dev.bootstrap()]);
            let out = run(&mut cmd, None, Duration::from_secs(30));
            let json: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
            (json["brokers"].as_array()?.iter().filter(|b| b["state"] == "alive").count() == 3).then_some(())
        });
        dev
    }

    fn bootstrap(&self) -> String {
        (0..3).map(|i| format!("127.0.0.1:{}", self.kafka + i)).collect::<Vec<_>>().join(",")
    }

    /// The pid of node `id`, from the lines `fjord dev` prints ("node N … (pid P)"); the last
    /// one, after restarts.
    fn pid(&self, id: usize) -> i32 {
        let log = std::fs::read_to_string(&self.log).unwrap();
        log.lines()
            .filter(|l| l.trim_start().starts_with(&format!("node {id} ")))
            .filter_map(|l| l.rsplit("pid ").next()?.trim_end_matches(')').trim().parse().ok())
            .next_back()
            .unwrap_or_else(|| panic!("no pid for node {id} in:\n{log}"))
    }

    /// The pid of the connect worker, from the line `fjord dev` prints for it; the last one.
    fn worker_pid(&self) -> Option<i32> {
        let log = std::fs::read_to_string(&self.log).ok()?;
        log.lines()
            .filter(|l| l.trim_start().starts_with("connect worker ") || l.starts_with("connect worker started again"))
            .filter_map(|l| l.rsplit("pid ").next()?.trim_end_matches(')').trim().parse().ok())
            .next_back()
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().filter(|l| !l.contains("openraft")).take(150).collect();
            eprintln!("--- the end of fjord dev's output ---\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for id in 1..=3 {
            if let Ok(log) = std::fs::read_to_string(&self.log)
                && log.contains(&format!("node {id} "))
            {
                let _ = Command::new("kill").args(["-KILL", &self.pid(id).to_string()]).status();
            }
        }
        if let Some(worker) = self.worker_pid() {
            let _ = Command::new("kill").args(["-KILL", &worker.to_string()]).status();
        }
        let _ = &self.dir;
    }
}

/// A base for three consecutive Kafka ports (and their inter-broker ports 100 above) and one
/// for three metrics ports and the connect worker's REST port after them, all free now.
fn free_port_ranges() -> (u16, u16) {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let mut candidate = 20_000 + (std::process::id() % 2_000) as u16 * 10;
    loop {
        let (kafka, metrics) = (candidate, candidate + 300);
        if (0..3).all(|i| free(kafka + i) && free(kafka + 100 + i) && free(metrics + i)) && free(metrics + 3) {
            return (kafka, metrics);
        }
        candidate = candidate.wrapping_add(7).max(20_000);
    }
}

#[test]
fn on_fjord_dev_with_three_nodes_the_transform_survives_killing_the_input_leader() {
    let dev = DevCluster::start();
    let bootstrap = dev.bootstrap();
    // Its connect worker answers Kafka Connect's REST API, its state replicated on all three.
    let connectors = wait_until("the connect worker's REST API", Duration::from_secs(90), Duration::from_millis(500), || {
        let answer = fjord_tests::http(dev.connect, "GET", "/connectors", None).ok()?;
        (answer.status == 200).then(|| answer.json())
    });
    assert_eq!(connectors, serde_json::json!([]));
    let configs = fjord(&bootstrap, &["topic", "describe", "fjord-dev-configs", "--output", "json"]);
    configs.assert_success();
    let configs: serde_json::Value = serde_json::from_str(&configs.stdout).unwrap();
    assert_eq!(configs["replication_factor"], 3, "{configs}");
    let (input, output, leader) = masker_on_three_nodes(&bootstrap);

    let writer = second_round_under_way(&bootstrap, &input, "mask", 2_000..42_000);
    let killed = dev.pid(leader);
    Command::new("kill").args(["-KILL", &killed.to_string()]).status().unwrap();
    wait_until("another node to lead the input partition", Duration::from_secs(60), Duration::from_millis(300), || {
        let mut cmd = Command::new(fjord_bin());
        cmd.args(["topic", "describe", &input, "--output", "json", "--timeout", "5s", "-b", &bootstrap]);
        let d: serde_json::Value = serde_json::from_str(&run(&mut cmd, None, Duration::from_secs(30)).stdout).ok()?;
        let now = d["partitions"][0]["leader"].as_i64()?;
        (now > 0 && now as usize != leader).then_some(())
    });
    writer.join().unwrap();
    check_after_failover(&bootstrap, &output, &format!("fjord dev --nodes 3, input leader {leader} killed"));
    wait_caught_up(&bootstrap, "mask");
    // fjord dev starts the killed node again and keeps the cluster.
    wait_until("fjord dev to start the killed node again", Duration::from_secs(60), Duration::from_millis(500), || (dev.pid(leader) != killed).then_some(()));
}
