//! Three `fjord broker` processes as one cluster on 127.0.0.1: it forms (a controller is
//! elected, every broker registers), places a replication-factor-3 topic across the three,
//! replicates what an idempotent acks=all producer writes, and serves it back; killing a
//! partition leader moves leadership to another in-sync replica without losing an
//! acknowledged record.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod cluster_clients;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fjord_tests::{ClusterProcess, partition_log_dump, fjord_bin, run, unique_name, wait_until};
use cluster_clients::{assigned_reader, produce_acked};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

fn create_topic(cluster: &ClusterProcess, topic: &str, partitions: u32) {
    let mut cmd = Command::new(fjord_bin());
    cmd.args(["topic", "create", topic, "--partitions", &partitions.to_string(), "--replication-factor", "3", "--config", "min.insync.replicas=2", "-b", &cluster.bootstrap()]);
    run(&mut cmd, None, Duration::from_secs(60)).assert_success();
}

/// Waits until every partition of `topic` has a leader and a full ISR; returns the
/// description.
fn wait_fully_replicated(cluster: &ClusterProcess, topic: &str) -> serde_json::Value {
    wait_until(&format!("{topic} to have a leader and 3 in-sync replicas everywhere"), Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["topic", "describe", topic])?;
        let ok = d["partitions"].as_array()?.iter().all(|p| p["leader"].as_i64().is_some_and(|l| l > 0) && p["isr"].as_array().is_some_and(|i| i.len() == 3));
        ok.then_some(d)
    })
}

fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<u64>) {
    produce_acked(bootstrap, topic, range, Duration::from_secs(120));
}

/// Every value in `topic`, per partition in offset order.
fn read_all(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> BTreeMap<i32, Vec<u64>> {
    let consumer = assigned_reader(bootstrap, topic, 0..partitions);
    let mut out: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while out.values().map(Vec::len).sum::<usize>() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let value: u64 = std::str::from_utf8(m.payload().unwrap()).unwrap().parse().unwrap();
            out.entry(m.partition()).or_default().push(value);
        }
    }
    out
}

#[test]
fn three_nodes_form_a_cluster_and_replicate_a_topic_with_replication_factor_3() {
    let cluster = ClusterProcess::start(3, |b| b);
    let described = cluster.fjord_json(&["cluster", "describe"]).unwrap();
    let brokers = described["brokers"].as_array().unwrap();
    assert_eq!(brokers.len(), 3, "{described}");
    assert!((1..=3).contains(&described["controller_id"].as_i64().unwrap()), "{described}");

    let topic = unique_name("rf3");
    create_topic(&cluster, &topic, 3);
    let d = wait_fully_replicated(&cluster, &topic);
    let leaders: std::collections::BTreeSet<i64> = d["partitions"].as_array().unwrap().iter().map(|p| p["leader"].as_i64().unwrap()).collect();
    assert_eq!(leaders.len(), 3, "leaders are spread over the brokers: {d}");

    produce(&cluster.bootstrap(), &topic, 0..3_000);
    let read = read_all(&cluster.bootstrap(), &topic, 3, 3_000);
    let mut values: Vec<u64> = read.values().flatten().copied().collect();
    values.sort_unstable();
    assert_eq!(values, (0..3_000).collect::<Vec<_>>());
    // Every follower caught up: the ISR stayed full.
    wait_fully_replicated(&cluster, &topic);
}

#[test]
fn killing_a_partition_leader_elects_another_and_loses_no_acknowledged_record() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    let topic = unique_name("failover");
    create_topic(&cluster, &topic, 1);
    let d = wait_fully_replicated(&cluster, &topic);
    produce(&cluster.bootstrap(), &topic, 0..1_000);

    let leader = d["partitions"][0]["leader"].as_i64().unwrap() as usize;
    let epoch = d["partitions"][0]["leader_epoch"].as_i64().unwrap();
    cluster.node(leader).kill();
    let after = wait_until("a new leader", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json(&["topic", "describe", &topic])?;
        let p = &d["partitions"][0];
        (p["leader"].as_i64()? > 0 && p["leader"].as_i64()? != leader as i64).then(|| d.clone())
    });
    assert!(after["partitions"][0]["leader_epoch"].as_i64().unwrap() > epoch, "{after}");
    produce(&cluster.bootstrap(), &topic, 1_000..2_000);

    cluster.node(leader).restart();
    wait_fully_replicated(&cluster, &topic);
    let read = read_all(&cluster.bootstrap(), &topic, 1, 2_000);
    assert_eq!(read[&0], (0..2_000).collect::<Vec<_>>(), "every acknowledged record, once, in order");
}

/// Records the value of every record the cluster acknowledged.
struct Acknowledged(Arc<Mutex<Vec<u64>>>);

impl ClientContext for Acknowledged {}

impl ProducerContext for Acknowledged {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            let value: u64 = std::str::from_utf8(message.payload().unwrap()).unwrap().parse().unwrap();
            self.0.lock().unwrap().push(value);
        }
    }
}

/// An idempotent acks=all producer writing increasing values to `topic` on its own thread
/// until stopped; the values the cluster acknowledged are collected.
struct Writer {
    acked: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Writer {
    fn start(bootstrap: String, topic: String) -> Self {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || {
                let producer: ThreadedProducer<Acknowledged> = ClientConfig::new()
                    .set("bootstrap.servers", &bootstrap)
                    .set("acks", "all")
                    .set("enable.idempotence", "true")
                    .set("linger.ms", "2")
                    .set("message.timeout.ms", "120000")
                    .create_with_context(Acknowledged(acked))
                    .expect("producer");
                let mut next = 0u64;
                while !stop.load(Ordering::Acquire) && next < 200_000 {
                    let value = next.to_string();
                    if producer.send(BaseRecord::<(), str>::to(&topic).payload(&value)).is_ok() {
                        next += 1;
                    } else {
                        producer.poll(Duration::from_millis(20));
                    }
                    if next.is_multiple_of(100) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                producer.flush(Duration::from_secs(120)).expect("every record acknowledged or failed");
                next
            })
        };
        Self { acked, stop, thread }
    }

    /// Stops writing, waits for the last acknowledgements; returns the acknowledged values.
    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Release);
        let sent = self.thread.join().unwrap();
        let acked = self.acked.lock().unwrap().clone();
        assert!(acked.len() > 1_000, "only {} of {sent} records acknowledged", acked.len());
        acked
    }
}

/// Reads `topic` (one partition) with consumer group `group` and checks that every
/// acknowledged value is there exactly once, in order; commits the end and returns it.
fn read_back_once_in_order(cluster: &ClusterProcess, topic: &str, group: &str, acked: &[u64]) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut values = Vec::new();
    let mut next_offset = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while values.len() < acked.len() && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            values.push(std::str::from_utf8(m.payload().unwrap()).unwrap().parse::<u64>().unwrap());
            next_offset = m.offset() + 1;
            if values.len().is_multiple_of(500) {
                consumer.commit_message(&m, CommitMode::Sync).unwrap();
            }
        }
    }
    let mut sorted = values.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), values.len(), "a record was written twice");
    assert!(values.windows(2).all(|w| w[0] < w[1]), "records out of order");
    let present: std::collections::HashSet<u64> = values.iter().copied().collect();
    let lost: Vec<u64> = acked.iter().copied().filter(|v| !present.contains(v)).take(10).collect();
    assert!(lost.is_empty(), "acknowledged records lost (first ten): {lost:?}");
    let mut position = TopicPartitionList::new();
    position.add_partition_offset(topic, 0, Offset::Offset(next_offset)).unwrap();
    consumer.commit(&position, CommitMode::Sync).unwrap();
    next_offset
}

#[test]
fn leaders_killed_under_continuous_acks_all_writes_lose_nothing_and_replicas_end_identical() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    let topic = unique_name("kills");
    create_topic(&cluster, &topic, 1);
    wait_fully_replicated(&cluster, &topic);
    let writer = Writer::start(cluster.bootstrap(), topic.clone());
    for round in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        let d = cluster.describe_topic(&topic);
        let leader = d["partitions"][0]["leader"].as_i64().unwrap() as usize;
        cluster.node(leader).kill();
        wait_until(&format!("round {round}: a leader other than {leader}"), Duration::from_secs(60), Duration::from_millis(200), || {
            let d = cluster.fjord_json(&["topic", "describe", &topic])?;
            let now = d["partitions"][0]["leader"].as_i64()?;
            (now > 0 && now != leader as i64).then_some(())
        });
        std::thread::sleep(Duration::from_secs(1));
        cluster.node(leader).restart();
        wait_fully_replicated(&cluster, &topic);
    }
    let acked = writer.finish();
    let group = unique_name("readers");
    let end = read_back_once_in_order(&cluster, &topic, &group, &acked);

    // The group's commit survives its coordinator moving: each node in turn is killed and
    // restarted (one of them coordinates the group), then the commit is read back.
    for id in 1..=cluster.len() {
        cluster.node(id).kill();
        std::thread::sleep(Duration::from_secs(1));
        cluster.node(id).restart();
        cluster.wait_until_all_alive();
    }
    let reader: BaseConsumer = ClientConfig::new().set("bootstrap.servers", cluster.bootstrap()).set("group.id", &group).create().unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(&topic, 0);
    let committed = wait_until("the group's committed offset", Duration::from_secs(60), Duration::from_millis(500), || {
        let c = reader.committed_offsets(wanted.clone(), Duration::from_secs(5)).ok()?;
        c.find_partition(&topic, 0).map(|p| p.offset())
    });
    assert_eq!(committed, Offset::Offset(end), "the commit survived its coordinator's moves");
    drop(reader);

    // Every replica holds the same batches: stop the nodes cleanly and compare their logs.
    let dirs: Vec<std::path::PathBuf> = (1..=cluster.len()).map(|id| cluster.node(id).data_dir().join("logs").join(format!("{topic}-0"))).collect();
    for id in 1..=cluster.len() {
        cluster.node(id).stop();
    }
    let first = partition_log_dump(&dirs[0]);
    for dir in &dirs[1..] {
        assert_eq!(partition_log_dump(dir), first, "the replica in {} differs from the one in {}", dir.display(), dirs[0].display());
    }
}

#[test]
fn a_rolling_restart_under_continuous_acks_all_writes_loses_nothing() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    let topic = unique_name("rolling");
    create_topic(&cluster, &topic, 1);
    wait_fully_replicated(&cluster, &topic);
    let writer = Writer::start(cluster.bootstrap(), topic.clone());
    // Each node in turn stops cleanly (SIGTERM: controlled shutdown moves its leadership
    // away first) and starts again, waiting for the full ISR before the next.
    for id in 1..=cluster.len() {
        std::thread::sleep(Duration::from_secs(1));
        cluster.node(id).stop();
        cluster.node(id).restart();
        wait_fully_replicated(&cluster, &topic);
    }
    let acked = writer.finish();
    read_back_once_in_order(&cluster, &topic, &unique_name("readers"), &acked);
}
