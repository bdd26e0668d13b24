//! [`StateMachine`]: what the caller gives the quorum to apply committed entries to, and its
//! contract.

/// The replicated state the caller owns, kept in memory and rebuilt on every start.
///
/// The quorum persists the log and the latest snapshot, and keeps the applied index itself; the
/// state machine persists nothing. On [`Quorum::start`](crate::Quorum::start) the quorum
/// restores the latest snapshot (if any) with [`restore`](Self::restore), then applies the
/// committed entries after it with [`apply`](Self::apply): a restarted node ends up with the
/// same state it had.
///
/// Contract:
/// - `apply` is called with committed entries only, one at a time, in increasing log index,
///   exactly once per index since the last `restore` (or since start). Indexes have gaps: Raft's
///   own entries (membership, a new leader's blank entry) are not passed on.
/// - `apply` must not fail: whatever is proposed is applied on every node, so the caller
///   validates entries before proposing them, and an entry that turns out to be invalid must
///   be skipped identically everywhere (deterministically).
/// - `snapshot` returns the whole state as of the last applied entry. It is never called
///   concurrently with `apply` or `restore`.
/// - `restore` replaces the whole state with a snapshot's; later `apply` calls continue from
///   the snapshot's index. It is called on start and when the leader sends a snapshot to a node
///   that fell behind. An error fails the start, or stops the Raft of a running node.
/// - No method may block for long: they run on the quorum's tasks.
pub trait StateMachine: Send + Sync + 'static {
    /// Applies the committed entry at log `index`.
    fn apply(&self, index: u64, entry: &[u8]);

    /// The whole state, to be restored elsewhere or later with [`restore`](Self::restore).
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the whole state with `snapshot` (bytes made by [`snapshot`](Self::snapshot),
    /// possibly on another node).
    fn restore(&self, snapshot: &[u8]) -> Result<(), String>;
}
