//! Builders for requests, a coordinator on an in-memory offsets topic, and small waits.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fjord_log_core::group::{ClientInfo, GroupConfig, GroupCoordinator, MemoryOffsetsTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse,
    SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

pub type Coordinator = GroupCoordinator<MemoryOffsetsTopic>;

pub const PARTITIONS: i32 = 5;

/// Short timeouts so that real-time tests stay quick; ticks every 10 ms.
pub fn config() -> GroupConfig {
    GroupConfig {
        min_session_timeout_ms: 50,
        offsets_partitions: PARTITIONS,
        tick_interval_ms: 10,
        ..GroupConfig::default()
    }
}

pub async fn coordinator_with(config: GroupConfig) -> (Coordinator, MemoryOffsetsTopic) {
    let topic = MemoryOffsetsTopic::new(config.offsets_partitions);
    let coordinator = GroupCoordinator::load(topic.clone(), config).await.expect("load an empty offsets topic");
    (coordinator, topic)
}

pub async fn coordinator() -> (Coordinator, MemoryOffsetsTopic) {
    coordinator_with(config()).await
}

pub fn client(id: &str) -> ClientInfo {
    ClientInfo { client_id: id.to_string(), client_host: "/127.0.0.1".to_string() }
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// A Java consumer's subscription (ConsumerProtocolSubscription v0) to `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

/// A consumer JoinGroup with the "range" protocol subscribing to `topics`.
#[derive(Debug, Clone)]
pub struct Join {
    pub group: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocols: Vec<(String, Bytes)>,
    pub protocol_type: String,
}

impl Join {
    pub fn new(group: &str) -> Self {
        Join {
            group: group.to_string(),
            member_id: String::new(),
            instance_id: None,
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 5_000,
            protocols: vec![("range".to_string(), subscription(&["t"]))],
            protocol_type: "consumer".to_string(),
        }
    }
    pub fn member(mut self, id: &str) -> Self {
        self.member_id = id.to_string();
        self
    }
    pub fn instance(mut self, id: &str) -> Self {
        self.instance_id = Some(id.to_string());
        self
    }
    pub fn session(mut self, ms: i32) -> Self {
        self.session_timeout_ms = ms;
        self
    }
    pub fn rebalance(mut self, ms: i32) -> Self {
        self.rebalance_timeout_ms = ms;
        self
    }
    pub fn protocols(mut self, protocols: Vec<(&str, Bytes)>) -> Self {
        self.protocols = protocols.into_iter().map(|(n, m)| (n.to_string(), m)).collect();
        self
    }
    pub fn request(&self) -> JoinGroupRequest {
        let mut r = JoinGroupRequest::default();
        r.group_id = gid(&self.group);
        r.member_id = s(&self.member_id);
        r.group_instance_id = self.instance_id.as_deref().map(s);
        r.session_timeout_ms = self.session_timeout_ms;
        r.rebalance_timeout_ms = self.rebalance_timeout_ms;
        r.protocol_type = s(&self.protocol_type);
        r.protocols = self
            .protocols
            .iter()
            .map(|(name, metadata)| {
                let mut p = JoinGroupRequestProtocol::default();
                p.name = s(name);
                p.metadata = metadata.clone();
                p
            })
            .collect();
        r
    }
}

pub async fn join(c: &Coordinator, j: &Join, version: i16) -> JoinGroupResponse {
    let response = c.join_group(j.request(), version, &client("client")).await;
    assert_encodes(&response, version);
    response
}

/// Joins a v5 group as a new member: the MEMBER_ID_REQUIRED round trip, then the real join
/// (which may wait for the join phase).
pub async fn join_new(c: &Coordinator, j: Join) -> JoinGroupResponse {
    let first = join(c, &j, 5).await;
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    join(c, &j.member(&first.member_id), 5).await
}

pub async fn sync(
    c: &Coordinator,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
) -> SyncGroupResponse {
    let mut r = SyncGroupRequest::default();
    r.group_id = gid(group);
    r.member_id = s(member);
    r.generation_id = generation;
    r.assignments = assignments
        .iter()
        .map(|(m, a)| {
            let mut x = SyncGroupRequestAssignment::default();
            x.member_id = s(m);
            x.assignment = Bytes::copy_from_slice(a);
            x
        })
        .collect();
    let response = c.sync_group(r, 5).await;
    assert_encodes(&response, 5);
    response
}

pub async fn heartbeat(c: &Coordinator, group: &str, member: &str, generation: i32) -> i16 {
    heartbeat_static(c, group, member, None, generation).await
}

pub async fn heartbeat_static(
    c: &Coordinator,
    group: &str,
    member: &str,
    instance: Option<&str>,
    generation: i32,
) -> i16 {
    let mut r = HeartbeatRequest::default();
    r.group_id = gid(group);
    r.member_id = s(member);
    r.group_instance_id = instance.map(s);
    r.generation_id = generation;
    c.heartbeat(r, 4).await.error_code
}

pub fn commit_request(group: &str, member: &str, generation: i32, offsets: &[(&str, i32, i64)]) -> OffsetCommitRequest {
    let mut r = OffsetCommitRequest::default();
    r.group_id = gid(group);
    r.member_id = s(member);
    r.generation_id_or_member_epoch = generation;
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        if topics.last().map(|t| &*t.name.0) != Some(*topic) {
            let mut t = OffsetCommitRequestTopic::default();
            t.name = TopicName(s(topic));
            topics.push(t);
        }
        let mut p = OffsetCommitRequestPartition::default();
        p.partition_index = *partition;
        p.committed_offset = *offset;
        p.committed_leader_epoch = 3;
        p.committed_metadata = Some(s("meta"));
        if let Some(t) = topics.last_mut() {
            t.partitions.push(p);
        }
    }
    r.topics = topics;
    r
}

/// Commits and returns each partition's error code, in request order.
pub async fn commit(
    c: &Coordinator,
    group: &str,
    member: &str,
    generation: i32,
    offsets: &[(&str, i32, i64)],
) -> Vec<i16> {
    let response: OffsetCommitResponse =
        c.offset_commit(commit_request(group, member, generation, offsets), 8, |_, p| p < 10).await;
    assert_encodes(&response, 8);
    response.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
}

/// The response must encode at the version it was made for (kafka-protocol refuses fields a
/// version lacks).
pub fn assert_encodes<T: Encodable>(response: &T, version: i16) {
    let mut buf = BytesMut::new();
    if let Err(e) = response.encode(&mut buf, version) {
        panic!("response does not encode at v{version}: {e}");
    }
}

/// Polls `check` until it returns `Some`, for up to 10 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
