//! [`Partition`]: one partition's serving state — its log, leader epoch, high watermark and
//! idempotent-producer state — and the only way handlers touch a partition.
//!
//! A partition is hosted as its leader or as a follower ([`Role`], driven by the state
//! machines of [`crate::replication`]). On the leader the high watermark moves with the
//! in-sync replicas' progress — for a partition whose ISR is the leader alone, to the log end
//! as soon as an append is done — and acks=all produces wait for it
//! ([`Partition::ack_state`]); on a follower it follows the leader's. Handlers read
//! [`Partition::high_watermark`] and wait on [`Partition::subscribe`]; produce and consumer
//! fetches to a follower are refused with NOT_LEADER_OR_FOLLOWER. Replica fetches also wait on
//! [`Partition::subscribe_log_end`], since an append moves the log end before any high
//! watermark.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;

use super::producer_state::{ProducerStateTable, SequenceCheck, SequenceError};
use crate::replication::{
    AckState, AlterIsr, FetchAnswer, FollowerAction, FollowerFetch, FollowerFetchOutcome, FollowerReplica, LeaderAndIsr, LeaderEffect, LeaderReplica, LocalLog,
    ReplicationConfig,
};
use super::topic_config::TopicSettings;
use crate::storage::{
    validate_producer_batches, AppendOptions, BatchDefect, BatchHeader, Batches, EpochEndOffset, LogConfig, PartitionLog,
    PendingSync, ProducerBatchRules, StorageError, TimestampOffset,
};

/// A Kafka error code with a message for the client and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct PartitionError {
    /// The code answered.
    pub code: ResponseError,
    /// What went wrong.
    pub message: String,
}

impl PartitionError {
    /// An error with this code.
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<StorageError> for PartitionError {
    fn from(e: StorageError) -> Self {
        let code = match &e {
            StorageError::InvalidBatch { defect: BatchDefect::CrcMismatch { .. } | BatchDefect::Decompression(_), .. } => {
                ResponseError::CorruptMessage
            }
            StorageError::InvalidBatch { defect: BatchDefect::InflatesPastLimit { .. }, .. } => ResponseError::MessageTooLarge,
            StorageError::InvalidBatch { .. } | StorageError::RecordWithoutKey { .. } => ResponseError::InvalidRecord,
            StorageError::TimestampOutOfRange { .. } => ResponseError::InvalidTimestamp,
            StorageError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
            StorageError::Compression(_) => ResponseError::UnknownServerError,
            StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            StorageError::Config(_) => ResponseError::InvalidConfig,
            _ => ResponseError::KafkaStorageError,
        };
        Self { code, message: e.to_string() }
    }
}

impl From<SequenceError> for PartitionError {
    fn from(e: SequenceError) -> Self {
        let code = match e {
            SequenceError::StaleEpoch { .. } => ResponseError::InvalidProducerEpoch,
            SequenceError::OutOfOrder { .. } => ResponseError::OutOfOrderSequenceNumber,
        };
        Self { code, message: e.to_string() }
    }
}

/// What a produce to this partition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record (of the original batch, for a duplicate).
    pub base_offset: u64,
    /// The broker's timestamp under LogAppendTime, else -1.
    pub log_append_time: i64,
    /// First offset of the log.
    pub log_start_offset: u64,
    /// Records appended (0 for a duplicate).
    pub records: u64,
    /// Bytes appended (0 for a duplicate).
    pub bytes: usize,
    /// One past the last offset of the records (of the original, for a duplicate): an
    /// acks=all produce is answered once the high watermark reaches it.
    pub end_offset: u64,
}

/// A fetch's answer for this partition.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Whole batches (possibly none).
    pub records: Bytes,
    /// High watermark at the time of the read.
    pub high_watermark: u64,
    /// Last stable offset (no transactions yet: the high watermark).
    pub last_stable_offset: u64,
    /// First offset of the log.
    pub log_start_offset: u64,
}

/// The leader's answer to a follower's fetch for this partition.
#[derive(Debug, Clone)]
pub struct ReplicaFetched {
    /// What the leader made of the follower's position.
    pub outcome: FollowerFetchOutcome,
    /// Whole batches from the fetch offset (when the outcome is a read).
    pub records: Bytes,
    /// The leader's log start offset.
    pub log_start_offset: u64,
}

/// Which records a read may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset.
    ReadCommitted,
}

/// What this broker is for the partition.
#[derive(Debug)]
pub enum Role {
    /// It leads: produces and consumer fetches are served here.
    Leader(LeaderReplica),
    /// It follows: it copies the leader's log.
    Follower(FollowerReplica),
}

#[derive(Debug)]
struct Inner {
    log: PartitionLog,
    producers: ProducerStateTable,
    role: Role,
    replication: ReplicationConfig,
    /// ISR changes the leader wants, for the replica manager to send to the controller.
    isr_requests: Vec<AlterIsr>,
}

/// Milliseconds on a monotonic clock shared by every partition (replication's time base).
pub fn monotonic_ms() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

fn replication_config(settings: &TopicSettings) -> ReplicationConfig {
    ReplicationConfig {
        replica_lag_time_max_ms: settings.replica_lag_time_max_ms,
        min_insync_replicas: settings.min_insync_replicas.max(1) as usize,
        ..ReplicationConfig::default()
    }
}

/// The role `state` gives `node_id` over `log`, starting from high watermark `hw`. A new
/// leader records its epoch as starting at the log end (followers' fetches are checked
/// against it).
fn take_role(log: &mut PartitionLog, node_id: i32, state: &LeaderAndIsr, hw: u64, replication: ReplicationConfig) -> Result<Role, StorageError> {
    let end = log.log_end_offset();
    let hw = hw.clamp(log.log_start_offset(), end);
    if state.leader == node_id {
        log.begin_leader_epoch(state.leader_epoch)?;
        Ok(Role::Leader(LeaderReplica::new(node_id, replication, state.clone(), end, hw, monotonic_ms())))
    } else {
        Ok(Role::Follower(FollowerReplica::new(node_id, state, hw)))
    }
}

fn role_high_watermark(role: &Role) -> u64 {
    match role {
        Role::Leader(l) => l.high_watermark(),
        Role::Follower(f) => f.high_watermark(),
    }
}

fn not_leader(topic: &str, index: i32) -> PartitionError {
    PartitionError::new(ResponseError::NotLeaderOrFollower, format!("this broker is not the leader of {topic}-{index}"))
}

/// One partition. See the module docs.
#[derive(Debug)]
pub struct Partition {
    topic: String,
    index: i32,
    dir: PathBuf,
    node_id: i32,
    leader_epoch: AtomicI32,
    /// Serialises writers (appends, truncation, retention, compaction's install, close). An
    /// append holds it across its three steps; `inner` is write-locked only for the short
    /// first and last ones, so readers never wait for a write's I/O or an fsync.
    writer: Mutex<()>,
    inner: RwLock<Option<Inner>>,
    high_watermark: watch::Sender<u64>,
    /// The log end offset, published by every append and follower write while the writer
    /// turn is held: a leader's replica-fetch long polls wake on new records even when the
    /// high watermark does not move.
    log_end: watch::Sender<u64>,
    /// Held while an acks=all fsync runs, so that concurrent ones queue behind it and usually
    /// find their records already durable (group commit).
    sync_lock: Mutex<()>,
    /// Every record below this offset has been fsynced by [`Partition::sync`].
    synced_end: AtomicU64,
    /// Set once a write or fsync failed. Linux drops the dirty pages of a failed fsync, so a
    /// retry would "succeed" over data that never reached the disk: instead, as Kafka takes
    /// a failed log directory offline, every later call answers KAFKA_STORAGE_ERROR until a
    /// restart re-checks the log from its recovery point.
    storage_failure: OnceLock<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn poisoned() -> PartitionError {
    PartitionError::new(ResponseError::KafkaStorageError, "partition lock poisoned")
}

fn closed() -> PartitionError {
    PartitionError::new(ResponseError::NotLeaderOrFollower, "partition is closed (deleted or shutting down)")
}

impl Partition {
    /// Opens (creating or recovering) the partition's log in `dir`, rebuilds its producer
    /// state and takes the role `state` gives node `node_id`.
    pub fn open(topic: &str, index: i32, dir: &Path, settings: &TopicSettings, node_id: i32, state: &LeaderAndIsr) -> Result<Self, StorageError> {
        let (mut log, report) = PartitionLog::open(dir, settings.log.clone())?;
        if !report.clean_shutdown && report.segments > 0 {
            tracing::info!(topic, partition = index, truncated_bytes = report.truncated_bytes, log_end_offset = report.log_end_offset, "recovered partition after an unclean shutdown");
        }
        let producers = rebuild_producer_state(&log)?;
        let replication = replication_config(settings);
        let start_hw = log.high_watermark_checkpoint();
        let role = take_role(&mut log, node_id, state, start_hw, replication)?;
        let (high_watermark, _) = watch::channel(role_high_watermark(&role));
        let (log_end, _) = watch::channel(log.log_end_offset());
        Ok(Self {
            topic: topic.to_string(),
            index,
            dir: dir.to_path_buf(),
            node_id,
            leader_epoch: AtomicI32::new(state.leader_epoch),
            writer: Mutex::new(()),
            inner: RwLock::new(Some(Inner { log, producers, role, replication, isr_requests: Vec::new() })),
            high_watermark,
            log_end,
            sync_lock: Mutex::new(()),
            synced_end: AtomicU64::new(0),
            storage_failure: OnceLock::new(),
        })
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partition index.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Offsets below this are visible to consumers.
    pub fn high_watermark(&self) -> u64 {
        *self.high_watermark.borrow()
    }

    /// A receiver that sees every change of the high watermark (fetch long polling).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.high_watermark.subscribe()
    }

    /// A receiver that sees every change of the log end offset: records appended on a leader
    /// (replica-fetch long polling), appends and truncations on a follower.
    pub fn subscribe_log_end(&self) -> watch::Receiver<u64> {
        self.log_end.subscribe()
    }

    /// Publishes the log end offset. Called with the writer turn held, so values go out in
    /// the order the log took them.
    fn publish_log_end(&self, end: u64) {
        self.log_end.send_if_modified(|current| std::mem::replace(current, end) != end);
    }

    /// Runs `f` with read access to the partition (shared with other readers).
    fn read_inner<T>(&self, f: impl FnOnce(&Inner) -> Result<T, PartitionError>) -> Result<T, PartitionError> {
        self.ensure_online()?;
        let guard = self.inner.read().map_err(|_| poisoned())?;
        let inner = guard.as_ref().ok_or_else(closed)?;
        f(inner)
    }

    /// Runs `f` with write access to the partition. Writers that change the log's extent
    /// also hold `writer` (see [`Partition::write_turn`]).
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, PartitionError>) -> Result<T, PartitionError> {
        self.ensure_online()?;
        let mut guard = self.inner.write().map_err(|_| poisoned())?;
        let inner = guard.as_mut().ok_or_else(closed)?;
        f(inner)
    }

    /// The writers' turn: held for a whole append, truncation, retention pass or close.
    fn write_turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the partition offline after an I/O error on its files (see `storage_failure`).
    /// Other storage errors (a bad batch, a size limit) pass through.
    fn offline_on_io_error(&self, error: StorageError) -> PartitionError {
        if matches!(error, StorageError::Io { .. }) {
            let message = format!(
                "partition {}-{} is offline after an I/O error ({error}); data written since its last good fsync may not be on disk. Check the disk (e.g. dmesg), then restart the broker: it re-checks the log from the last durable point",
                self.topic, self.index
            );
            tracing::error!(topic = %self.topic, partition = self.index, %error, "I/O error on a partition's files; taking the partition offline");
            let _ = self.storage_failure.set(message);
        }
        PartitionError::from(error)
    }

    /// KAFKA_STORAGE_ERROR once an I/O error took the partition offline.
    fn ensure_online(&self) -> Result<(), PartitionError> {
        match self.storage_failure.get() {
            Some(failure) => Err(PartitionError::new(ResponseError::KafkaStorageError, failure.clone())),
            None => Ok(()),
        }
    }

    /// True once an I/O error took the partition offline.
    pub fn is_offline(&self) -> bool {
        self.storage_failure.get().is_some()
    }

    /// First readable offset.
    pub fn log_start_offset(&self) -> Result<u64, PartitionError> {
        self.read_inner(|i| Ok(i.log.log_start_offset()))
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> Result<u64, PartitionError> {
        self.read_inner(|i| Ok(i.log.log_end_offset()))
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> Result<u64, PartitionError> {
        self.read_inner(|i| Ok(i.log.size_bytes()))
    }

    /// Applies new topic settings.
    pub fn apply_settings(&self, settings: &TopicSettings) -> Result<(), PartitionError> {
        self.with(|i| {
            i.log.set_config(settings.log.clone());
            i.replication = replication_config(settings);
            if let Role::Leader(leader) = &mut i.role {
                leader.set_config(i.replication);
            }
            Ok(())
        })
    }

    /// Whether other brokers hold replicas of the partition.
    pub fn is_replicated(&self) -> bool {
        self.read_inner(|i| Ok(match &i.role {
            Role::Leader(l) => l.state().replicas.len() > 1,
            Role::Follower(_) => true,
        }))
        .unwrap_or(false)
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.read_inner(|i| Ok(matches!(i.role, Role::Leader(_)))).unwrap_or(false)
    }

    /// The leader and ISR this partition works from, as its role knows them (the leader's
    /// ISR as committed; a follower knows its leader and epoch only).
    pub fn leader_and_isr(&self) -> Option<LeaderAndIsr> {
        self.read_inner(|i| Ok(match &i.role {
            Role::Leader(l) => Some(l.state().clone()),
            Role::Follower(_) => None,
        }))
        .ok()
        .flatten()
    }

    /// Whether this broker holds the partition's only replica. Then an acknowledged write is
    /// only as safe as this disk, so acks=all fsyncs before answering (`flush.on.acks.all`);
    /// with more replicas the in-sync replicas are the durability, as in Kafka (a topic that
    /// wants every write on disk as well sets `flush.messages=1`).
    pub fn is_sole_replica(&self) -> bool {
        self.read_inner(|i| Ok(match &i.role {
            Role::Leader(l) => l.state().replicas.len() <= 1,
            Role::Follower(_) => false,
        }))
        .unwrap_or(true)
    }

    /// As leader: how far each follower is behind this log's end, in offsets, for the
    /// followers that have fetched since this leadership began. Empty on a follower.
    pub fn follower_lags(&self) -> Vec<(i32, u64)> {
        self.read_inner(|i| Ok(match &i.role {
            Role::Leader(l) => l.follower_log_ends().into_iter().filter_map(|(r, end)| end.map(|end| (r, l.log_end().saturating_sub(end)))).collect(),
            Role::Follower(_) => Vec::new(),
        }))
        .unwrap_or_default()
    }

    /// Takes the role `state` gives this broker: leader (a new epoch starts at the log end),
    /// follower of `state.leader`, or — same leader epoch — the ISR the controller committed.
    /// Waiters (fetches, acks=all produces) are woken to look again.
    pub fn apply_state(&self, state: &LeaderAndIsr) -> Result<(), PartitionError> {
        let _turn = self.write_turn();
        let now = monotonic_ms();
        let hw = self.with(|inner| {
            match &mut inner.role {
                Role::Leader(leader) if state.leader == self.node_id && state.leader_epoch == leader.state().leader_epoch => {
                    // The new high watermark, if any, is published below.
                    let _ = leader.on_partition_state(state, now);
                }
                Role::Follower(follower) if state.leader != self.node_id && state.leader == follower.leader() && state.leader_epoch == follower.leader_epoch() => {}
                _ => {
                    let hw = role_high_watermark(&inner.role);
                    inner.role = take_role(&mut inner.log, self.node_id, state, hw, inner.replication)?;
                    inner.isr_requests.clear();
                    tracing::info!(topic = %self.topic, partition = self.index, leader = state.leader, leader_epoch = state.leader_epoch, isr = ?state.isr, "partition role changed");
                }
            }
            Ok(role_high_watermark(&inner.role))
        })?;
        self.leader_epoch.store(state.leader_epoch, Ordering::Release);
        self.high_watermark.send_modify(|current| *current = (*current).max(hw));
        Ok(())
    }

    /// Whether an acks=all produce whose records end before `end` may be answered.
    pub fn ack_state(&self, end: u64) -> Result<AckState, PartitionError> {
        self.read_inner(|i| match &i.role {
            Role::Leader(leader) => Ok(leader.ack_state(end)),
            Role::Follower(_) => Err(not_leader(&self.topic, self.index)),
        })
    }

    /// Waits until the in-sync replicas hold the records before `end` (the high watermark
    /// passes them), at most `timeout`: REQUEST_TIMED_OUT then, as Kafka's delayed produce;
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below `min.insync.replicas`
    /// meanwhile; NOT_LEADER_OR_FOLLOWER if leadership moved.
    pub async fn wait_acknowledged(&self, end: u64, timeout: std::time::Duration) -> Result<(), PartitionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut watermark = self.subscribe();
        loop {
            match self.ack_state(end)? {
                AckState::Acknowledged => return Ok(()),
                AckState::NotEnoughReplicasAfterAppend => {
                    return Err(PartitionError::new(
                        ResponseError::NotEnoughReplicasAfterAppend,
                        "the records were written, but the in-sync replicas fell below min.insync.replicas meanwhile",
                    ));
                }
                AckState::Pending => {}
            }
            match tokio::time::timeout_at(deadline, watermark.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(PartitionError::new(ResponseError::NotLeaderOrFollower, "the partition was closed")),
                Err(_) => {
                    return Err(PartitionError::new(
                        ResponseError::RequestTimedOut,
                        format!("the in-sync replicas did not all acknowledge the records within {} ms", timeout.as_millis()),
                    ));
                }
            }
        }
    }

    /// The ISR changes this leader wants sent to the controller (taken: each is returned once).
    pub fn take_isr_requests(&self) -> Vec<AlterIsr> {
        self.with(|i| Ok(std::mem::take(&mut i.isr_requests))).unwrap_or_default()
    }

    /// Time passed: a leader shrinks the ISR of followers that stopped catching up (the
    /// request is queued for [`Partition::take_isr_requests`]) and resends unanswered ones.
    pub fn tick(&self) {
        let now = monotonic_ms();
        let effects = self.with(|i| Ok(match &mut i.role {
            Role::Leader(leader) => leader.on_tick(now),
            Role::Follower(_) => Vec::new(),
        }));
        if let Ok(effects) = effects {
            self.apply_leader_effects(effects);
        }
    }

    /// The controller refused this leader's ISR change: forget it.
    pub fn isr_change_refused(&self, request: &AlterIsr) {
        let now = monotonic_ms();
        let effects = self.with(|i| Ok(match &mut i.role {
            Role::Leader(leader) if leader.pending_alter_isr() == Some(request) => leader.on_alter_isr_refused(now),
            _ => Vec::new(),
        }));
        if let Ok(effects) = effects {
            self.apply_leader_effects(effects);
        }
    }

    /// Publishes a leader's high watermark and queues its ISR requests.
    fn apply_leader_effects(&self, effects: Vec<LeaderEffect>) {
        for effect in effects {
            match effect {
                LeaderEffect::HighWatermark(hw) => {
                    self.high_watermark.send_modify(|current| *current = (*current).max(hw));
                }
                LeaderEffect::AlterIsr(request) => {
                    let _ = self.with(|i| {
                        i.isr_requests.push(request);
                        Ok(())
                    });
                }
            }
        }
    }

    /// The log config in force.
    pub fn log_config(&self) -> Result<LogConfig, PartitionError> {
        self.read_inner(|i| Ok(i.log.config().clone()))
    }

    /// Appends a produce request's records for this partition. `records` holds one or more
    /// v2 batches; every batch is checked against the topic's rules (size as sent, CRC,
    /// every record walked as it inflates, keys on compacted topics, timestamp bounds; see
    /// [`validate_producer_batches`]) before anything is written, and replaced by its
    /// recompression when the topic's `compression.type` asks for another codec. The
    /// records are readable (below the high watermark) when this returns. With `durable`,
    /// the returned [`PendingSync`] must be run with [`Partition::sync`] before the producer
    /// is told the records are written; it is `None` when the log fsynced them already.
    pub fn append_deferred(&self, records: &mut Vec<u8>, acks_all: bool, durable: bool) -> Result<(Appended, Option<PendingSync>), PartitionError> {
        let rules = self.read_inner(|inner| Ok(ProducerBatchRules::for_log(inner.log.config(), now_ms())))?;
        let validated = validate_producer_batches(records, &rules)?;
        if let Some(recompressed) = validated.recompressed {
            *records = recompressed;
        }
        let headers = validated.headers;
        if headers.iter().any(|h| h.producer_id < -1) {
            return Err(PartitionError::new(ResponseError::InvalidRecord, "bad producer id"));
        }
        let idempotent = headers.iter().any(|h| h.producer_id >= 0);
        if idempotent && headers.len() > 1 {
            return Err(PartitionError::new(ResponseError::InvalidRecord, "an idempotent producer must send exactly one batch per partition per request"));
        }
        if headers.iter().any(BatchHeader::is_transactional) {
            return Err(PartitionError::new(ResponseError::InvalidTxnState, "transactions are not supported by this broker yet"));
        }
        // One append at a time, in three steps so that readers wait for none of its I/O:
        // prepare (write lock: checks, offsets, room reserved), write (no lock), commit
        // (write lock: the bytes become part of the log and the high watermark moves).
        let _turn = self.write_turn();
        let options = AppendOptions { leader_epoch: self.leader_epoch(), now_ms: now_ms() };
        let prepared = self.with(|inner| {
            let Role::Leader(leader) = &inner.role else {
                return Err(not_leader(&self.topic, self.index));
            };
            if acks_all {
                leader.check_acks_all().map_err(|e| PartitionError::new(ResponseError::NotEnoughReplicas, e.to_string()))?;
            }
            if let Some(header) = headers.first().filter(|h| h.producer_id >= 0)
                && let SequenceCheck::Duplicate(original) = inner.producers.check(header)?
            {
                // The original may not be durable yet (its fsync failed, or is in flight).
                let pending = if durable { inner.log.pending_sync()? } else { None };
                let appended = Appended {
                    base_offset: original.first_offset,
                    log_append_time: -1,
                    log_start_offset: inner.log.log_start_offset(),
                    records: 0,
                    bytes: 0,
                    end_offset: original.last_offset + 1,
                };
                return Ok(Err((appended, pending)));
            }
            Ok(Ok(inner.log.prepare_append(records, options).map_err(|e| self.offline_on_io_error(e))?))
        })?;
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(duplicate) => return Ok(duplicate),
        };
        prepared.write(records).map_err(|e| self.offline_on_io_error(e))?;
        let (appended, pending, flush_due, effects) = self.with(|inner| {
            let info = inner.log.commit_append(prepared).map_err(|e| self.offline_on_io_error(e))?;
            let pending = if durable || info.flush_due { inner.log.pending_sync()? } else { None };
            if let Some(mut header) = headers.first().copied().filter(|h| h.producer_id >= 0) {
                header.base_offset = info.first_offset as i64;
                inner.producers.record(&header);
            }
            let end = inner.log.log_end_offset();
            let effects = match &mut inner.role {
                Role::Leader(leader) => leader.on_local_append(end, monotonic_ms()),
                Role::Follower(_) => Vec::new(),
            };
            let appended = Appended {
                base_offset: info.first_offset,
                log_append_time: info.log_append_time.unwrap_or(-1),
                log_start_offset: inner.log.log_start_offset(),
                records: info.records,
                bytes: info.bytes,
                end_offset: end,
            };
            Ok((appended, pending, info.flush_due, effects))
        })?;
        self.publish_log_end(appended.end_offset);
        drop(_turn);
        self.apply_leader_effects(effects);
        match pending {
            // The topic's flush policy wants the append durable before it returns, whatever
            // the producer's acks; the fsync runs here, off every lock but the sync turn.
            Some(pending) if flush_due && !durable => {
                self.sync(pending)?;
                Ok((appended, None))
            }
            pending => Ok((appended, pending)),
        }
    }

    /// Checkpoints the high watermark (a periodic task; Kafka's
    /// `replica.high.watermark.checkpoint.interval.ms`). Blocks for an fsync when it changed.
    pub fn checkpoint_high_watermark(&self) -> Result<(), PartitionError> {
        let hw = self.high_watermark();
        self.with(|inner| Ok(inner.log.checkpoint_high_watermark(hw)?))
    }

    /// The leader's side of a follower's fetch: checks the follower's position against this
    /// log and, when it continues it, counts its progress (the high watermark may move; an
    /// ISR expansion may be queued) and reads from its fetch offset, up to `max_bytes` (at
    /// least one batch), with no high-watermark bound. Blocks for the read.
    pub fn serve_follower_fetch(&self, fetch: FollowerFetch, max_bytes: usize) -> Result<ReplicaFetched, PartitionError> {
        let now = monotonic_ms();
        let (outcome, effects, plan, log_start) = self.with(|inner| {
            let Role::Leader(leader) = &mut inner.role else {
                return Err(not_leader(&self.topic, self.index));
            };
            let (outcome, effects) = leader.on_follower_fetch(fetch, &inner.log, now);
            let plan = match outcome {
                FollowerFetchOutcome::Read { .. } => Some(inner.log.plan_read(fetch.position.fetch_offset, max_bytes, None)?),
                _ => None,
            };
            Ok((outcome, effects, plan, inner.log.log_start_offset()))
        })?;
        self.apply_leader_effects(effects);
        let records = match plan {
            Some(plan) => plan.run()?.records,
            None => Bytes::new(),
        };
        Ok(ReplicaFetched { outcome, records, log_start_offset: log_start })
    }

    /// The follower's next fetch, or `None` when this broker leads (or follows no one).
    pub fn next_follower_fetch(&self) -> Option<(i32, FollowerFetch)> {
        self.read_inner(|inner| Ok(match &inner.role {
            Role::Follower(f) if f.leader() >= 0 => Some((f.leader(), f.next_fetch(LocalLog::of(&inner.log)))),
            _ => None,
        }))
        .ok()
        .flatten()
    }

    /// A follower applies its leader's answer to `fetch` (ignored when the partition's role
    /// or log moved on since it was sent): appends the records, truncates, or starts over.
    /// Returns what it did. Blocks for the I/O.
    pub fn apply_follower_answer(&self, fetch: FollowerFetch, answer: FetchAnswer, records: &[u8]) -> Result<FollowerAction, PartitionError> {
        let _turn = self.write_turn();
        let (action, hw) = self.with(|inner| {
            let Role::Follower(follower) = &mut inner.role else {
                return Ok((FollowerAction::WaitForMetadata, None));
            };
            if follower.leader_epoch() != fetch.current_leader_epoch || inner.log.log_end_offset() != fetch.position.fetch_offset {
                return Ok((FollowerAction::WaitForMetadata, None));
            }
            let action = follower.on_answer(answer, &inner.log);
            let hw = match action {
                FollowerAction::Append { leader_high_watermark } => {
                    if !records.is_empty() {
                        inner.log.append_replicated(records, now_ms()).map_err(|e| self.offline_on_io_error(e))?;
                        for item in Batches::new(records) {
                            if let Ok((_, bytes)) = item
                                && let Ok(header) = BatchHeader::parse(bytes)
                                && header.producer_id >= 0
                            {
                                inner.producers.record(&header);
                            }
                        }
                    }
                    let end = inner.log.log_end_offset();
                    let Role::Follower(follower) = &mut inner.role else { return Ok((action, None)) };
                    follower.on_appended(end, leader_high_watermark)
                }
                FollowerAction::TruncateTo(offset) => {
                    inner.log.truncate_to(offset).map_err(|e| self.offline_on_io_error(e))?;
                    inner.producers = rebuild_producer_state(&inner.log)?;
                    let end = inner.log.log_end_offset();
                    let Role::Follower(follower) = &mut inner.role else { return Ok((action, None)) };
                    follower.on_truncated(end);
                    tracing::info!(topic = %self.topic, partition = self.index, from = fetch.position.fetch_offset, to = end, "follower truncated its log to where it diverged from the leader's");
                    None
                }
                FollowerAction::StartAt(offset) => {
                    inner.log.truncate_fully_and_start_at(offset).map_err(|e| self.offline_on_io_error(e))?;
                    inner.producers = rebuild_producer_state(&inner.log)?;
                    let Role::Follower(follower) = &mut inner.role else { return Ok((action, None)) };
                    follower.on_restarted(offset);
                    Some(offset)
                }
                FollowerAction::WaitForMetadata => None,
            };
            Ok((action, hw))
        })?;
        if let Ok(end) = self.log_end_offset() {
            self.publish_log_end(end);
        }
        if let Some(hw) = hw {
            self.high_watermark.send_modify(|current| *current = (*current).max(hw));
        }
        Ok(action)
    }

    /// Makes the records `pending` covers durable. Blocks for an fsync, so call it off the
    /// async runtime. Callers queue behind one another: whoever runs the fsync takes a fresh
    /// [`PendingSync`] first, covering every append made so far, so the ones behind it
    /// usually return without an fsync of their own (group commit).
    pub fn sync(&self, pending: PendingSync) -> Result<(), PartitionError> {
        let _turn = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.synced_end.load(Ordering::Acquire) >= pending.end() {
            return Ok(());
        }
        let Some(batch) = self.read_inner(|inner| Ok(inner.log.pending_sync()?))? else {
            // Flushed meanwhile (a segment roll, or shutdown).
            self.synced_end.fetch_max(pending.end(), Ordering::AcqRel);
            return Ok(());
        };
        batch.run().map_err(|e| self.offline_on_io_error(e))?;
        self.with(|inner| {
            inner.log.mark_synced(&batch);
            Ok(())
        })?;
        self.synced_end.fetch_max(batch.end(), Ordering::AcqRel);
        Ok(())
    }

    /// Reads whole batches from `offset`, at most `max_bytes` (but at least one batch when
    /// `at_least_one`), up to what `isolation` may see.
    pub fn read(&self, offset: u64, max_bytes: usize, isolation: Isolation) -> Result<Fetched, PartitionError> {
        let high_watermark = self.high_watermark();
        let bound = match isolation {
            Isolation::ReadUncommitted | Isolation::ReadCommitted => high_watermark,
        };
        // Planned under the read lock, read without it: a read from disk holds up nobody.
        let plan = self.read_inner(|inner| {
            if !matches!(inner.role, Role::Leader(_)) {
                return Err(not_leader(&self.topic, self.index));
            }
            Ok(inner.log.plan_read(offset, max_bytes, Some(bound))?)
        })?;
        let read = plan.run()?;
        Ok(Fetched { records: read.records, high_watermark, last_stable_offset: high_watermark, log_start_offset: read.log_start_offset })
    }

    /// Reads whole batches from `offset` up to the log end (not the high watermark), whatever
    /// the role: for the group coordinator replaying a partition it now leads, whose log
    /// holds every committed record even while its high watermark catches up.
    pub fn read_to_log_end(&self, offset: u64, max_bytes: usize) -> Result<Bytes, PartitionError> {
        let plan = self.read_inner(|inner| Ok(inner.log.plan_read(offset, max_bytes, None)?))?;
        Ok(plan.run()?.records)
    }

    /// What a read at `offset` would answer about the partition, without reading any
    /// record: the watermarks, or OFFSET_OUT_OF_RANGE (a Fetch whose response is already full).
    pub fn peek(&self, offset: u64) -> Result<Fetched, PartitionError> {
        let high_watermark = self.high_watermark();
        self.read_inner(|inner| {
            if !matches!(inner.role, Role::Leader(_)) {
                return Err(not_leader(&self.topic, self.index));
            }
            let (start, end) = (inner.log.log_start_offset(), inner.log.log_end_offset());
            if offset < start || offset > end {
                return Err(StorageError::OffsetOutOfRange { requested: offset as i64, log_start_offset: start, log_end_offset: end }.into());
            }
            Ok(Fetched { records: Bytes::new(), high_watermark, last_stable_offset: high_watermark, log_start_offset: start })
        })
    }

    /// The first record at or after `timestamp`, with the leader epoch it was written in.
    /// Both lookups are planned under the read lock and read without it.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(TimestampOffset, i32)>, PartitionError> {
        let lookup = self.read_inner(|inner| Ok(inner.log.plan_timestamp_lookup(timestamp)))?;
        let found = lookup.run()?.filter(|t| t.offset < self.high_watermark());
        self.with_epoch(found)
    }

    /// The record with the largest timestamp (ListOffsets MAX_TIMESTAMP).
    pub fn max_timestamp_offset(&self) -> Result<Option<(TimestampOffset, i32)>, PartitionError> {
        let lookup = self.read_inner(|inner| Ok(inner.log.plan_max_timestamp_lookup()))?;
        let found = lookup.run()?;
        self.with_epoch(found)
    }

    fn with_epoch(&self, found: Option<TimestampOffset>) -> Result<Option<(TimestampOffset, i32)>, PartitionError> {
        match found {
            Some(t) => Ok(Some((t, self.epoch_at(t.offset)?))),
            None => Ok(None),
        }
    }

    /// The leader epoch the record at `offset` was written in (-1 when unknown).
    pub fn epoch_at(&self, offset: u64) -> Result<i32, PartitionError> {
        self.read_inner(|inner| Ok(epoch_at(&inner.log, offset)))
    }

    /// OffsetForLeaderEpoch: the end offset of `epoch` in this log.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<EpochEndOffset, PartitionError> {
        self.read_inner(|inner| Ok(inner.log.end_offset_for_epoch(epoch)))
    }

    /// DeleteRecords: makes `offset` the log start offset (`None`: the high watermark).
    /// Returns the new low watermark.
    pub fn delete_records_before(&self, offset: Option<u64>) -> Result<u64, PartitionError> {
        let high_watermark = self.high_watermark();
        let target = offset.unwrap_or(high_watermark);
        if target > high_watermark {
            return Err(PartitionError::new(ResponseError::OffsetOutOfRange, format!("offset {target} is beyond the high watermark {high_watermark}")));
        }
        let _turn = self.write_turn();
        self.with(|inner| Ok(inner.log.delete_records_before(target)?))
    }

    /// Retention, then compaction when the topic is compacted. Compaction's expensive part
    /// runs without the partition lock, so appends go on meanwhile.
    pub fn clean(&self) -> Result<(), PartitionError> {
        let now = now_ms();
        let turn = self.write_turn();
        let plan = self.with(|inner| {
            let outcome = inner.log.enforce_retention(now)?;
            if outcome.deleted_segments > 0 {
                tracing::info!(topic = %self.topic, partition = self.index, segments = outcome.deleted_segments, log_start_offset = inner.log.log_start_offset(), "retention deleted segments");
            }
            Ok(if inner.log.config().cleanup_policy.compact { inner.log.plan_compaction(now)? } else { None })
        })?;
        drop(turn);
        if let Some(plan) = plan {
            let compacted = plan.execute()?;
            let _turn = self.write_turn();
            self.with(|inner| {
                let outcome = inner.log.install_compaction(compacted)?;
                tracing::debug!(topic = %self.topic, partition = self.index, ?outcome, "compacted");
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Applies `flush.ms` when nothing was appended for a while.
    pub fn maybe_flush(&self) -> Result<(), PartitionError> {
        let due = self.read_inner(|inner| Ok(if inner.log.flush_due(now_ms()) { inner.log.pending_sync()? } else { None }))?;
        match due {
            Some(pending) => self.sync(pending),
            None => Ok(()),
        }
    }

    /// fsyncs the segments rolled since the recovery point (data, indexes and directory)
    /// without holding the log, then records the new recovery point. Blocks for the fsync:
    /// call it off the async runtime. A segment roll leaves this work instead of doing it on
    /// the append path.
    pub fn sync_sealed(&self) -> Result<(), PartitionError> {
        let Some(pending) = self.read_inner(|inner| Ok(inner.log.pending_sealed_sync()?))? else {
            return Ok(());
        };
        pending.run().map_err(|e| self.offline_on_io_error(e))?;
        self.with(|inner| {
            inner.log.mark_synced(&pending);
            Ok(())
        })
    }

    /// Flushes, snapshots producer state and closes the log. Later calls fail with
    /// NOT_LEADER_OR_FOLLOWER.
    pub fn close(&self) -> Result<(), PartitionError> {
        let _turn = self.write_turn();
        let mut guard = self.inner.write().map_err(|_| poisoned())?;
        let Some(inner) = guard.take() else { return Ok(()) };
        // An offline partition is left without the clean-shutdown marker on purpose: the
        // next open re-checks it.
        self.ensure_online()?;
        let mut inner = inner;
        let end = inner.log.log_end_offset();
        inner.producers.write_snapshot(&self.dir, end)?;
        inner.log.checkpoint_high_watermark(self.high_watermark())?;
        inner.log.close()?;
        Ok(())
    }
}

fn epoch_at(log: &PartitionLog, offset: u64) -> i32 {
    log.epoch_for_offset(offset).unwrap_or(-1)
}

/// Rebuilds producer state: the clean-shutdown snapshot, then every batch after it.
fn rebuild_producer_state(log: &PartitionLog) -> Result<ProducerStateTable, StorageError> {
    let (mut table, mut offset) = ProducerStateTable::load_snapshot(log.dir(), log.log_start_offset(), log.log_end_offset());
    let end = log.log_end_offset();
    while offset < end {
        let read = log.read(offset, 1 << 20, None)?;
        if read.records.is_empty() {
            break;
        }
        let mut next = offset;
        for item in Batches::new(&read.records) {
            let Ok((_, bytes)) = item else { break };
            let Ok(header) = BatchHeader::parse(bytes) else { break };
            table.record(&header);
            next = header.last_offset() as u64 + 1;
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    fn alone() -> LeaderAndIsr {
        LeaderAndIsr { leader: 1, leader_epoch: 0, partition_epoch: 0, replicas: vec![1], isr: vec![1] }
    }

    use super::*;
    use crate::storage::{BatchBuilder, Compression, TimestampType};

    fn batch(value: &[u8]) -> Vec<u8> {
        let mut builder = BatchBuilder::new(0, Compression::None, TimestampType::CreateTime);
        builder.push(0, now_ms(), None, Some(value), &[]);
        builder.build().unwrap()
    }

    #[test]
    fn concurrent_acks_all_appends_share_fsyncs_and_all_end_durable() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TopicSettings { log: LogConfig::default(), min_insync_replicas: 1, replica_lag_time_max_ms: 30_000 };
        let partition = Arc::new(Partition::open("t", 0, dir.path(), &settings, 1, &alone()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let partition = partition.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let mut records = batch(format!("{t}-{i}").as_bytes());
                        let (appended, pending) = partition.append_deferred(&mut records, true, true).unwrap();
                        // Readable at once, durable once synced.
                        assert!(partition.high_watermark() > appended.base_offset);
                        if let Some(pending) = pending {
                            let end = pending.end();
                            partition.sync(pending).unwrap();
                            assert!(partition.synced_end.load(Ordering::Acquire) >= end);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let recovery_point = partition.with(|inner| Ok(inner.log.recovery_point())).unwrap();
        assert_eq!(recovery_point, 200, "every acknowledged append is fsynced");
    }

    #[test]
    fn reads_do_not_wait_for_a_writer_in_the_middle_of_an_append() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TopicSettings { log: LogConfig::default(), min_insync_replicas: 1, replica_lag_time_max_ms: 30_000 };
        let partition = Arc::new(Partition::open("t", 0, dir.path(), &settings, 1, &alone()).unwrap());
        partition.append_deferred(&mut batch(b"first"), false, false).unwrap();
        // A writer holds its turn (as an append does across its write and a flush.messages
        // fsync) for as long as the test wants.
        let turn = partition.write_turn();
        let reader = {
            let partition = Arc::clone(&partition);
            std::thread::spawn(move || partition.read(0, 1 << 20, Isolation::ReadUncommitted).map(|f| f.records.len()))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !reader.is_finished() {
            assert!(std::time::Instant::now() < deadline, "a read waited for the writer");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(reader.join().unwrap().unwrap() > 0);
        drop(turn);
    }

    #[test]
    fn rolled_segments_are_fsynced_by_sync_sealed_not_by_the_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogConfig { segment_bytes: 1024, ..LogConfig::default() };
        let partition = Partition::open("t", 0, dir.path(), &TopicSettings { log, min_insync_replicas: 1, replica_lag_time_max_ms: 30_000 }, 1, &alone()).unwrap();
        for i in 0..20 {
            partition.append_deferred(&mut batch(&[i; 200]), false, true).unwrap();
        }
        let (recovery_point, active) =
            partition.with(|inner| Ok((inner.log.recovery_point(), *inner.log.segment_bases().last().unwrap()))).unwrap();
        assert!(active > 0, "segments rolled");
        assert_eq!(recovery_point, 0, "the appends that rolled did not fsync");
        partition.sync_sealed().unwrap();
        let recovery_point = partition.with(|inner| Ok(inner.log.recovery_point())).unwrap();
        assert_eq!(recovery_point, active, "durable up to the active segment");
        partition.sync_sealed().unwrap(); // nothing left: a no-op
    }

    #[test]
    fn an_io_error_takes_the_partition_offline_and_a_bad_batch_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TopicSettings { log: LogConfig::default(), min_insync_replicas: 1, replica_lag_time_max_ms: 30_000 };
        let partition = Partition::open("t", 0, dir.path(), &settings, 1, &alone()).unwrap();
        partition.append_deferred(&mut batch(b"before"), false, true).unwrap();

        let mut garbage = vec![0u8; 70];
        let refused = partition.append_deferred(&mut garbage, false, true).unwrap_err();
        assert_ne!(refused.code, ResponseError::KafkaStorageError);
        assert!(!partition.is_offline(), "a malformed batch is the client's problem");

        let fsync = StorageError::Io { op: "fsync", path: dir.path().join("x.log"), source: std::io::Error::other("EIO") };
        assert_eq!(partition.offline_on_io_error(fsync).code, ResponseError::KafkaStorageError);
        assert!(partition.is_offline());
        let after = partition.append_deferred(&mut batch(b"after"), false, true).unwrap_err();
        assert_eq!(after.code, ResponseError::KafkaStorageError);
        assert!(after.message.contains("restart the broker"), "{}", after.message);
        assert_eq!(partition.log_end_offset().unwrap_err().code, ResponseError::KafkaStorageError);
        assert_eq!(partition.sync_sealed().unwrap_err().code, ResponseError::KafkaStorageError);
        assert!(partition.close().is_err());
        let (_, report) = PartitionLog::open(dir.path(), LogConfig::default()).unwrap();
        assert!(!report.clean_shutdown, "an offline partition is not closed cleanly, so it is re-checked");
    }
}
