//! The records the host hands a plugin and gets back ([`InputBatch`], [`OutputRecord`]), and
//! their packing into the world's batches: every byte of a batch in one buffer, records and
//! headers pointing into it with spans, so that a batch crosses into the plugin and back in a
//! few copies rather than several per record.

use crate::bindings::wit;

/// A record header: a name and an optional value (Kafka allows null header values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// A record given to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Its position in the source partition.
    pub offset: i64,
}

/// Records of one source partition, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputBatch {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<InputRecord>,
}

/// A record a plugin returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; none: the newest timestamp of the batch's input
    /// records.
    pub timestamp: Option<i64>,
    /// The topic to write to; none: the deployment's output topic.
    pub topic: Option<String>,
}

/// Packs `batch` for a plugin call; a batch of 4 GiB or more does not fit a span.
pub(crate) fn pack(batch: &InputBatch) -> Result<wit::InputBatch, String> {
    let field = |b: &Option<Vec<u8>>| b.as_ref().map_or(0, Vec::len);
    let mut bytes = 0usize;
    let mut header_count = 0usize;
    for r in &batch.records {
        bytes += field(&r.key) + field(&r.value);
        bytes += r.headers.iter().map(|h| h.key.len() + field(&h.value)).sum::<usize>();
        header_count += r.headers.len();
    }
    if bytes > u32::MAX as usize {
        return Err(format!("a batch of {bytes} bytes is too large for one plugin call (at most 4 GiB)"));
    }
    let mut data = Vec::with_capacity(bytes);
    let mut headers = Vec::with_capacity(header_count);
    let mut records = Vec::with_capacity(batch.records.len());
    for r in &batch.records {
        let key = r.key.as_deref().map(|k| put(&mut data, k));
        let value = r.value.as_deref().map(|v| put(&mut data, v));
        let first_header = headers.len() as u32;
        for h in &r.headers {
            let key = put(&mut data, h.key.as_bytes());
            headers.push(wit::Header { key, value: h.value.as_deref().map(|v| put(&mut data, v)) });
        }
        records.push(wit::InputRecord { key, value, first_header, header_count: r.headers.len() as u32, timestamp: r.timestamp, offset: r.offset });
    }
    Ok(wit::InputBatch { topic: batch.topic.clone(), partition: batch.partition, data, headers, records })
}

fn put(data: &mut Vec<u8>, bytes: &[u8]) -> wit::Span {
    let offset = data.len() as u32;
    data.extend_from_slice(bytes);
    wit::Span { offset, len: bytes.len() as u32 }
}

/// A plugin's answer that does not hold together: why, and the output record at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) reason: String,
    pub(crate) record: usize,
}

/// Unpacks a plugin's answer. A span past the end of its data, headers or a topic past the
/// end of its lists, or a header name that is not UTF-8 is [`Malformed`].
pub(crate) fn unpack(batch: wit::OutputBatch) -> Result<Vec<OutputRecord>, Malformed> {
    let wit::OutputBatch { data, headers, topics, records } = batch;
    let mut out = Vec::with_capacity(records.len());
    for (index, r) in records.iter().enumerate() {
        let malformed = |reason: String| Malformed { reason, record: index };
        let bytes = |what: &str, span: wit::Span| -> Result<Vec<u8>, Malformed> {
            let start = span.offset as usize;
            data.get(start..start.saturating_add(span.len as usize)).map(<[u8]>::to_vec).ok_or_else(|| {
                malformed(format!("its {what} ({} bytes from {}) lies outside the batch's {} bytes of data", span.len, span.offset, data.len()))
            })
        };
        let first = r.first_header as usize;
        let own_headers = headers.get(first..first.saturating_add(r.header_count as usize)).ok_or_else(|| {
            malformed(format!("its {} headers from {} lie outside the batch's {} headers", r.header_count, r.first_header, headers.len()))
        })?;
        let mut record_headers = Vec::with_capacity(own_headers.len());
        for h in own_headers {
            let key = String::from_utf8(bytes("header name", h.key)?).map_err(|_| malformed("a header name is not UTF-8".into()))?;
            let value = h.value.map(|v| bytes("header value", v)).transpose()?;
            record_headers.push(Header { key, value });
        }
        let topic = match r.topic {
            None => None,
            Some(i) => Some(topics.get(i as usize).cloned().ok_or_else(|| malformed(format!("it names topic {i} of the batch's {}", topics.len())))?),
        };
        out.push(OutputRecord {
            key: r.key.map(|k| bytes("key", k)).transpose()?,
            value: r.value.map(|v| bytes("value", v)).transpose()?,
            headers: record_headers,
            timestamp: r.timestamp,
            topic,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> InputBatch {
        let record = |offset: i64, value: Option<&str>| InputRecord {
            key: Some(format!("k{offset}").into_bytes()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: vec![Header { key: "h".into(), value: None }, Header { key: "trace".into(), value: Some(b"1".to_vec()) }],
            timestamp: 100 + offset,
            offset,
        };
        InputBatch { topic: "in".into(), partition: 3, records: vec![record(7, Some("seven")), record(8, None)] }
    }

    /// What a plugin passing every record on would answer: the input's own spans.
    fn echo(packed: &wit::InputBatch) -> wit::OutputBatch {
        let records = packed
            .records
            .iter()
            .map(|r| wit::OutputRecord { key: r.key, value: r.value, first_header: r.first_header, header_count: r.header_count, timestamp: None, topic: None })
            .collect();
        wit::OutputBatch { data: packed.data.clone(), headers: packed.headers.clone(), topics: Vec::new(), records }
    }

    #[test]
    fn a_packed_batch_unpacks_to_the_same_records() {
        let batch = input();
        let packed = pack(&batch).unwrap();
        assert_eq!(packed.records.len(), 2);
        assert_eq!(packed.headers.len(), 4);
        let out = unpack(echo(&packed)).unwrap();
        for (o, i) in out.iter().zip(&batch.records) {
            assert_eq!((&o.key, &o.value, &o.headers), (&i.key, &i.value, &i.headers));
        }
    }

    #[test]
    fn answers_pointing_outside_the_batch_are_malformed_not_a_panic() {
        let packed = pack(&input()).unwrap();
        let mut past_data = echo(&packed);
        past_data.records[1].key = Some(wit::Span { offset: u32::MAX, len: 10 });
        assert!(unpack(past_data).unwrap_err() == Malformed { reason: format!("its key (10 bytes from {}) lies outside the batch's {} bytes of data", u32::MAX, packed.data.len()), record: 1 });
        let mut past_headers = echo(&packed);
        past_headers.records[0].header_count = 99;
        assert!(unpack(past_headers).unwrap_err().reason.contains("headers"));
        let mut unknown_topic = echo(&packed);
        unknown_topic.records[0].topic = Some(0);
        assert!(unpack(unknown_topic).unwrap_err().reason.contains("topic 0"));
        let mut not_utf8 = echo(&packed);
        not_utf8.data.extend_from_slice(&[0xff, 0xfe]);
        not_utf8.headers[0].key = wit::Span { offset: packed.data.len() as u32, len: 2 };
        assert!(unpack(not_utf8).unwrap_err().reason.contains("UTF-8"));
    }
}
