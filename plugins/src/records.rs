//! The records the host hands a plugin and gets back ([`InputBatch`], [`OutputRecord`]), and
//! their packing into the world's columnar batches: a column of numbers per field and every
//! key, value and header of a batch in one buffer, so that a batch crosses into the plugin and
//! back in one copy per column rather than several per record.

use bytes::Bytes;

use crate::bindings::wit;

/// A record header: a name and an optional value (Kafka allows null header values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// A record given to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
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
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; none: the newest timestamp of the batch's input
    /// records.
    pub timestamp: Option<i64>,
    /// The topic to write to; none: the deployment's output topic.
    pub topic: Option<String>,
}

/// Packs `batch` for a plugin call: its columns, and every key, value and header in one
/// buffer. A batch of 2 GiB or more does not fit the world's lengths.
pub(crate) fn pack(batch: &InputBatch) -> Result<wit::InputBatch, String> {
    let field = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
    let mut bytes = 0usize;
    let mut header_count = 0usize;
    for r in &batch.records {
        bytes += field(&r.key) + field(&r.value);
        bytes += r.headers.iter().map(|h| h.key.len() + field(&h.value)).sum::<usize>();
        header_count += r.headers.len();
    }
    if bytes > i32::MAX as usize {
        return Err(format!("a batch of {bytes} bytes is too large for one plugin call (at most 2 GiB)"));
    }
    let n = batch.records.len();
    let mut contents = wit::Contents {
        key_lengths: Vec::with_capacity(n),
        value_lengths: Vec::with_capacity(n),
        header_counts: Vec::with_capacity(n),
        header_name_lengths: Vec::with_capacity(header_count),
        header_value_lengths: Vec::with_capacity(header_count),
        data: Vec::with_capacity(bytes),
    };
    let mut offsets = Vec::with_capacity(n);
    let mut timestamps = Vec::with_capacity(n);
    for r in &batch.records {
        offsets.push(r.offset);
        timestamps.push(r.timestamp);
        contents.key_lengths.push(put(&mut contents.data, r.key.as_deref()));
        contents.value_lengths.push(put(&mut contents.data, r.value.as_deref()));
        contents.header_counts.push(r.headers.len() as u32);
        for h in &r.headers {
            contents.header_name_lengths.push(h.key.len() as u32);
            contents.data.extend_from_slice(h.key.as_bytes());
            contents.header_value_lengths.push(put(&mut contents.data, h.value.as_deref()));
        }
    }
    Ok(wit::InputBatch { topic: batch.topic.clone(), partition: batch.partition, offsets, timestamps, contents })
}

/// Appends `bytes` to `data`; its length, -1 for null.
fn put(data: &mut Vec<u8>, bytes: Option<&[u8]>) -> i32 {
    match bytes {
        Some(bytes) => {
            data.extend_from_slice(bytes);
            bytes.len() as i32
        }
        None => -1,
    }
}

/// A plugin's answer that does not hold together: why, and the output record at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) reason: String,
    /// None: the batch as a whole.
    pub(crate) record: Option<usize>,
}

/// Reads a batch's data front to back, as its length columns lay it out; what it gives out
/// are slices of the one buffer, not copies.
struct DataCursor {
    data: Bytes,
    at: usize,
}

impl DataCursor {
    /// The next `length` bytes (-1: null); `what` names them in the error.
    fn take(&mut self, length: i32, what: &str) -> Result<Option<Bytes>, String> {
        if length == -1 {
            return Ok(None);
        }
        let len = usize::try_from(length).map_err(|_| format!("its {what} has length {length} (only -1, for null, may be negative)"))?;
        let end = self.at.saturating_add(len);
        if end > self.data.len() {
            return Err(format!("its {what} ({len} bytes from {}) lies outside the batch's {} bytes of data", self.at, self.data.len()));
        }
        let bytes = self.data.slice(self.at..end);
        self.at = end;
        Ok(Some(bytes))
    }
}

/// Unpacks a plugin's answer. Columns of different lengths, lengths that run past the end of
/// the data or leave some of it unread, a header name that is not UTF-8 or a topic index
/// past the end of `topics` is [`Malformed`].
pub(crate) fn unpack(batch: wit::OutputBatch) -> Result<Vec<OutputRecord>, Malformed> {
    let wit::OutputBatch { contents, timestamps, targets, topics } = batch;
    let n = contents.key_lengths.len();
    let columns = [("value-lengths", contents.value_lengths.len()), ("header-counts", contents.header_counts.len()), ("timestamps", timestamps.len()), ("targets", targets.len())];
    if let Some((name, len)) = columns.iter().find(|(_, len)| *len != n) {
        return Err(Malformed { reason: format!("its {name} column has {len} entries and key-lengths {n}"), record: None });
    }
    let headers = contents.header_name_lengths.len();
    if contents.header_value_lengths.len() != headers {
        return Err(Malformed { reason: format!("its header-value-lengths column has {} entries and header-name-lengths {headers}", contents.header_value_lengths.len()), record: None });
    }
    let data_len = contents.data.len();
    let mut cursor = DataCursor { data: Bytes::from(contents.data), at: 0 };
    let mut next_header = 0usize;
    let mut out = Vec::with_capacity(n);
    for index in 0..n {
        let malformed = |reason: String| Malformed { reason, record: Some(index) };
        let key = cursor.take(contents.key_lengths[index], "key").map_err(malformed)?;
        let value = cursor.take(contents.value_lengths[index], "value").map_err(malformed)?;
        let count = contents.header_counts[index] as usize;
        let own = next_header..next_header.saturating_add(count);
        if own.end > headers {
            return Err(malformed(format!("its {count} headers from {next_header} lie outside the batch's {headers} headers")));
        }
        let mut record_headers = Vec::with_capacity(count);
        for h in own {
            let name_length = i32::try_from(contents.header_name_lengths[h]).unwrap_or(i32::MAX);
            let name = cursor.take(name_length, "header name").map_err(malformed)?.unwrap_or_default();
            let key = std::str::from_utf8(&name).map_err(|_| malformed("a header name is not UTF-8".into()))?.to_string();
            let value = cursor.take(contents.header_value_lengths[h], "header value").map_err(malformed)?;
            record_headers.push(Header { key, value });
        }
        next_header += count;
        let topic = match targets[index] {
            -1 => None,
            i => Some(usize::try_from(i).ok().and_then(|i| topics.get(i)).cloned().ok_or_else(|| malformed(format!("it names topic {i} of the batch's {}", topics.len())))?),
        };
        let timestamp = timestamps[index];
        out.push(OutputRecord { key, value, headers: record_headers, timestamp: (timestamp != -1).then_some(timestamp), topic });
    }
    if cursor.at != data_len {
        return Err(Malformed { reason: format!("its records' lengths add up to {} bytes of its {data_len} bytes of data", cursor.at), record: None });
    }
    if next_header != headers {
        return Err(Malformed { reason: format!("its records have {next_header} headers of its {headers}"), record: None });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> InputBatch {
        let record = |offset: i64, value: Option<&str>| InputRecord {
            key: Some(Bytes::from(format!("k{offset}").into_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![Header { key: "h".into(), value: None }, Header { key: "trace".into(), value: Some(Bytes::from_static(b"1")) }],
            timestamp: 100 + offset,
            offset,
        };
        InputBatch { topic: "in".into(), partition: 3, records: vec![record(7, Some("seven")), record(8, None)] }
    }

    /// What a plugin passing every record on would answer: the input's own contents.
    fn echo(packed: &wit::InputBatch) -> wit::OutputBatch {
        let n = packed.offsets.len();
        wit::OutputBatch { contents: packed.contents.clone(), timestamps: vec![-1; n], targets: vec![-1; n], topics: Vec::new() }
    }

    #[test]
    fn a_packed_batch_unpacks_to_the_same_records() {
        let batch = input();
        let packed = pack(&batch).unwrap();
        assert_eq!(packed.offsets, [7, 8]);
        assert_eq!(packed.contents.value_lengths, [5, -1]);
        assert_eq!(packed.contents.header_value_lengths, [-1, 1, -1, 1]);
        let out = unpack(echo(&packed)).unwrap();
        assert_eq!(out.len(), 2);
        for (o, i) in out.iter().zip(&batch.records) {
            assert_eq!((&o.key, &o.value, &o.headers, o.timestamp), (&i.key, &i.value, &i.headers, None));
        }
    }

    #[test]
    fn answers_that_do_not_add_up_are_malformed_not_a_panic() {
        let packed = pack(&input()).unwrap();
        let reason = |answer: wit::OutputBatch| unpack(answer).unwrap_err();
        let mut past_data = echo(&packed);
        past_data.contents.key_lengths[1] = 1000;
        let error = reason(past_data);
        assert_eq!(error.record, Some(1));
        assert!(error.reason.contains("lies outside the batch's"), "{error:?}");
        let mut negative = echo(&packed);
        negative.contents.value_lengths[0] = -2;
        assert!(reason(negative).reason.contains("length -2"));
        let mut past_headers = echo(&packed);
        past_headers.contents.header_counts[0] = 99;
        assert!(reason(past_headers).reason.contains("headers"));
        let mut unknown_topic = echo(&packed);
        unknown_topic.targets[0] = 0;
        assert!(reason(unknown_topic).reason.contains("topic 0"));
        let mut short_column = echo(&packed);
        short_column.timestamps.pop();
        assert_eq!(reason(short_column).record, None);
        let mut left_over = echo(&packed);
        left_over.contents.data.push(0);
        assert!(reason(left_over).reason.contains("add up to"));
        let mut not_utf8 = echo(&packed);
        let name_at = 2 + 5; // record 7's key "k7" and value "seven", then its first header's name
        not_utf8.contents.data[name_at] = 0xff;
        assert!(reason(not_utf8).reason.contains("UTF-8"));
    }
}
