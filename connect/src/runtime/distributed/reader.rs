//! Reading an internal topic from its beginning, for as long as the worker runs: one thread
//! per topic, a consumer outside any group assigned every partition, each record handed to a
//! callback in the order of its partition, and the end of the topic reported each time it
//! is reached (so the worker knows when it has read everything written before it started).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use crate::error::Result;
use crate::runtime::Cluster;

/// What a reader hands on.
pub(crate) enum Read<'a> {
    Record { offset: i64, key: &'a [u8], payload: Option<&'a [u8]> },
    /// One of the partitions has been read to its end (for the one-partition config topic:
    /// everything written until now has been handed over).
    End,
}

/// Starts a thread reading `partitions` partitions of `topic` until `stop` is set.
pub(crate) fn spawn(cluster: &Cluster, topic: &str, partitions: i32, stop: Arc<AtomicBool>, mut handle: impl FnMut(Read<'_>) + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    let consumer = cluster.topic_reader(topic, partitions)?;
    let topic = topic.to_string();
    let thread = std::thread::Builder::new()
        .name(format!("connect-read-{topic}"))
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(200)) {
                    None => {}
                    Some(Ok(message)) => handle(Read::Record {
                        offset: message.offset(),
                        key: message.key().unwrap_or_default(),
                        payload: message.payload(),
                    }),
                    Some(Err(KafkaError::PartitionEOF(_))) => handle(Read::End),
                    Some(Err(e)) => {
                        tracing::warn!(topic = %topic, error = %e, "reading the connect group's internal topic failed; retrying");
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
            }
        })
        .map_err(|e| crate::error::ConnectError::Task(format!("could not start a reader thread: {e}")))?;
    Ok(thread)
}
