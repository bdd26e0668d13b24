//! The coordinator's background task: every tick it expires members whose session ran out
//! and pending member ids, and ends join phases whose timer ran out; every
//! `offsets_retention_check_interval_ms` it deletes expired offsets (Kafka's
//! `cleanupGroupMetadata`) and removes Empty groups left with none.
//!
//! Offsets expire as in Kafka 2.1+: in an Empty group, `offsets_retention_ms` after the group
//! became Empty (or after the commit when that moment is unknown); in a group that never used
//! group management, after the commit; in a Stable consumer group, only for topics it no longer
//! subscribes to, after the commit.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::group::consumer_protocol::CONSUMER_PROTOCOL_TYPE;
use crate::group::coordinator::Inner;
use crate::group::records::GroupRecord;
use crate::group::state::{Group, GroupState, Now};
use crate::group::store::OffsetsTopic;

pub(crate) async fn run<S: OffsetsTopic>(inner: Weak<Inner<S>>, mut shutdown: watch::Receiver<bool>) {
    let Some((tick_ms, check_ms)) = inner
        .upgrade()
        .map(|i| (i.config.tick_interval_ms.max(1), i.config.offsets_retention_check_interval_ms.max(1)))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(tick_ms));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_check = Instant::now() + Duration::from_millis(check_ms);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            // A shutdown, or the coordinator dropped (the sender with it).
            _ = shutdown.changed() => break,
        }
        let Some(inner) = inner.upgrade() else { break };
        inner.expire_sessions().await;
        if Instant::now() >= next_check {
            inner.expire_offsets(Now::get().wall_ms).await;
            next_check = Instant::now() + Duration::from_millis(check_ms);
        }
    }
}

impl Group {
    /// The offsets due for deletion at `now_ms`.
    pub(crate) fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
        let state_timestamp = self.state_timestamp_ms;
        let (base_on_state, only_unsubscribed) = match (self.protocol_type.as_deref(), self.state) {
            (Some(_), GroupState::Empty) => (true, false),
            (None, _) => (false, false),
            (Some(CONSUMER_PROTOCOL_TYPE), GroupState::Stable) if self.subscribed_topics.is_some() => (false, true),
            _ => return Vec::new(),
        };
        let mut expired = Vec::new();
        for (topic, partitions) in &self.offsets {
            if only_unsubscribed && self.is_subscribed_to(topic) {
                continue;
            }
            for (&partition, committed) in partitions {
                let base = if base_on_state {
                    state_timestamp.unwrap_or(committed.commit_timestamp)
                } else {
                    committed.commit_timestamp
                };
                if now_ms.saturating_sub(base) >= retention_ms {
                    expired.push((topic.clone(), partition));
                }
            }
        }
        expired
    }
}

impl<S: OffsetsTopic> Inner<S> {
    /// One tick of session and join-phase timers over every group not busy right now.
    pub(crate) async fn expire_sessions(&self) {
        for handle in self.all_groups() {
            // A group busy with a request is looked at on the next tick.
            let Ok(mut group) = handle.try_lock() else { continue };
            group.expire_members(&Now::get(), &self.config);
            self.flush_metadata(&mut group).await;
        }
    }

    /// Deletes offsets expired at `now_ms`, and Empty groups left without offsets.
    pub(crate) async fn expire_offsets(&self, now_ms: i64) {
        for handle in self.all_groups() {
            let mut group = handle.lock().await;
            if group.is(GroupState::Dead) {
                continue;
            }
            let expired = group.expired_offsets(now_ms, self.config.offsets_retention_ms);
            let left = group.offsets.values().map(|p| p.len()).sum::<usize>().saturating_sub(expired.len());
            let becomes_dead = group.is(GroupState::Empty) && left == 0;
            let mut records: Vec<GroupRecord> = expired
                .iter()
                .map(|(topic, partition)| GroupRecord::Offset {
                    group: group.id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                })
                .collect();
            if becomes_dead {
                records.push(GroupRecord::Group { group: group.id.clone(), value: None });
            }
            if records.is_empty() {
                continue;
            }
            if let Err(error) = self.append(&group.id, &records).await {
                tracing::warn!(group = %group.id, %error, "failed to persist expired offsets");
                continue;
            }
            for (topic, partition) in &expired {
                group.remove_offset(topic, *partition);
            }
            tracing::info!(group = %group.id, expired = expired.len(), "removed expired offsets");
            if becomes_dead {
                group.state = GroupState::Dead;
                let id = group.id.clone();
                drop(group);
                self.remove_group(&id, &handle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use kafka_protocol::messages::{GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;

    use crate::group::{GroupConfig, GroupCoordinator, MemoryOffsetsTopic};

    fn commit(group: &str, topic: &str) -> OffsetCommitRequest {
        let mut r = OffsetCommitRequest::default();
        r.group_id = GroupId(StrBytes::from_string(group.into()));
        r.generation_id_or_member_epoch = -1;
        let mut t = OffsetCommitRequestTopic::default();
        t.name = TopicName(StrBytes::from_string(topic.into()));
        let mut p = OffsetCommitRequestPartition::default();
        p.committed_offset = 5;
        t.partitions.push(p);
        r.topics.push(t);
        r
    }

    #[tokio::test]
    async fn offsets_expire_after_retention_and_an_empty_group_without_offsets_goes_away() {
        let config = GroupConfig { offsets_partitions: 3, offsets_retention_ms: 1_000, ..GroupConfig::default() };
        let topic = MemoryOffsetsTopic::new(3);
        let c = GroupCoordinator::load(topic.clone(), config.clone()).await.unwrap();
        c.offset_commit(commit("g", "t"), 8, |_, _| true).await;
        let committed_at = {
            let handle = c.inner.group("g").unwrap();
            let group = handle.lock().await;
            group.offsets["t"][&0].commit_timestamp
        };

        c.inner.expire_offsets(committed_at + 999).await;
        assert!(c.inner.group("g").is_some(), "not yet");
        c.inner.expire_offsets(committed_at + 1_000).await;
        assert!(c.inner.group("g").is_none(), "offsets expired, group removed");

        c.shutdown().await;
        let reloaded = GroupCoordinator::load(topic, config).await.unwrap();
        let mut fetch = OffsetFetchRequest::default();
        fetch.group_id = GroupId(StrBytes::from_static_str("g"));
        fetch.topics = None;
        assert!(reloaded.offset_fetch(fetch, 7).await.topics.is_empty(), "the tombstones were persisted");
        assert!(reloaded.inner.group("g").is_none());
    }
}
