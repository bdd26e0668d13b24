//! The broker driven by rdkafka (librdkafka): idempotent producing at volume, a consumer
//! group losing a member mid-stream, static members restarting and expiring, and a SIGKILL +
//! restart in the middle of it all.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fjord_tests::{BrokerProcess, unique_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const LONG: Duration = Duration::from_secs(120);

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client")
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results = rt
        .block_on(admin(bootstrap).create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))))
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating {t} failed: {e}"));
    }
}

fn producer(bootstrap: &str) -> ThreadedProducer<DefaultProducerContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "120000")
        .create()
        .expect("producer")
}

/// Produces `count` records keyed `key-<i % keys>` with value `<i>` and waits until all are
/// acknowledged.
fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<u64>, keys: u64) {
    let producer = producer(bootstrap);
    for i in range {
        let key = format!("key-{}", i % keys);
        let value = i.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("send failed: {e}"),
            }
        }
    }
    producer.flush(LONG).expect("every record acknowledged");
    assert_eq!(producer.in_flight_count(), 0);
}

fn consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    consumer_config(bootstrap, group, extra).create().expect("consumer")
}

/// A group consumer's settings: from the earliest offset, commits by hand, `extra` last.
fn consumer_config(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "500");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let c = consumer(bootstrap, &unique_name("watermarks"), &[]);
    (0..partitions).map(|p| (p, c.fetch_watermarks(topic, p, Duration::from_secs(30)).expect("watermarks").1)).collect()
}

fn committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    let c = consumer(bootstrap, group, &[]);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(30)).expect("committed offsets");
    got.elements()
        .iter()
        .map(|e| (e.partition(), match e.offset() { Offset::Offset(o) => o, _ => -1 }))
        .collect()
}

/// Reads records with `consumer` until `done` says so or the time is up.
fn drain(consumer: &BaseConsumer, limit: Duration, mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>) -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if each(&m) => return,
            Some(Ok(_)) => {}
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            None => {}
        }
    }
    panic!("timed out after {limit:?}");
}

#[test]
fn idempotent_producer_100k_keyed_records_across_6_partitions_come_back_complete_and_in_order() {
    let broker = BrokerProcess::start();
    let topic = unique_name("keyed");
    create_topic(&broker.bootstrap(), &topic, 6);
    const N: u64 = 100_000;
    produce(&broker.bootstrap(), &topic, 0..N, 1000);

    let ends = end_offsets(&broker.bootstrap(), &topic, 6);
    assert_eq!(ends.values().sum::<i64>(), N as i64, "log end offsets {ends:?}");

    let c = consumer(&broker.bootstrap(), &unique_name("reader"), &[]);
    c.subscribe(&[&topic]).unwrap();
    let mut seen = HashSet::new();
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    let mut last_value_per_key: HashMap<String, u64> = HashMap::new();
    let mut key_partition: HashMap<String, i32> = HashMap::new();
    drain(&c, LONG, |m| {
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let value: u64 = std::str::from_utf8(m.payload().unwrap()).unwrap().parse().unwrap();
        // Offsets within a partition are consecutive; values of a key only grow.
        let prev = last_offset.insert(m.partition(), m.offset());
        assert_eq!(m.offset(), prev.map_or(0, |o| o + 1), "partition {} skipped or repeated an offset", m.partition());
        if let Some(prev) = last_value_per_key.insert(key.clone(), value) {
            assert!(value > prev, "key {key}: {value} after {prev}");
        }
        assert_eq!(*key_partition.entry(key).or_insert(m.partition()), m.partition(), "a key moved partition");
        assert!(seen.insert(value), "value {value} delivered twice");
        seen.len() as u64 == N
    });
    assert_eq!(seen.len() as u64, N);
    assert_eq!(key_partition.values().collect::<HashSet<_>>().len(), 6, "keys spread over all partitions");
}

#[test]
fn a_group_of_three_loses_a_member_and_the_others_finish_with_exact_commits() {
    let broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("group");
    let group = unique_name("g");
    create_topic(&bootstrap, &topic, 6);
    const N: u64 = 30_000;
    produce(&bootstrap, &topic, 0..N, 600);

    let seen = Arc::new(Mutex::new(HashSet::<u64>::new()));
    let all_seen = Arc::new(AtomicBool::new(false));
    // Members 1 and 2 mark themselves done once they committed the end of their assignment;
    // both keep polling (no rebalance) until both are done.
    let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false), AtomicBool::new(false)]);
    let mut members = Vec::new();
    for member in 0..3usize {
        let (bootstrap, topic, group, seen, all_seen, done) = (bootstrap.clone(), topic.clone(), group.clone(), seen.clone(), all_seen.clone(), done.clone());
        members.push(std::thread::spawn(move || {
            let c = consumer(&bootstrap, &group, &[("max.poll.interval.ms", "60000"), ("fetch.max.bytes", "65536"), ("message.max.bytes", "65536"), ("max.partition.fetch.bytes", "8192")]);
            c.subscribe(&[&topic]).unwrap();
            let mut mine = 0u64;
            let mut last_commit_error: Option<String> = None;
            let deadline = Instant::now() + LONG;
            while Instant::now() < deadline {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                    let value: u64 = std::str::from_utf8(m.payload().unwrap()).unwrap().parse().unwrap();
                    mine += 1;
                    let mut s = seen.lock().unwrap();
                    s.insert(value);
                    if s.len() as u64 == N {
                        all_seen.store(true, Ordering::SeqCst);
                    }
                    drop(s);
                    // Member 0 leaves mid-stream, committing what it processed first.
                    if member == 0 && mine == 2_000 {
                        c.commit_consumer_state(CommitMode::Sync).expect("commit before leaving");
                        c.unsubscribe();
                        return mine;
                    }
                    if mine.is_multiple_of(500) {
                        let _ = c.commit_consumer_state(CommitMode::Async);
                    }
                }
                if !all_seen.load(Ordering::SeqCst) {
                    continue;
                }
                if !done[member].load(Ordering::SeqCst) {
                    // A partition is finished when this member's position — or, if it fetched
                    // nothing from it since the rebalance, the group's commit — is its end.
                    let assignment = c.assignment().expect("assignment");
                    let positions = c.position().expect("positions");
                    let commits = c.committed(Duration::from_secs(10)).expect("committed");
                    let at_end = assignment.count() > 0
                        && positions.elements().iter().all(|e| {
                            let (_, high) = c.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(10)).expect("watermarks");
                            let committed = commits.find_partition(e.topic(), e.partition()).map(|c| c.offset());
                            e.offset() == Offset::Offset(high) || (e.offset() == Offset::Invalid && committed == Some(Offset::Offset(high)))
                        });
                    if at_end {
                        match c.commit_consumer_state(CommitMode::Sync) {
                            // Nothing left to commit: auto-commit got there first.
                            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => done[member].store(true, Ordering::SeqCst),
                            Err(e) => last_commit_error = Some(e.to_string()),
                        }
                    }
                }
                if done[1].load(Ordering::SeqCst) && done[2].load(Ordering::SeqCst) {
                    return mine;
                }
            }
            // Everything this member knows, so that a timeout says which condition never held.
            let seen_count = seen.lock().map_or(0, |s| s.len());
            let done_flags: Vec<bool> = done.iter().map(|d| d.load(Ordering::SeqCst)).collect();
            let ends: Vec<(i32, Option<i64>, Option<Offset>)> = c
                .assignment()
                .map(|a| {
                    let commits = c.committed(Duration::from_secs(10)).ok();
                    a.elements()
                        .iter()
                        .map(|e| {
                            let high = c.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(10)).ok().map(|(_, h)| h);
                            let committed = commits.as_ref().and_then(|c| c.find_partition(e.topic(), e.partition())).map(|c| c.offset());
                            (e.partition(), high, committed)
                        })
                        .collect()
                })
                .unwrap_or_default();
            panic!(
                "member {member} timed out; it consumed {mine}; last commit error {last_commit_error:?}; all seen: {}, seen {seen_count}; done {done_flags:?}; positions {:?}; (partition, high watermark, committed) {ends:?}",
                all_seen.load(Ordering::SeqCst),
                c.position().map(|a| a.elements().iter().map(|e| (e.partition(), e.offset())).collect::<Vec<_>>())
            );
        }));
    }
    let counts: Vec<u64> = members.into_iter().map(|m| m.join().expect("member thread")).collect();
    assert!(all_seen.load(Ordering::SeqCst), "not every record was delivered");
    assert_eq!(counts[0], 2_000, "member 0 left after 2000 records");
    assert!(counts[1] > 0 && counts[2] > 0, "the remaining members took over: {counts:?}");
    assert!(counts.iter().sum::<u64>() >= N, "at least once: {counts:?}");
    assert_eq!(committed(&bootstrap, &group, &topic, 6), end_offsets(&bootstrap, &topic, 6), "committed offsets equal the log end offsets");
}

#[test]
fn sigkill_and_restart_keep_data_committed_offsets_and_groups() {
    let mut broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("restart");
    let group = unique_name("g");
    create_topic(&bootstrap, &topic, 3);
    produce(&bootstrap, &topic, 0..6_000, 300);

    // Consume part of it and commit.
    let committed_before = {
        let c = consumer(&bootstrap, &group, &[]);
        c.subscribe(&[&topic]).unwrap();
        let mut n = 0;
        let mut partitions = HashSet::new();
        drain(&c, LONG, |m| {
            n += 1;
            partitions.insert(m.partition());
            n >= 2_500 && partitions.len() == 3
        });
        c.commit_consumer_state(CommitMode::Sync).expect("commit");
        committed(&bootstrap, &group, &topic, 3)
    };
    assert_eq!(committed_before.values().filter(|o| **o >= 0).count(), 3, "{committed_before:?}");
    let ends_before = end_offsets(&bootstrap, &topic, 3);

    broker.kill();
    broker.restart();
    // More data after the restart, on top of what was there.
    produce(&bootstrap, &topic, 6_000..8_000, 300);

    let ends_after = end_offsets(&bootstrap, &topic, 3);
    for p in 0..3 {
        assert!(ends_after[&p] >= ends_before[&p], "partition {p} lost records: {ends_before:?} -> {ends_after:?}");
    }
    assert_eq!(ends_after.values().sum::<i64>(), 8_000);
    assert_eq!(committed(&bootstrap, &group, &topic, 3), committed_before, "committed offsets survive SIGKILL");

    // The group is known after the restart and resumes exactly from its commits.
    let c = consumer(&bootstrap, &group, &[]);
    let groups = c.fetch_group_list(Some(&group), Duration::from_secs(30)).expect("group list");
    let listed: Vec<_> = groups.groups().iter().map(|g| (g.name().to_string(), g.protocol_type().to_string())).collect();
    assert_eq!(listed, vec![(group.clone(), "consumer".to_string())], "the group survives the restart");
    c.subscribe(&[&topic]).unwrap();
    let remaining: i64 = (0..3).map(|p| ends_after[&p] - committed_before[&p]).sum();
    let mut values = HashSet::new();
    drain(&c, LONG, |m| {
        let pos = committed_before[&m.partition()];
        assert!(m.offset() >= pos, "partition {} re-delivered offset {} below the commit {pos}", m.partition(), m.offset());
        values.insert((m.partition(), m.offset()));
        values.len() as i64 == remaining
    });

    // A fresh reader sees every record ever acknowledged.
    let all = consumer(&bootstrap, &unique_name("all"), &[]);
    all.subscribe(&[&topic]).unwrap();
    let mut every = HashSet::new();
    drain(&all, LONG, |m| {
        every.insert(std::str::from_utf8(m.payload().unwrap()).unwrap().parse::<u64>().unwrap());
        every.len() == 8_000
    });
    broker.stop();
}

/// Counts the rebalances in which a consumer had partitions taken away.
#[derive(Default)]
struct Revocations(AtomicUsize);

impl ClientContext for Revocations {}

impl ConsumerContext for Revocations {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Revoke(partitions) if partitions.count() > 0) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn static_member(bootstrap: &str, group: &str, instance: &str) -> BaseConsumer<Revocations> {
    // The session: the broker's group.min.session.timeout.ms, as Kafka's.
    let static_settings = [("group.instance.id", instance), ("session.timeout.ms", "6000"), ("partition.assignment.strategy", "range")];
    consumer_config(bootstrap, group, &static_settings).create_with_context(Revocations::default()).expect("static consumer")
}

/// The group's members as DescribeGroups reports them.
fn member_count(consumer: &BaseConsumer<Revocations>, group: &str) -> usize {
    let groups = consumer.fetch_group_list(Some(group), Duration::from_secs(10)).expect("DescribeGroups");
    groups.groups().iter().find(|g| g.name() == group).map_or(0, |g| g.members().len())
}

/// Polls every consumer until `done` holds (or panics after `limit`, saying `what`).
fn poll_until(consumers: &[&BaseConsumer<Revocations>], limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        for c in consumers {
            if let Some(Err(e)) = c.poll(Duration::from_millis(100)) {
                eprintln!("consumer error (retrying): {e}");
            }
        }
    }
}

fn assigned(consumer: &BaseConsumer<Revocations>) -> usize {
    consumer.assignment().map_or(0, |a| a.count())
}

/// KIP-345 static membership with librdkafka: a static member that closes is not removed at
/// once (it sends no LeaveGroup); restarted with the same `group.instance.id` it gets its
/// partitions back without the other member losing any; gone for good, it is removed when its
/// session times out and its partitions move to the member that is left.
#[test]
fn a_static_member_restarts_without_a_rebalance_and_is_expired_after_its_session_timeout() {
    let mut broker = BrokerProcess::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_name("static");
    let group = unique_name("g");
    create_topic(&bootstrap, &topic, 4);

    let a = static_member(&bootstrap, &group, "member-a");
    let b = static_member(&bootstrap, &group, "member-b");
    a.subscribe(&[&topic]).unwrap();
    b.subscribe(&[&topic]).unwrap();
    poll_until(&[&a, &b], LONG, "each member holds two partitions", || assigned(&a) == 2 && assigned(&b) == 2);
    let b_revoked = b.context().0.load(Ordering::SeqCst);

    // Restart within the session timeout: no rebalance for the other member.
    drop(a);
    let closed = Instant::now();
    let a = static_member(&bootstrap, &group, "member-a");
    a.subscribe(&[&topic]).unwrap();
    poll_until(&[&a, &b], LONG, "the restarted member holds two partitions again", || assigned(&a) == 2);
    assert_eq!(member_count(&b, &group), 2, "the restarted member took its old place");
    if closed.elapsed() < Duration::from_secs(5) {
        assert_eq!(b.context().0.load(Ordering::SeqCst), b_revoked, "the other member lost no partitions to a restart within the session timeout");
        assert_eq!(assigned(&b), 2);
    }

    // Gone for good: still a member until its session runs out, then removed.
    drop(a);
    let closed = Instant::now();
    let members_soon = member_count(&b, &group);
    if closed.elapsed() < Duration::from_secs(4) {
        assert_eq!(members_soon, 2, "a closed static member stays until its session times out (it sends no LeaveGroup)");
    }
    poll_until(&[&b], LONG, "the remaining member holds all four partitions", || assigned(&b) == 4);
    assert!(closed.elapsed() >= Duration::from_secs(5), "the partitions moved only once the session had (nearly) run out: {:?}", closed.elapsed());
    assert_eq!(member_count(&b, &group), 1);
    broker.stop();
}
