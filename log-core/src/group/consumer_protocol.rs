//! Just enough of the Java consumer's embedded protocol (`ConsumerProtocolSubscription`, the
//! member metadata of groups whose protocol type is `consumer`) to know which topics a group
//! subscribes to: OffsetDelete refuses to delete offsets of those, as Kafka does.
//!
//! ```text
//! i16 version, array (i32 count) of string (i16 length) topics, then fields we do not read
//! ```

/// The protocol type of groups of Kafka consumers.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The topics of a consumer subscription, or `None` when the bytes are not one.
pub(crate) fn subscribed_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let version = i16::from_be_bytes(metadata.get(0..2)?.try_into().ok()?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(metadata.get(2..6)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let mut pos = 6usize;
    let mut topics = Vec::with_capacity(count.min(metadata.len()));
    for _ in 0..count {
        let len = i16::from_be_bytes(metadata.get(pos..pos + 2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        pos += 2;
        let raw = metadata.get(pos..pos + len)?;
        topics.push(String::from_utf8(raw.to_vec()).ok()?);
        pos += len;
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_topics_and_rejects_garbage() {
        let mut m = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // null user data, ignored
        assert_eq!(subscribed_topics(&m), Some(vec!["a".to_string(), "bc".to_string()]));
        assert_eq!(subscribed_topics(&[0, 1, 0, 0, 0, 9]), None);
        assert_eq!(subscribed_topics(b"x"), None);
    }
}
