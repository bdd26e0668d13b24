//! Committed offsets: OffsetCommit (validated against the group's generation and members as
//! Kafka does, persisted before the answer), OffsetFetch (single group v1–7, batched groups
//! v8+, all partitions when topics are null) and OffsetDelete.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::group::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::group::coordinator::GroupCoordinator;
use crate::group::records::{GroupRecord, OffsetValue};
use crate::group::state::{Group, GroupState, Now};
use crate::group::store::OffsetsTopic;

/// One partition of an OffsetCommit, with its outcome so far.
#[derive(Debug)]
struct CommitEntry {
    topic: String,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: Option<ResponseError>,
}

/// One partition of an OffsetFetch answer; offset -1 when nothing is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FetchedOffset {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
}

type TopicsFilter = Option<Vec<(String, Vec<i32>)>>;

impl Group {
    /// Kafka's `validateOffsetCommit` and the state check after it. `generation < 0` with no
    /// member id is a commit from outside group management, allowed only while Empty.
    fn validate_commit(
        &mut self,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: &Now,
    ) -> Option<ResponseError> {
        if self.is(GroupState::Dead) {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if generation < 0 && self.is(GroupState::Empty) {
            return None;
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            if self.is_static_member_fenced(instance_id, member_id) {
                return Some(ResponseError::FencedInstanceId);
            }
            let instance_unknown = instance_id.is_some_and(|i| self.static_member_id(i).is_none());
            if !self.has(member_id) || instance_unknown {
                return Some(ResponseError::UnknownMemberId);
            }
            if generation != self.generation {
                return Some(ResponseError::IllegalGeneration);
            }
        } else if !self.is(GroupState::Empty) {
            return Some(ResponseError::UnknownMemberId);
        }
        match self.state {
            GroupState::Empty => None,
            GroupState::Stable | GroupState::PreparingRebalance => {
                // Still allowed while preparing: the heartbeat tells the member to rejoin.
                if let Some(member) = self.member_mut(member_id) {
                    member.reset_session(now.instant);
                }
                None
            }
            GroupState::CompletingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::Dead => Some(ResponseError::CoordinatorNotAvailable),
        }
    }

    fn fetch_offsets(&self, topics: &TopicsFilter) -> Vec<(String, Vec<FetchedOffset>)> {
        let fetched = |topic: &str, partition: i32| {
            let committed = self.offsets.get(topic).and_then(|p| p.get(&partition));
            FetchedOffset {
                partition,
                offset: committed.map_or(-1, |c| c.offset),
                leader_epoch: committed.map_or(-1, |c| c.leader_epoch),
                metadata: committed.map(|c| c.metadata.clone()).unwrap_or_default(),
            }
        };
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(topic, partitions)| (topic.clone(), partitions.iter().map(|&p| fetched(topic, p)).collect()))
                .collect(),
            None => self
                .offsets
                .iter()
                .filter(|(_, partitions)| !partitions.is_empty())
                .map(|(topic, partitions)| (topic.clone(), partitions.keys().map(|&p| fetched(topic, p)).collect()))
                .collect(),
        }
    }

    pub(crate) fn remove_offset(&mut self, topic: &str, partition: i32) {
        if let Some(partitions) = self.offsets.get_mut(topic) {
            partitions.remove(&partition);
            if partitions.is_empty() {
                self.offsets.remove(topic);
            }
        }
    }

    fn has_offset(&self, topic: &str, partition: i32) -> bool {
        self.offsets.get(topic).is_some_and(|p| p.contains_key(&partition))
    }
}

impl<S: OffsetsTopic> GroupCoordinator<S> {
    /// OffsetCommit, versions 2–9 (topics by name). Partitions for which `partition_exists`
    /// is false get `UNKNOWN_TOPIC_OR_PARTITION`; the rest are validated against the group
    /// and persisted before the answer.
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        _version: i16,
        partition_exists: impl Fn(&str, i32) -> bool,
    ) -> OffsetCommitResponse {
        let mut entries: Vec<CommitEntry> = Vec::new();
        for topic in &req.topics {
            for p in &topic.partitions {
                let exists = partition_exists(&topic.name.0, p.partition_index);
                entries.push(CommitEntry {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    error: (!exists).then_some(ResponseError::UnknownTopicOrPartition),
                });
            }
        }
        let instance_id = req.group_instance_id.as_ref().map(|s| s.to_string());
        self.commit(
            &req.group_id.0,
            req.generation_id_or_member_epoch,
            &req.member_id,
            instance_id.as_deref(),
            &mut entries,
        )
        .await;

        let mut outcomes = entries.into_iter();
        let mut response = OffsetCommitResponse::default();
        response.topics = req
            .topics
            .into_iter()
            .map(|topic| {
                let mut t = OffsetCommitResponseTopic::default();
                t.partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut r = OffsetCommitResponsePartition::default();
                        r.partition_index = p.partition_index;
                        r.error_code = outcomes.next().and_then(|e| e.error).map_or(0, |e| e.code());
                        r
                    })
                    .collect();
                t.name = topic.name;
                t
            })
            .collect();
        response
    }

    async fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        entries: &mut [CommitEntry],
    ) {
        let fail_all = |entries: &mut [CommitEntry], error: ResponseError| {
            for e in entries.iter_mut().filter(|e| e.error.is_none()) {
                e.error = Some(error);
            }
        };
        if entries.iter().all(|e| e.error.is_some()) {
            return;
        }
        let handle = match self.inner.group(group_id) {
            Some(handle) => handle,
            // Outside group management (generation -1): the commit creates the group.
            None if generation < 0 => self.inner.group_or_create(group_id),
            None => return fail_all(entries, ResponseError::IllegalGeneration),
        };
        let mut group = handle.lock().await;
        let now = Now::get();
        if let Some(error) = group.validate_commit(generation, member_id, instance_id, &now) {
            return fail_all(entries, error);
        }
        let max = self.config().offset_metadata_max_bytes;
        for e in entries.iter_mut().filter(|e| e.error.is_none() && e.metadata.len() > max) {
            e.error = Some(ResponseError::OffsetMetadataTooLarge);
        }
        let records: Vec<GroupRecord> = entries
            .iter()
            .filter(|e| e.error.is_none())
            .map(|e| GroupRecord::Offset {
                group: group_id.to_string(),
                topic: e.topic.clone(),
                partition: e.partition,
                value: Some(OffsetValue {
                    offset: e.offset,
                    leader_epoch: e.leader_epoch,
                    metadata: e.metadata.clone(),
                    commit_timestamp: now.wall_ms,
                }),
            })
            .collect();
        if let Err(error) = self.inner.append(group_id, &records).await {
            tracing::warn!(group = %group_id, %error, "failed to persist offset commit");
            return fail_all(entries, error.write_error());
        }
        for record in records {
            if let GroupRecord::Offset { topic, partition, value: Some(value), .. } = record {
                group.offsets.entry(topic).or_default().insert(partition, value);
            }
        }
    }

    /// OffsetFetch, versions 1–9. `require_stable` is ignored: there are no transactional
    /// offsets pending.
    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let mut response = OffsetFetchResponse::default();
        if version >= 8 {
            for g in req.groups {
                let filter: TopicsFilter =
                    g.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
                let fetched = self.fetch(&g.group_id.0, &filter).await;
                let mut group = OffsetFetchResponseGroup::default();
                group.group_id = g.group_id;
                group.topics = fetched
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let mut t = OffsetFetchResponseTopics::default();
                        t.name = TopicName(StrBytes::from_string(topic));
                        t.partitions = partitions
                            .into_iter()
                            .map(|f| {
                                let mut p = OffsetFetchResponsePartitions::default();
                                p.partition_index = f.partition;
                                p.committed_offset = f.offset;
                                p.committed_leader_epoch = f.leader_epoch;
                                p.metadata = Some(StrBytes::from_string(f.metadata));
                                p
                            })
                            .collect();
                        t
                    })
                    .collect();
                response.groups.push(group);
            }
            return response;
        }
        let filter: TopicsFilter =
            req.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
        let fetched = self.fetch(&req.group_id.0, &filter).await;
        response.topics = fetched
            .into_iter()
            .map(|(topic, partitions)| {
                let mut t = OffsetFetchResponseTopic::default();
                t.name = TopicName(StrBytes::from_string(topic));
                t.partitions = partitions
                    .into_iter()
                    .map(|f| {
                        let mut p = OffsetFetchResponsePartition::default();
                        p.partition_index = f.partition;
                        p.committed_offset = f.offset;
                        if version >= 5 {
                            p.committed_leader_epoch = f.leader_epoch;
                        }
                        p.metadata = Some(StrBytes::from_string(f.metadata));
                        p
                    })
                    .collect();
                t
            })
            .collect();
        response
    }

    async fn fetch(&self, group_id: &str, filter: &TopicsFilter) -> Vec<(String, Vec<FetchedOffset>)> {
        match self.inner.group(group_id) {
            Some(handle) => handle.lock().await.fetch_offsets(filter),
            None => Group::new(group_id.to_string(), &Now::get()).fetch_offsets(filter),
        }
    }

    /// OffsetDelete (version 0): deletes committed offsets of an Empty group, or of topics a
    /// consumer group does not subscribe to (`GROUP_SUBSCRIBED_TO_TOPIC` otherwise).
    pub async fn offset_delete(&self, req: OffsetDeleteRequest, _version: i16) -> OffsetDeleteResponse {
        let mut response = OffsetDeleteResponse::default();
        let (top_error, errors) = self.delete_offsets(&req).await;
        if let Some(error) = top_error {
            response.error_code = error.code();
            return response;
        }
        let mut errors = errors.into_iter();
        response.topics = req
            .topics
            .into_iter()
            .map(|topic| {
                let mut t = OffsetDeleteResponseTopic::default();
                t.partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut r = OffsetDeleteResponsePartition::default();
                        r.partition_index = p.partition_index;
                        r.error_code = errors.next().flatten().map_or(0, |e| e.code());
                        r
                    })
                    .collect();
                t.name = topic.name;
                t
            })
            .collect();
        response
    }

    /// Drops every group's committed offsets on `topic`, which was deleted: tombstones go to
    /// `__consumer_offsets` first, then the groups forget them, as Kafka's coordinator does
    /// when topics are deleted. A group whose tombstones cannot be written keeps its offsets
    /// (logged); they expire with the group's retention.
    pub async fn remove_offsets_of_topic(&self, topic: &str) {
        for handle in self.inner.all_groups() {
            let mut group = handle.lock().await;
            let partitions: Vec<i32> = group.offsets.get(topic).map(|p| p.keys().copied().collect()).unwrap_or_default();
            if partitions.is_empty() {
                continue;
            }
            let group_id = group.id.clone();
            let records: Vec<GroupRecord> = partitions
                .iter()
                .map(|&partition| GroupRecord::Offset { group: group_id.clone(), topic: topic.to_string(), partition, value: None })
                .collect();
            match self.inner.append(&group_id, &records).await {
                Ok(()) => {
                    for partition in partitions {
                        group.remove_offset(topic, partition);
                    }
                }
                Err(error) => tracing::warn!(group = %group_id, topic, %error, "could not drop the offsets of a deleted topic"),
            }
        }
    }

    async fn delete_offsets(&self, req: &OffsetDeleteRequest) -> (Option<ResponseError>, Vec<Option<ResponseError>>) {
        let group_id = req.group_id.0.to_string();
        if group_id.is_empty() {
            return (Some(ResponseError::InvalidGroupId), Vec::new());
        }
        let Some(handle) = self.inner.group(&group_id) else {
            return (Some(ResponseError::GroupIdNotFound), Vec::new());
        };
        let mut group = handle.lock().await;
        let requested: Vec<(String, i32)> = req
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index)))
            .collect();
        let errors: Vec<Option<ResponseError>> = match group.state {
            GroupState::Dead => return (Some(ResponseError::GroupIdNotFound), Vec::new()),
            GroupState::Empty => vec![None; requested.len()],
            _ if group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => requested
                .iter()
                .map(|(topic, _)| group.is_subscribed_to(topic).then_some(ResponseError::GroupSubscribedToTopic))
                .collect(),
            _ => return (Some(ResponseError::NonEmptyGroup), Vec::new()),
        };
        let records: Vec<GroupRecord> = requested
            .iter()
            .zip(&errors)
            .filter(|((topic, partition), error)| error.is_none() && group.has_offset(topic, *partition))
            .map(|((topic, partition), _)| GroupRecord::Offset {
                group: group_id.clone(),
                topic: topic.clone(),
                partition: *partition,
                value: None,
            })
            .collect();
        if let Err(error) = self.inner.append(&group_id, &records).await {
            tracing::warn!(group = %group_id, %error, "failed to persist offset deletion");
            return (Some(error.write_error()), Vec::new());
        }
        for record in &records {
            if let GroupRecord::Offset { topic, partition, .. } = record {
                group.remove_offset(topic, *partition);
            }
        }
        (None, errors)
    }
}
