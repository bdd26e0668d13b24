//! A sink's messages taken from librdkafka many at a time. Every partition the sink's
//! consumer is assigned has its fetched messages forwarded to one queue of the sink's own,
//! which the reader thread drains in batches (`rd_kafka_consume_batch_queue`); group events
//! (assignments, commits, errors) stay on the consumer's queue and are served by `poll`, as
//! before.
//!
//! librdkafka's one-message poll pays, per message, several clock reads, a telemetry
//! histogram update under a lock, and an event wrapped for the application; a batch pays them
//! once. The rdkafka crate does not wrap the batch call, so this module holds the few calls
//! into librdkafka it needs, each with why it is sound.
//!
//! Partitions are forwarded as they are assigned (`pre_rebalance`, before librdkafka starts
//! fetching them), so a partition's messages all arrive on the sink's queue, in order.
//! Messages of a partition revoked meanwhile are dropped by librdkafka's own version check
//! inside the batch call, as they would be from the consumer's queue.
//!
//! The workspace denies `unsafe`; this module is the one place in `connect` allowed it, for
//! these FFI calls only.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::record::Header;

/// A queue created by the sink (`rd_kafka_queue_new`).
struct QueuePtr(*mut rd::rd_kafka_queue_t);

// SAFETY: librdkafka queues are thread-safe (every operation takes the queue's lock); the
// pointer is only handed to librdkafka.
unsafe impl Send for QueuePtr {}
// SAFETY: as above.
unsafe impl Sync for QueuePtr {}

/// The context of a sink's consumer: forwards each assigned partition to the sink's queue.
///
/// The queue is held under a lock that `FetchQueue` takes to clear it before destroying the
/// queue, so an assignment served later (say, while the consumer closes) never forwards to a
/// queue that is gone.
#[derive(Default)]
pub(crate) struct SinkContext {
    queue: Mutex<Option<QueuePtr>>,
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(partitions) = rebalance else { return };
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = queue.as_ref() else { return };
        let rk = consumer.client().native_ptr();
        for element in partitions.elements() {
            let Ok(topic) = CString::new(element.topic()) else { continue };
            // SAFETY: `rk` is the live client calling us; `topic` is a NUL-terminated string
            // that outlives the call. The partition's queue handle is released right after
            // forwarding, which keeps the forwarding (it belongs to the partition's queue).
            unsafe {
                let partition_queue = rd::rd_kafka_queue_get_partition(rk, topic.as_ptr(), element.partition());
                if partition_queue.is_null() {
                    continue;
                }
                rd::rd_kafka_queue_forward(partition_queue, queue.0);
                rd::rd_kafka_queue_destroy(partition_queue);
            }
        }
    }
}

/// The sink's queue of fetched messages, drained by the reader thread.
pub(crate) struct FetchQueue {
    /// Held so that the client outlives its queue.
    consumer: Arc<BaseConsumer<SinkContext>>,
    queue: *mut rd::rd_kafka_queue_t,
    batch: Vec<*mut rd::rd_kafka_message_t>,
}

// SAFETY: the queue is thread-safe (see `QueuePtr`), and the message pointers in `batch` are
// only filled and released inside `drain`.
unsafe impl Send for FetchQueue {}

impl FetchQueue {
    /// Creates the sink's queue for `consumer`; call before it subscribes, so that every
    /// assignment is forwarded. `None` if the consumer already has one.
    pub(crate) fn attach(consumer: Arc<BaseConsumer<SinkContext>>) -> Option<Self> {
        // SAFETY: the client is live (we hold it); the new queue is ours to destroy (`Drop`).
        let queue = unsafe { rd::rd_kafka_queue_new(consumer.client().native_ptr()) };
        if queue.is_null() {
            return None;
        }
        let mut slot = consumer.context().queue.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            // SAFETY: just created, not shared.
            unsafe { rd::rd_kafka_queue_destroy(queue) };
            return None;
        }
        *slot = Some(QueuePtr(queue));
        drop(slot);
        Some(Self { consumer, queue, batch: Vec::new() })
    }

    /// Takes up to `max` messages, waiting at most `wait` for the first, and gives each (or
    /// the error librdkafka reported in its place) to `each`, in order. The count taken.
    pub(crate) fn drain(&mut self, wait: Duration, max: usize, mut each: impl FnMut(Result<Incoming<'_>, KafkaError>)) -> usize {
        self.batch.clear();
        self.batch.reserve(max);
        let timeout = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `batch` has room for `max` pointers; librdkafka writes that many at most and
        // returns how many it wrote (or -1 on error).
        let taken = unsafe { rd::rd_kafka_consume_batch_queue(self.queue, timeout, self.batch.as_mut_ptr(), max) };
        let Ok(taken) = usize::try_from(taken) else { return 0 };
        // SAFETY: librdkafka initialised the first `taken` entries.
        unsafe { self.batch.set_len(taken.min(max)) };
        // Topic names by topic handle: every message of the batch is alive until released
        // below, so a handle seen in this batch names the same topic throughout it.
        let mut topics: Vec<(*mut rd::rd_kafka_topic_t, String)> = Vec::new();
        for &message in &self.batch {
            // SAFETY: a message librdkafka returned, not yet destroyed.
            let raw = unsafe { &*message };
            let known = topics.iter().position(|(rkt, _)| *rkt == raw.rkt);
            let at = known.unwrap_or_else(|| {
                // SAFETY: a message's topic handle is valid while the message is, and its name
                // is a NUL-terminated string owned by the handle.
                let name = unsafe { CStr::from_ptr(rd::rd_kafka_topic_name(raw.rkt)) }.to_string_lossy().into_owned();
                topics.push((raw.rkt, name));
                topics.len() - 1
            });
            let topic = topics[at].1.as_str();
            if raw.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                let error = match raw.err {
                    rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => KafkaError::PartitionEOF(raw.partition),
                    code => KafkaError::MessageConsumption(RDKafkaErrorCode::from(code)),
                };
                each(Err(error));
                continue;
            }
            each(Ok(Incoming {
                topic,
                partition: raw.partition,
                offset: raw.offset,
                // SAFETY: key and payload point to `key_len`/`len` bytes owned by the message.
                key: unsafe { bytes(raw.key, raw.key_len) },
                payload: unsafe { bytes(raw.payload, raw.len) },
                timestamp: timestamp(message),
                headers: headers(message),
            }));
        }
        for message in self.batch.drain(..) {
            // SAFETY: each message is released once, after its last use above.
            unsafe { rd::rd_kafka_message_destroy(message) };
        }
        taken
    }
}

impl Drop for FetchQueue {
    fn drop(&mut self) {
        // No assignment forwards to the queue from now on.
        self.consumer.context().queue.lock().unwrap_or_else(PoisonError::into_inner).take();
        // SAFETY: the queue was created by `attach` and is released once, and the context no
        // longer hands it out; the consumer (held by `self`) is still alive. Partitions still
        // forwarded to it keep librdkafka's queue allocated, and the messages they send after
        // this are dropped with it. (Fields drop after this, so the consumer outlives the queue.)
        unsafe { rd::rd_kafka_queue_destroy(self.queue) };
    }
}

/// `len` bytes at `ptr`, `None` for a null pointer.
///
/// SAFETY: `ptr` must be null or point to `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(ptr: *mut std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY: as the caller promises.
    (!ptr.is_null()).then(|| unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

fn timestamp(message: *mut rd::rd_kafka_message_t) -> Option<i64> {
    let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    // SAFETY: a live message; librdkafka writes the timestamp's type.
    let millis = unsafe { rd::rd_kafka_message_timestamp(message, &mut kind) };
    (kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && millis >= 0).then_some(millis)
}

fn headers(message: *mut rd::rd_kafka_message_t) -> Vec<Header> {
    let mut list: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: a live message; the headers stay owned by it.
    if unsafe { rd::rd_kafka_message_headers(message, &mut list) } != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || list.is_null() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for index in 0.. {
        let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
        // SAFETY: `list` belongs to the live message; librdkafka fills the three outputs.
        if unsafe { rd::rd_kafka_header_get_all(list, index, &mut name, &mut value, &mut size) } != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            break;
        }
        // SAFETY: a header's name is NUL-terminated and its value `size` bytes, both owned
        // by the message.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
        let value = unsafe { bytes(value.cast_mut(), size) }.map(<[u8]>::to_vec);
        out.push((name, value));
    }
    out
}

/// A consumed message as the sink's decoder reads it, from the batch queue or from the
/// consumer's own poll.
pub(crate) struct Incoming<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub timestamp: Option<i64>,
    pub headers: Vec<Header>,
}

impl<'a> Incoming<'a> {
    /// A message the consumer's poll returned.
    pub(crate) fn from_message(message: &'a impl Message) -> Self {
        Self {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            payload: message.payload(),
            timestamp: message.timestamp().to_millis(),
            headers: message.headers().map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect()).unwrap_or_default(),
        }
    }
}
