//! Between the log and a plugin: the records of fetched batches as plugin input records.

use fjord_plugins::{Header, InputRecord};

use crate::storage::{decode_records, BatchDefect, BatchHeader, Batches};

/// The records at or after `from` in `batches` (whole batches as read from a partition),
/// control batches left out, with their offsets; and the offset after the last batch (where
/// the next read starts, even when every record of the batches was a control record).
pub(crate) fn input_records(batches: &[u8], from: i64) -> Result<(Vec<InputRecord>, i64), BatchDefect> {
    let mut records = Vec::new();
    let mut next = from;
    for batch in Batches::new(batches) {
        let (_, bytes) = batch?;
        let header = BatchHeader::parse(bytes)?;
        next = next.max(header.last_offset() + 1);
        if header.is_control() {
            continue;
        }
        let (_, decoded) = decode_records(bytes)?;
        records.extend(decoded.into_iter().filter(|r| r.offset >= from).map(|r| InputRecord {
            key: r.key,
            value: r.value,
            headers: r.headers.into_iter().map(|h| Header { key: String::from_utf8_lossy(&h.key).into_owned(), value: h.value })
                .collect(),
            timestamp: r.timestamp,
            offset: r.offset,
        }));
    }
    Ok((records, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{BatchBuilder, Compression, RecordHeader, TimestampType};

    #[test]
    fn records_before_the_position_are_left_out_and_the_next_offset_follows_the_batch() {
        let mut batch = BatchBuilder::new(10, Compression::Lz4, TimestampType::CreateTime);
        let header = [RecordHeader { key: "h".into(), value: Some("v".into()) }];
        for i in 0..3 {
            batch.push(10 + i, 1_000 + i, Some(b"k"), Some(format!("v{i}").as_bytes()), &header);
        }
        let bytes = batch.build().unwrap();
        let (records, next) = input_records(&bytes, 11).unwrap();
        assert_eq!(next, 13);
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [11, 12]);
        assert_eq!(records[0].value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(records[0].headers[0].key, "h");
        assert_eq!(records[0].timestamp, 1_001);
    }
}
