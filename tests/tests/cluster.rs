//! Three `fjord broker` processes as one cluster on 127.0.0.1: it forms (a controller is
//! elected, every broker registers), places a replication-factor-3 topic across the three,
//! replicates what an idempotent acks=all producer writes, and serves it back; killing a
//! partition leader moves leadership to another in-sync replica without losing an
//! acknowledged record.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use fjord_tests::{ClusterProcess, fjord_bin, run, unique_name, wait_until};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
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

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create()
        .expect("producer")
}

fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<u64>) {
    let producer = producer(bootstrap);
    for i in range {
        let value = i.to_string();
        let mut record = BaseRecord::<(), str>::to(topic).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("every record acknowledged");
}

/// Every value in `topic`, per partition in offset order.
fn read_all(bootstrap: &str, topic: &str, partitions: i32, expected: usize) -> BTreeMap<i32, Vec<u64>> {
    // Assigned partitions, no group coordination (the group id is only a name here).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&assignment).unwrap();
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
