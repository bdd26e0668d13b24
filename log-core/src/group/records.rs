//! The records of the `__consumer_offsets` topic, in Kafka's own layout so that Kafka tools
//! read what Fjord writes and Fjord reads what Kafka wrote (non-flexible versions).
//!
//! ```text
//! key   i16 version ─┬─ 0, 1: offset commit  string group, string topic, i32 partition
//!                    └─ 2:    group metadata string group
//! offset commit value  i16 version (writes 3; reads 0–3)
//!   v0: i64 offset, string metadata, i64 commit_timestamp
//!   v1: i64 offset, string metadata, i64 commit_timestamp, i64 expire_timestamp
//!   v2: i64 offset, string metadata, i64 commit_timestamp
//!   v3: i64 offset, i32 leader_epoch, string metadata, i64 commit_timestamp
//! group metadata value  i16 version (writes 3; reads 0–3)
//!   string protocol_type, i32 generation, nullable string protocol, nullable string leader,
//!   [v2+] i64 current_state_timestamp, array of members:
//!     string member_id, [v3+] nullable string group_instance_id, string client_id,
//!     string client_host, [v1+] i32 rebalance_timeout, i32 session_timeout,
//!     bytes subscription, bytes assignment
//! ```
//! Strings are i16-length-prefixed (-1 = null), bytes i32-length-prefixed, arrays i32-counted,
//! all big-endian. A value of `None` (tombstone) deletes the offset or the group.
//!
//! Decoding checks every length before reading and never panics: bad bytes are a
//! [`RecordError`].

use bytes::Bytes;

/// Why a record of the offsets topic could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The bytes end before the field.
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    /// A length prefix is negative (and the field is not nullable) or absurd.
    #[error("invalid length {len} for {what}")]
    InvalidLength { what: &'static str, len: i64 },
    /// A string is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    /// A key version this coordinator does not know.
    #[error("unknown key version {0}")]
    UnknownKeyVersion(i16),
    /// A value version this coordinator does not know.
    #[error("unknown {kind} value version {version}")]
    UnknownValueVersion { kind: &'static str, version: i16 },
    /// Bytes left after the last field.
    #[error("{count} unexpected trailing bytes after {what}")]
    TrailingBytes { what: &'static str, count: usize },
    /// A record without a key.
    #[error("record has no key")]
    MissingKey,
}

/// The committed offset of one partition, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    /// Wall-clock milliseconds of the commit.
    pub commit_timestamp: i64,
}

/// A group's membership and assignment, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Empty for groups that only commit offsets.
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// Wall-clock milliseconds of the last state change; -1 when unknown.
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// One member in a [`GroupValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One decoded record of the offsets topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// A committed offset; `None` deletes it.
    Offset { group: String, topic: String, partition: i32, value: Option<OffsetValue> },
    /// A group's metadata; `None` deletes the group.
    Group { group: String, value: Option<GroupValue> },
}

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

impl GroupRecord {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            GroupRecord::Offset { group, .. } | GroupRecord::Group { group, .. } => group,
        }
    }

    /// Key and value bytes, in the versions Fjord writes.
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            GroupRecord::Offset { group, topic, partition, value } => {
                let mut key = Writer::default();
                key.i16(OFFSET_KEY_VERSION);
                key.string(group);
                key.string(topic);
                key.i32(*partition);
                (key.0, value.as_ref().map(encode_offset_value))
            }
            GroupRecord::Group { group, value } => {
                let mut key = Writer::default();
                key.i16(GROUP_KEY_VERSION);
                key.string(group);
                (key.0, value.as_ref().map(encode_group_value))
            }
        }
    }

    /// Decodes one record; never panics.
    pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<GroupRecord, RecordError> {
        let mut r = Reader::new(key.ok_or(RecordError::MissingKey)?);
        let version = r.i16("key version")?;
        let record = match version {
            0 | 1 => {
                let group = r.string("group")?;
                let topic = r.string("topic")?;
                let partition = r.i32("partition")?;
                r.finish("offset commit key")?;
                let value = value.map(decode_offset_value).transpose()?;
                GroupRecord::Offset { group, topic, partition, value }
            }
            2 => {
                let group = r.string("group")?;
                r.finish("group metadata key")?;
                let value = value.map(decode_group_value).transpose()?;
                GroupRecord::Group { group, value }
            }
            other => return Err(RecordError::UnknownKeyVersion(other)),
        };
        Ok(record)
    }
}

fn encode_offset_value(v: &OffsetValue) -> Vec<u8> {
    let mut w = Writer::default();
    w.i16(OFFSET_VALUE_VERSION);
    w.i64(v.offset);
    w.i32(v.leader_epoch);
    w.string(&v.metadata);
    w.i64(v.commit_timestamp);
    w.0
}

fn encode_group_value(v: &GroupValue) -> Vec<u8> {
    let mut w = Writer::default();
    w.i16(GROUP_VALUE_VERSION);
    w.string(&v.protocol_type);
    w.i32(v.generation);
    w.nullable_string(v.protocol.as_deref());
    w.nullable_string(v.leader.as_deref());
    w.i64(v.current_state_timestamp);
    w.i32(i32::try_from(v.members.len()).unwrap_or(i32::MAX));
    for m in &v.members {
        w.string(&m.member_id);
        w.nullable_string(m.group_instance_id.as_deref());
        w.string(&m.client_id);
        w.string(&m.client_host);
        w.i32(m.rebalance_timeout_ms);
        w.i32(m.session_timeout_ms);
        w.bytes(&m.subscription);
        w.bytes(&m.assignment);
    }
    w.0
}

fn decode_offset_value(bytes: &[u8]) -> Result<OffsetValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("offset value version")?;
    let value = match version {
        0 | 2 => {
            let offset = r.i64("offset")?;
            let metadata = r.string("metadata")?;
            let commit_timestamp = r.i64("commit timestamp")?;
            OffsetValue { offset, leader_epoch: -1, metadata, commit_timestamp }
        }
        1 => {
            let offset = r.i64("offset")?;
            let metadata = r.string("metadata")?;
            let commit_timestamp = r.i64("commit timestamp")?;
            let _expire_timestamp = r.i64("expire timestamp")?;
            OffsetValue { offset, leader_epoch: -1, metadata, commit_timestamp }
        }
        3 => {
            let offset = r.i64("offset")?;
            let leader_epoch = r.i32("leader epoch")?;
            let metadata = r.string("metadata")?;
            let commit_timestamp = r.i64("commit timestamp")?;
            OffsetValue { offset, leader_epoch, metadata, commit_timestamp }
        }
        other => return Err(RecordError::UnknownValueVersion { kind: "offset commit", version: other }),
    };
    r.finish("offset commit value")?;
    Ok(value)
}

fn decode_group_value(bytes: &[u8]) -> Result<GroupValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("group value version")?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownValueVersion { kind: "group metadata", version });
    }
    let protocol_type = r.string("protocol type")?;
    let generation = r.i32("generation")?;
    let protocol = r.nullable_string("protocol")?;
    let leader = r.nullable_string("leader")?;
    let current_state_timestamp = if version >= 2 { r.i64("current state timestamp")? } else { -1 };
    let count = r.i32("member count")?;
    // Each member takes at least 22 bytes, so a count beyond the remaining bytes is a lie.
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c <= r.remaining())
        .ok_or(RecordError::InvalidLength { what: "members", len: i64::from(count) })?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = r.string("member id")?;
        let group_instance_id = if version >= 3 { r.nullable_string("group instance id")? } else { None };
        let client_id = r.string("client id")?;
        let client_host = r.string("client host")?;
        let session_or_rebalance = r.i32("timeout")?;
        let (rebalance_timeout_ms, session_timeout_ms) = if version >= 1 {
            (session_or_rebalance, r.i32("session timeout")?)
        } else {
            (session_or_rebalance, session_or_rebalance)
        };
        let subscription = r.bytes("subscription")?;
        let assignment = r.bytes("assignment")?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    r.finish("group metadata value")?;
    Ok(GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp, members })
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// Strings longer than i16::MAX bytes are cut at a character boundary: Kafka cannot
    /// represent them, and the coordinator never accepts such input (metadata is limited).
    fn string(&mut self, s: &str) {
        let mut end = s.len().min(i16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.i16(i16::try_from(end).unwrap_or(i16::MAX));
        self.0.extend_from_slice(&s.as_bytes()[..end]);
    }
    fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    fn remaining(&self) -> usize {
        self.buf.len()
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < n {
            return Err(RecordError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, RecordError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, RecordError> {
        let len = self.i16(what)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| RecordError::InvalidLength { what, len: i64::from(len) })?;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map(Some).map_err(|_| RecordError::InvalidUtf8 { what })
    }
    fn string(&mut self, what: &'static str) -> Result<String, RecordError> {
        self.nullable_string(what)?.ok_or(RecordError::InvalidLength { what, len: -1 })
    }
    fn bytes(&mut self, what: &'static str) -> Result<Bytes, RecordError> {
        let len = self.i32(what)?;
        // Kafka writes null bytes as -1; treat as empty (the coordinator stores no nulls).
        if len == -1 {
            return Ok(Bytes::new());
        }
        let len = usize::try_from(len).map_err(|_| RecordError::InvalidLength { what, len: i64::from(len) })?;
        Ok(Bytes::copy_from_slice(self.take(len, what)?))
    }
    fn finish(&self, what: &'static str) -> Result<(), RecordError> {
        if self.buf.is_empty() { Ok(()) } else { Err(RecordError::TrailingBytes { what, count: self.buf.len() }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group_record() -> GroupRecord {
        GroupRecord::Group {
            group: "g".into(),
            value: Some(GroupValue {
                protocol_type: "consumer".into(),
                generation: 7,
                protocol: Some("range".into()),
                leader: Some("m1".into()),
                current_state_timestamp: 1234,
                members: vec![MemberValue {
                    member_id: "m1".into(),
                    group_instance_id: Some("i1".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 10_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            }),
        }
    }

    #[test]
    fn records_round_trip() {
        let offset = GroupRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
            value: Some(OffsetValue { offset: 42, leader_epoch: 5, metadata: "meta".into(), commit_timestamp: 99 }),
        };
        for record in [offset, group_record(), GroupRecord::Group { group: "g".into(), value: None }] {
            let (k, v) = record.encode();
            assert_eq!(GroupRecord::decode(Some(&k), v.as_deref()), Ok(record));
        }
    }

    #[test]
    fn offset_layout_is_kafkas() {
        let (k, v) = GroupRecord::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
            value: Some(OffsetValue { offset: 2, leader_epoch: -1, metadata: String::new(), commit_timestamp: 3 }),
        }
        .encode();
        assert_eq!(k, [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 1]);
        let v = v.unwrap_or_default();
        assert_eq!(v, [0, 3, 0, 0, 0, 0, 0, 0, 0, 2, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn reads_older_offset_value_versions() {
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&5i64.to_be_bytes());
        v1.extend_from_slice(&[0, 2, b'h', b'i']);
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&8i64.to_be_bytes());
        let (k, _) = GroupRecord::Offset { group: "g".into(), topic: "t".into(), partition: 0, value: None }.encode();
        let decoded = GroupRecord::decode(Some(&k), Some(&v1));
        let expected = OffsetValue { offset: 5, leader_epoch: -1, metadata: "hi".into(), commit_timestamp: 7 };
        assert_eq!(
            decoded,
            Ok(GroupRecord::Offset { group: "g".into(), topic: "t".into(), partition: 0, value: Some(expected) })
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let (k, v) = group_record().encode();
        let v = v.unwrap_or_default();
        for cut in 0..v.len() {
            assert!(GroupRecord::decode(Some(&k), Some(&v[..cut])).is_err(), "cut at {cut}");
        }
        for cut in 0..k.len() {
            assert!(GroupRecord::decode(Some(&k[..cut]), Some(&v)).is_err(), "key cut at {cut}");
        }
        // Flip every byte to every interesting value: decoding may succeed or fail, never panic.
        for i in 0..v.len() {
            for b in [0x00, 0x7f, 0x80, 0xff] {
                let mut bad = v.clone();
                bad[i] = b;
                let _ = GroupRecord::decode(Some(&k), Some(&bad));
            }
        }
        assert_eq!(GroupRecord::decode(None, None), Err(RecordError::MissingKey));
        assert_eq!(GroupRecord::decode(Some(&[0, 9]), None), Err(RecordError::UnknownKeyVersion(9)));
    }
}
