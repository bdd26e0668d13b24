//! rdkafka helpers the cluster tests share (`cluster.rs`, `cluster_admin.rs`,
//! `network_partition.rs` each include this module): write increasing values with an
//! idempotent acks=all producer (or any producer, with `send_values`), and read partitions
//! back from the beginning.

// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use fjord_tests::unique_name;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Writes each of `values` (as its decimal text) to `topic` with an idempotent acks=all
/// producer, and panics unless every one is acknowledged within `flush`.
pub fn produce_acked(bootstrap: &str, topic: &str, values: impl IntoIterator<Item = u64>, flush: Duration) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .create()
        .expect("producer");
    send_values(&producer, topic, values);
    producer.flush(flush).expect("every record acknowledged");
}

/// Hands each of `values` (as its decimal text) to `producer` for `topic`, waiting while its
/// queue is full; acknowledgements go to the producer's context.
pub fn send_values<C: ProducerContext<DeliveryOpaque = ()>>(producer: &ThreadedProducer<C>, topic: &str, values: impl IntoIterator<Item = u64>) {
    for v in values {
        let value = v.to_string();
        let mut record = BaseRecord::<(), str>::to(topic).payload(&value);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(50));
        }
    }
}

/// A consumer reading `partitions` of `topic` from the beginning, assigned rather than
/// subscribed: no group coordination (the group id is only a name here).
pub fn assigned_reader(bootstrap: &str, topic: &str, partitions: impl IntoIterator<Item = i32>) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning).expect("an assignment");
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// The values in `partition` of `topic`, in offset order: read until `expected` have come
/// (or `deadline` passed), then for `then_for` more, so that a stray extra record shows.
pub fn read_values(bootstrap: &str, topic: &str, partition: i32, expected: usize, deadline: Duration, then_for: Duration) -> Vec<u64> {
    let consumer = assigned_reader(bootstrap, topic, [partition]);
    let mut out = Vec::new();
    let poll_until = |out: &mut Vec<u64>, until: Instant, enough: Option<usize>| {
        while enough.is_none_or(|n| out.len() < n) && Instant::now() < until {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                let text = std::str::from_utf8(m.payload().unwrap_or_default()).expect("UTF-8 values");
                out.push(text.parse().unwrap_or_else(|e| panic!("value {text:?} is not a number: {e}")));
            }
        }
    };
    poll_until(&mut out, Instant::now() + deadline, Some(expected));
    poll_until(&mut out, Instant::now() + then_for, None);
    out
}
