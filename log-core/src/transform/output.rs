//! Where a runner's writes go: each to a partition of its topic (keyed records by Kafka's
//! murmur2 partitioner, as Java producers place them; keyless ones stick to one partition per
//! batch, rotating), then, for partitions this broker leads, one Produce request handed to
//! the broker's own produce path in-process — the same validation, appends and acks=all wait
//! as a client's request, without a client or a socket — and for the others the Kafka
//! producer, which reaches their leaders.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::metadata::MetadataImage;
use crate::storage::{BatchBuilder, Compression, RecordHeader, TimestampType};

/// The broker's produce path, in-process: a Produce request in, its response out (an error
/// when the broker is gone).
pub type LocalProduce = Arc<dyn Fn(ProduceRequest) -> Pin<Box<dyn Future<Output = Result<ProduceResponse, String>> + Send>> + Send + Sync>;

/// Kafka's murmur2 hash (Java's `Utils.murmur2`), which its default partitioner uses for keys.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: i32 = 0x5bd1_e995;
    let length = data.len() as i32;
    let mut h: i32 = (0x9747_b28c_u32 as i32) ^ length;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= ((k as u32) >> 24) as i32;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= (rest[2] as i32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as i32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as i32;
        h = h.wrapping_mul(M);
    }
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(M);
    h ^= ((h as u32) >> 15) as i32;
    h
}

/// The partition of `partitions` a record with `key` goes to, as Kafka's default partitioner
/// places keyed records; keyless records go to `sticky`.
pub fn partition_for(key: Option<&[u8]>, partitions: i32, sticky: i32) -> i32 {
    match key {
        Some(key) if partitions > 0 => (murmur2(key) & 0x7fff_ffff) % partitions,
        _ => sticky.rem_euclid(partitions.max(1)),
    }
}

/// One record on its way to a partition.
pub(crate) struct Placed<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: Vec<(String, Option<Bytes>)>,
    pub(crate) timestamp: i64,
}

/// A Produce request (acks=all) carrying `records` as one batch per partition.
pub(crate) fn produce_request(records: &BTreeMap<(String, i32), Vec<Placed<'_>>>, timeout_ms: i32) -> Result<ProduceRequest, String> {
    let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for ((topic, partition), placed) in records {
        let mut batch = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
        for (i, r) in placed.iter().enumerate() {
            let headers: Vec<RecordHeader> = r
                .headers
                .iter()
                .map(|(k, v)| RecordHeader { key: Bytes::copy_from_slice(k.as_bytes()), value: v.clone() })
                .collect();
            batch.push(i as i64, r.timestamp, r.key, r.value, &headers);
        }
        let bytes = batch.build().map_err(|e| e.to_string())?;
        topics.entry(topic).or_default().push(PartitionProduceData::default().with_index(*partition).with_records(Some(Bytes::from(bytes))));
    }
    let topic_data = topics
        .into_iter()
        .map(|(name, partitions)| TopicProduceData::default().with_name(TopicName(StrBytes::from_string(name.to_string()))).with_partition_data(partitions))
        .collect();
    Ok(ProduceRequest::default().with_acks(-1).with_timeout_ms(timeout_ms).with_topic_data(topic_data))
}

/// The first partition the response refuses, as an error.
pub(crate) fn check_response(response: Result<ProduceResponse, String>) -> Result<(), String> {
    let response = response?;
    for topic in &response.responses {
        for p in &topic.partition_responses {
            if p.error_code != 0 {
                let code = kafka_protocol::ResponseError::try_from_code(p.error_code).map_or_else(|| p.error_code.to_string(), |e| format!("{e:?}"));
                let message = p.error_message.as_deref().unwrap_or("");
                return Err(format!("producing to {}-{} failed: {code} {message}", topic.name.as_str(), p.index));
            }
        }
    }
    Ok(())
}

/// Whether this broker leads `topic`-`partition` in `image`.
pub(crate) fn led_here(image: &MetadataImage, node_id: i32, topic: &str, partition: i32) -> bool {
    image.partition(topic, partition).is_some_and(|p| p.leader == node_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas() {
        // Kafka's own test vectors (UtilsTest.testMurmur2).
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58_897_971);
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn keys_pick_their_partition_and_keyless_records_the_sticky_one() {
        assert_eq!(partition_for(Some(b"21"), 6, 0), (-973_932_308i32 & 0x7fff_ffff) % 6);
        assert_eq!(partition_for(None, 6, 13), 1);
        assert_eq!(partition_for(None, 6, -1), 5);
    }
}
