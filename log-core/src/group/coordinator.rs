//! `GroupCoordinator`: the handle the broker's request handlers call, and its shared inner
//! state — the groups by id, each behind its own async lock, the offsets topic, the
//! background task. One API family per file (`join.rs`, `sync.rs`, `membership.rs`,
//! `offsets.rs`, `admin.rs`) adds its methods to the handle.
//!
//! Locking: the map of groups is a short synchronous lock never held across an await; a
//! group's own lock is held across the append that persists a change to it, so a group's
//! records reach the offsets topic in the order its state changed. Parked JoinGroup and
//! SyncGroup requests wait on oneshot channels with no lock held.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::group::config::GroupConfig;
use crate::group::records::GroupRecord;
use crate::group::state::{Group, Now};
use crate::group::store::OffsetsTopic;
use crate::group::{GroupError, expiry, load};

/// Who sent a JoinGroup, as the broker's connection knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The request header's client id.
    pub client_id: String,
    /// The client's address as Kafka shows it (`/127.0.0.1`).
    pub client_host: String,
}

pub(crate) type GroupHandle = Arc<tokio::sync::Mutex<Group>>;

/// The group coordinator (Kafka's classic group protocol and offset storage). Cheap to clone:
/// clones share the same groups.
pub struct GroupCoordinator<S: OffsetsTopic> {
    pub(crate) inner: Arc<Inner<S>>,
}

impl<S: OffsetsTopic> Clone for GroupCoordinator<S> {
    fn clone(&self) -> Self {
        GroupCoordinator { inner: Arc::clone(&self.inner) }
    }
}

impl<S: OffsetsTopic> fmt::Debug for GroupCoordinator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("config", &self.inner.config)
            .field("groups", &self.inner.lock_groups().len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner<S> {
    pub store: S,
    pub config: GroupConfig,
    /// The offsets topic's partition count, which places every group's records.
    partitions: i32,
    groups: Mutex<HashMap<String, GroupHandle>>,
    /// The offsets topic partitions whose groups this coordinator serves (loaded); a group
    /// whose partition is not here is answered NOT_COORDINATOR.
    owned: Mutex<std::collections::BTreeSet<i32>>,
    shutdown: watch::Sender<bool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl<S: OffsetsTopic> GroupCoordinator<S> {
    /// Replays every partition of the offsets topic into groups and offsets, then starts the
    /// background task (sessions, rebalance deadlines, offset expiry). Must be called within a
    /// tokio runtime. Records that cannot be decoded are skipped with a warning.
    pub async fn load(store: S, config: GroupConfig) -> Result<Self, GroupError> {
        let partitions = store.partition_count();
        if partitions < 0 {
            return Err(GroupError::PartitionCount { configured: config.offsets_partitions, actual: partitions });
        }
        if partitions == 0 {
            // A cluster member before `__consumer_offsets` has a partition here: groups are
            // answered COORDINATOR_NOT_AVAILABLE, which clients retry.
            tracing::warn!("no partition of the offsets topic is hosted here; group requests are answered COORDINATOR_NOT_AVAILABLE");
        } else if partitions != config.offsets_partitions {
            // Records live where the topic's partition count puts them: that count wins.
            tracing::warn!(
                configured = config.offsets_partitions,
                actual = partitions,
                "the offsets topic's partition count differs from the configured one; using the topic's"
            );
        }
        let now = Now::get();
        let groups = load::replay(&store, 0..partitions, &now)?;
        let groups = groups.into_iter().map(|(id, g)| (id, Arc::new(tokio::sync::Mutex::new(g)))).collect();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            store,
            config,
            partitions,
            groups: Mutex::new(groups),
            owned: Mutex::new((0..partitions).collect()),
            shutdown,
            ticker: Mutex::new(None),
        });
        let task = tokio::spawn(expiry::run(Arc::downgrade(&inner), shutdown_rx));
        *inner.ticker.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        Ok(GroupCoordinator { inner })
    }

    /// The offsets topic partition that holds `group_id`'s records: Kafka's
    /// `Utils.abs(groupId.hashCode) % partitions` (the topic's partition count).
    pub fn group_partition(&self, group_id: &str) -> i32 {
        self.inner.partition_for(group_id)
    }

    /// A coordinator that serves no partition yet: a cluster member takes partitions over
    /// as it becomes their leader ([`GroupCoordinator::take_over`]). `partitions` is the
    /// offsets topic's partition count, which places every group.
    pub fn empty(store: S, config: GroupConfig, partitions: i32) -> Self {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            store,
            config,
            partitions: partitions.max(1),
            groups: Mutex::new(HashMap::new()),
            owned: Mutex::new(std::collections::BTreeSet::new()),
            shutdown,
            ticker: Mutex::new(None),
        });
        let task = tokio::spawn(expiry::run(Arc::downgrade(&inner), shutdown_rx));
        *inner.ticker.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        GroupCoordinator { inner }
    }

    /// Whether this coordinator serves `group_id` (its partition is loaded here).
    pub fn owns(&self, group_id: &str) -> bool {
        let partition = self.inner.partition_for(group_id);
        self.inner.owned.lock().unwrap_or_else(PoisonError::into_inner).contains(&partition)
    }

    /// The partitions served here.
    pub fn owned_partitions(&self) -> Vec<i32> {
        self.inner.owned.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect()
    }

    /// Becomes coordinator of `partition`'s groups: replays the partition into them (this
    /// broker just became its leader). Groups of other partitions are untouched.
    pub fn take_over(&self, partition: i32) -> Result<(), GroupError> {
        let groups = load::replay(&self.inner.store, partition..partition + 1, &Now::get())?;
        let count = groups.len();
        {
            let mut map = self.inner.lock_groups();
            for (id, group) in groups {
                map.insert(id, Arc::new(tokio::sync::Mutex::new(group)));
            }
        }
        self.inner.owned.lock().unwrap_or_else(PoisonError::into_inner).insert(partition);
        tracing::info!(partition, groups = count, "now coordinating the groups of an offsets topic partition");
        Ok(())
    }

    /// Stops coordinating `partition`'s groups (its leadership moved): they are forgotten
    /// here and their members find the new coordinator.
    pub fn give_up(&self, partition: i32) {
        self.inner.owned.lock().unwrap_or_else(PoisonError::into_inner).remove(&partition);
        let mut map = self.inner.lock_groups();
        let before = map.len();
        map.retain(|id, _| self.inner.partition_for(id) != partition);
        tracing::info!(partition, groups = before - map.len(), "no longer coordinating the groups of an offsets topic partition");
    }

    /// Stops the background task; parked requests are left to their own timeouts.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let task = self.inner.ticker.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    pub(crate) fn config(&self) -> &GroupConfig {
        &self.inner.config
    }
}

/// Java's `String.hashCode` (over UTF-16 code units), then Kafka's `Utils.abs` (which maps
/// `i32::MIN` to 0), modulo the partition count.
pub(crate) fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    if partitions <= 0 { 0 } else { abs % partitions }
}

impl<S: OffsetsTopic> Inner<S> {
    fn lock_groups(&self) -> std::sync::MutexGuard<'_, HashMap<String, GroupHandle>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn group(&self, id: &str) -> Option<GroupHandle> {
        self.lock_groups().get(id).cloned()
    }

    pub fn group_or_create(&self, id: &str) -> GroupHandle {
        let mut groups = self.lock_groups();
        Arc::clone(
            groups
                .entry(id.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Group::new(id.to_string(), &Now::get())))),
        )
    }

    pub fn all_groups(&self) -> Vec<GroupHandle> {
        self.lock_groups().values().cloned().collect()
    }

    /// Forgets a group that became Dead (only if `handle` is still the one in the map).
    pub fn remove_group(&self, id: &str, handle: &GroupHandle) {
        let mut groups = self.lock_groups();
        if groups.get(id).is_some_and(|current| Arc::ptr_eq(current, handle)) {
            groups.remove(id);
        }
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.partitions)
    }

    /// Appends the records of one group as one batch to its partition.
    pub async fn append(&self, group_id: &str, records: &[GroupRecord]) -> Result<(), GroupError> {
        if records.is_empty() {
            return Ok(());
        }
        let encoded = records.iter().map(GroupRecord::encode).collect();
        self.store.append(self.partition_for(group_id), encoded).await
    }

    /// Persists the group's metadata; `assignments` overrides the members' current ones.
    pub async fn store_group(
        &self,
        group: &Group,
        assignments: Option<&HashMap<String, Bytes>>,
    ) -> Result<(), GroupError> {
        let record = GroupRecord::Group { group: group.id.clone(), value: Some(group.to_value(assignments)) };
        self.append(&group.id, &[record]).await
    }

    /// Persists the group's metadata if a state change asked for it (Kafka logs and goes on
    /// when that write fails; so does this).
    pub async fn flush_metadata(&self, group: &mut Group) {
        if !group.metadata_dirty {
            return;
        }
        group.metadata_dirty = false;
        if let Err(error) = self.store_group(group, None).await {
            tracing::warn!(group = %group.id, %error, "failed to persist group metadata");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::partition_for;

    #[test]
    fn partition_matches_java_string_hash_code() {
        // "group".hashCode() == 98629247; 98629247 % 50 == 47.
        assert_eq!(partition_for("group", 50), 47);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs maps it to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        // Negative hash: "my-consumer-group".hashCode() is negative; abs is taken first.
        let h = "my-consumer-group".encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)));
        assert_eq!(partition_for("my-consumer-group", 50), h.abs() % 50);
        assert_eq!(partition_for("", 50), 0);
    }
}
