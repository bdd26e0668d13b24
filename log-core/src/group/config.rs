//! `GroupConfig`: the coordinator's settings, named after and defaulting like Kafka's broker
//! configs (`group.*`, `offsets.*`), except the initial rebalance delay, which is 0 by default
//! so that a development broker answers the first JoinGroup at once.

/// Settings of the group coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: a JoinGroup asking for less gets `INVALID_SESSION_TIMEOUT`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: a JoinGroup asking for more gets `INVALID_SESSION_TIMEOUT`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members (Kafka: 3000; here 0 by default).
    pub initial_rebalance_delay_ms: u64,
    /// `offsets.topic.num.partitions`: must equal the offsets topic's partition count.
    pub offsets_partitions: i32,
    /// `offsets.retention.minutes` in milliseconds: offsets of an empty group are deleted this
    /// long after the group became empty (or, for groups that never had members, after their
    /// commit).
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are looked for.
    pub offsets_retention_check_interval_ms: u64,
    /// `offset.metadata.max.bytes`: a commit with longer metadata gets `OFFSET_METADATA_TOO_LARGE`.
    pub offset_metadata_max_bytes: usize,
    /// Kafka's `NewMemberJoinTimeoutMs`: a new member's parked JoinGroup is dropped (the member
    /// removed) after this long, since a client that went away cannot be noticed otherwise.
    pub new_member_join_timeout_ms: u64,
    /// How often the background task checks sessions and rebalance deadlines.
    pub tick_interval_ms: u64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            offsets_partitions: 50,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            new_member_join_timeout_ms: 300_000,
            tick_interval_ms: 100,
        }
    }
}
