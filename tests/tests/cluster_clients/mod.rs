//! rdkafka helpers the cluster tests share (`cluster.rs`, `cluster_admin.rs`,
//! `network_partition.rs` each include this module): write increasing values with an
//! idempotent acks=all producer, and read one partition's values back in offset order.

// Each test binary that includes this module uses only some of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use fjord_tests::unique_name;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
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
    for v in values {
        let value = v.to_string();
        let mut record = BaseRecord::<(), str>::to(topic).payload(&value);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(50));
        }
    }
    producer.flush(flush).expect("every record acknowledged");
}

/// The values in `partition` of `topic`, in offset order: read until `expected` have come
/// (or `deadline` passed), then for `then_for` more, so that a stray extra record shows.
pub fn read_values(bootstrap: &str, topic: &str, partition: i32, expected: usize, deadline: Duration, then_for: Duration) -> Vec<u64> {
    // Assigned, not subscribed: the group id is only a name here.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Beginning).expect("an assignment");
    consumer.assign(&assignment).expect("assign");
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
