//! Three `fjord broker` processes with a fault-injecting proxy between them
//! ([`NetworkSplitter`]): a partition leader cut off from the majority stops acknowledging
//! acks=all writes, the majority elects a new leader and keeps acknowledging, and once the
//! network heals the old leader drops its unacknowledged tail and follows. Also: killing the
//! active controller (the Raft leader) moves the controller and the cluster keeps working.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod cluster_clients;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fjord_log_core::storage::{BatchBuilder, Compression, TimestampType};
use fjord_tests::{ClusterProcess, partition_log_dump, RawClient, fjord_bin, run, unique_name, wait_until};
use cluster_clients::{read_values, send_values};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};

fn create_topic(bootstrap: &str, topic: &str, replication_factor: u32) {
    let mut cmd = Command::new(fjord_bin());
    cmd.args(["topic", "create", topic, "--partitions", "1", "--replication-factor", &replication_factor.to_string(), "--config", "min.insync.replicas=2", "-b", bootstrap]);
    run(&mut cmd, None, Duration::from_secs(60)).assert_success();
}

/// Waits until the partition, as the brokers in `bootstrap` describe it, satisfies `ok`;
/// returns that partition's description.
fn wait_partition(cluster: &ClusterProcess, bootstrap: &str, topic: &str, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    wait_until(&format!("{topic}: {what}"), Duration::from_secs(90), Duration::from_millis(300), || {
        let d = cluster.fjord_json_via(bootstrap, &["topic", "describe", topic])?;
        let p = d["partitions"][0].clone();
        ok(&p).then_some(p)
    })
}

fn fully_replicated(p: &serde_json::Value) -> bool {
    p["leader"].as_i64().is_some_and(|l| l > 0) && p["isr"].as_array().is_some_and(|i| i.len() == 3)
}

/// Counts what the cluster acknowledged and what failed.
#[derive(Default)]
struct Outcomes {
    acked: Mutex<Vec<u64>>,
    failed: Mutex<Vec<String>>,
}

struct Recorder(Arc<Outcomes>);

impl ClientContext for Recorder {}

impl ProducerContext for Recorder {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => self.0.acked.lock().unwrap().push(std::str::from_utf8(m.payload().unwrap()).unwrap().parse().unwrap()),
            Err((e, _)) => self.0.failed.lock().unwrap().push(e.to_string()),
        }
    }
}

/// Sends `values` with an idempotent acks=all producer through `bootstrap` and waits until
/// each is acknowledged or has failed (after `message_timeout`). Idempotence matters: while a
/// dead follower is still in the ISR an acks=all answer can take longer than the request
/// timeout, and a plain producer's retry would append the batch again.
fn produce(bootstrap: &str, topic: &str, values: std::ops::Range<u64>, message_timeout: Duration) -> Arc<Outcomes> {
    let outcomes = Arc::new(Outcomes::default());
    let producer: ThreadedProducer<Recorder> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("request.timeout.ms", "5000")
        .set("message.timeout.ms", message_timeout.as_millis().to_string())
        .create_with_context(Recorder(Arc::clone(&outcomes)))
        .unwrap();
    send_values(&producer, topic, values);
    let _ = producer.flush(message_timeout + Duration::from_secs(30));
    outcomes
}

/// Sends `values` to partition 0 of `topic` on the broker at `addr` only, ten per acks=all
/// Produce request with a 5 s timeout, one request at a time; returns each answer's error
/// code (0: acknowledged).
fn produce_to_one_broker(addr: std::net::SocketAddr, topic: &str, values: std::ops::Range<u64>) -> Vec<i16> {
    let mut answers = Vec::new();
    let mut client = RawClient::connect(addr).unwrap();
    let values: Vec<u64> = values.collect();
    for chunk in values.chunks(10) {
        let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        for (i, v) in chunk.iter().enumerate() {
            builder.push(i as i64, now, None, Some(v.to_string().as_bytes()), &[]);
        }
        let batch = builder.build().unwrap();
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(StrBytes::from_string(topic.to_string()))).with_partition_data(vec![
                PartitionProduceData::default().with_index(0).with_records(Some(Bytes::from(batch))),
            ]),
        ]);
        let (response, _) = client.call(ApiKey::Produce, 9, request).unwrap();
        let ResponseKind::Produce(r) = response else { panic!("{response:?}") };
        answers.push(r.responses[0].partition_responses[0].error_code);
    }
    answers
}

/// Every value in partition 0 of `topic`, in offset order, once `expected` are read — and
/// nothing beyond: a short extra poll finds no stray record.
fn read_all(bootstrap: &str, topic: &str, expected: usize) -> Vec<u64> {
    read_values(bootstrap, topic, 0, expected, Duration::from_secs(90), Duration::from_secs(2))
}

#[test]
fn a_leader_cut_off_from_the_majority_stops_acknowledging_and_follows_after_healing() {
    let (mut cluster, network) = ClusterProcess::start_splittable(3, |b| b);
    let topic = unique_name("split");
    create_topic(&cluster.bootstrap(), &topic, 3);
    let before = wait_partition(&cluster, &cluster.bootstrap(), &topic, "a leader and 3 in-sync replicas", fully_replicated);
    let first = produce(&cluster.bootstrap(), &topic, 0..500, Duration::from_secs(60));
    assert_eq!(first.acked.lock().unwrap().len(), 500, "before the split: {:?}", first.failed.lock().unwrap());

    let old_leader = before["leader"].as_i64().unwrap() as usize;
    let old_epoch = before["leader_epoch"].as_i64().unwrap();
    let majority: Vec<usize> = (1..=3).filter(|&id| id != old_leader).collect();
    let majority_bootstrap = cluster.bootstrap_of(&majority);
    network.isolate(old_leader);

    // A client on the old leader's side of the split keeps writing to it (produce requests
    // sent to it alone: a client library would find the new leader through the other
    // brokers, which this proxy does not hide from it). The old leader appends, but its
    // followers cannot fetch and it cannot reach the controller to shrink the ISR, so
    // nothing is acknowledged.
    let cut_off = {
        let (addr, topic) = (cluster.node(old_leader).kafka_addr(), topic.clone());
        std::thread::spawn(move || produce_to_one_broker(addr, &topic, 1_000_000..1_000_050))
    };

    // The majority fences the silent broker and elects a new leader with a higher epoch.
    let during = wait_partition(&cluster, &majority_bootstrap, &topic, "a leader on the majority side", |p| {
        p["leader"].as_i64().is_some_and(|l| majority.contains(&(l as usize))) && p["leader_epoch"].as_i64().is_some_and(|e| e > old_epoch)
    });
    let isr: Vec<i64> = during["isr"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert!(!isr.contains(&(old_leader as i64)), "the cut-off broker left the ISR: {during}");
    let second = produce(&majority_bootstrap, &topic, 500..1_000, Duration::from_secs(60));
    assert_eq!(second.acked.lock().unwrap().len(), 500, "the majority acknowledges: {:?}", second.failed.lock().unwrap());

    let answers = cut_off.join().unwrap();
    assert!(answers.iter().all(|&code| code != 0), "the cut-off leader acknowledged acks=all writes: error codes {answers:?}");

    // Healed: the old leader learns the new epoch, truncates what it appended alone and
    // catches up into the ISR.
    // (Asked of the majority: until it hears from the quorum again, the old leader still
    // describes the partition as it last knew it.)
    network.heal();
    wait_partition(&cluster, &majority_bootstrap, &topic, "the old leader back in the ISR", fully_replicated);
    wait_until("the old leader to truncate its unacknowledged tail", Duration::from_secs(60), Duration::from_millis(200), || {
        cluster.node(old_leader).log().contains("follower truncated its log").then_some(())
    });
    let values = read_all(&majority_bootstrap, &topic, 1_000);
    assert_eq!(values, (0..1_000).collect::<Vec<u64>>(), "every acknowledged record once, in order, and none of the cut-off leader's");

    let dirs: Vec<std::path::PathBuf> = (1..=3).map(|id| cluster.node(id).data_dir().join("logs").join(format!("{topic}-0"))).collect();
    for id in 1..=3 {
        cluster.node(id).stop();
    }
    let reference = partition_log_dump(&dirs[majority[0] - 1]);
    for dir in &dirs {
        assert_eq!(partition_log_dump(dir), reference, "the replica in {} differs", dir.display());
    }
}

#[test]
fn killing_the_active_controller_moves_it_and_the_cluster_keeps_working() {
    let mut cluster = ClusterProcess::start(3, |b| b);
    let topic = unique_name("before");
    create_topic(&cluster.bootstrap(), &topic, 3);
    wait_partition(&cluster, &cluster.bootstrap(), &topic, "a leader and 3 in-sync replicas", fully_replicated);

    let controller = cluster.fjord_json(&["cluster", "describe"]).unwrap()["controller_id"].as_i64().unwrap() as usize;
    cluster.node(controller).kill();
    let others: Vec<usize> = (1..=3).filter(|&id| id != controller).collect();
    let survivors = cluster.bootstrap_of(&others);
    let described = wait_until("another controller, and the killed one fenced", Duration::from_secs(60), Duration::from_millis(300), || {
        let d = cluster.fjord_json_via(&survivors, &["cluster", "describe"])?;
        let new = d["controller_id"].as_i64()?;
        let fenced = d["brokers"].as_array()?.iter().any(|b| b["node_id"].as_i64() == Some(controller as i64) && b["state"] == "fenced");
        (new > 0 && new != controller as i64 && fenced).then_some(d)
    });

    // The new controller does a controller's work: elections (the old topic stays writable
    // with two of three replicas) and new topics.
    wait_partition(&cluster, &survivors, &topic, "a leader among the survivors", |p| p["leader"].as_i64().is_some_and(|l| others.contains(&(l as usize))));
    let old = produce(&survivors, &topic, 0..300, Duration::from_secs(60));
    assert_eq!(old.acked.lock().unwrap().len(), 300, "{described}: {:?}", old.failed.lock().unwrap());
    let fresh = unique_name("after");
    create_topic(&survivors, &fresh, 2);
    wait_partition(&cluster, &survivors, &fresh, "a leader", |p| p["leader"].as_i64().is_some_and(|l| l > 0));
    let new = produce(&survivors, &fresh, 0..300, Duration::from_secs(60));
    assert_eq!(new.acked.lock().unwrap().len(), 300, "{:?}", new.failed.lock().unwrap());

    // The old controller comes back as an ordinary member and catches up.
    cluster.node(controller).restart();
    cluster.wait_until_all_alive();
    wait_partition(&cluster, &cluster.bootstrap(), &topic, "the restarted node back in the ISR", fully_replicated);
    let read: BTreeMap<&str, Vec<u64>> = [(topic.as_str(), read_all(&cluster.bootstrap(), &topic, 300)), (fresh.as_str(), read_all(&cluster.bootstrap(), &fresh, 300))].into();
    for (t, values) in read {
        assert_eq!(values, (0..300).collect::<Vec<u64>>(), "{t}");
    }
}
