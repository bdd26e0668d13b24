//! What the quorum reports about itself: [`QuorumStatus`] (enough for Kafka's DescribeQuorum:
//! leader, term as the leader epoch, commit index as the high watermark, and per voter its
//! replicated index and when it was last heard from and last caught up) and [`LeaderState`]
//! for watchers.
//!
//! openraft 0.9 keeps no per-follower times, so the leader keeps them in a [`PeerClock`]: the
//! network records each successful AppendEntries (heartbeats included) as a contact, and the
//! quorum's metrics watcher records a voter as caught up whenever its replicated index reaches
//! the leader's last log index.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use openraft::{BasicNode, RaftMetrics, ServerState};

use crate::types::NodeId;

/// Who leads, in which term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaderState {
    /// The leader's node id; `None` during an election.
    pub leader: Option<u64>,
    /// The current Raft term (Kafka's leader epoch).
    pub term: u64,
}

/// One node's view of the quorum. Replication progress is known only on the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This node.
    pub node_id: u64,
    /// The leader this node knows of.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// Whether this node is the leader.
    pub is_leader: bool,
    /// The last committed log index (Kafka's high watermark is one past it).
    pub committed_index: Option<u64>,
    /// The last index in this node's log.
    pub last_log_index: Option<u64>,
    /// The last index applied to the state machine here.
    pub applied_index: Option<u64>,
    /// The last index covered by this node's snapshot.
    pub snapshot_index: Option<u64>,
    /// The last index purged from this node's log.
    pub purged_index: Option<u64>,
    /// Every voter, by id.
    pub voters: Vec<VoterStatus>,
    /// Every observer (a learner: receives the log, never votes), by id.
    pub observers: Vec<VoterStatus>,
}

/// One voter as this node sees it. The progress fields are `Some` only on the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterStatus {
    /// The voter's id.
    pub node_id: u64,
    /// Its Raft gRPC address.
    pub address: String,
    /// The last index known to be replicated to it (its log end offset is one past it).
    pub matched_index: Option<u64>,
    /// How many entries of the leader's log it lacks.
    pub lag: Option<u64>,
    /// Milliseconds since it last answered an AppendEntries (0 for the leader itself).
    pub last_contact_ms_ago: Option<u64>,
    /// Milliseconds since it last had the leader's whole log (0 for the leader itself).
    pub last_caught_up_ms_ago: Option<u64>,
}

/// When the leader last heard from each peer, and when each was last caught up.
#[derive(Debug, Default)]
pub(crate) struct PeerClock {
    times: Mutex<BTreeMap<NodeId, PeerTimes>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct PeerTimes {
    contact: Option<Instant>,
    caught_up: Option<Instant>,
}

impl PeerClock {
    /// `peer` answered an AppendEntries just now.
    pub(crate) fn contacted(&self, peer: NodeId) {
        self.update(peer, |t| t.contact = Some(Instant::now()));
    }

    /// Records every voter whose replicated index has reached the leader's last log index.
    pub(crate) fn observe(&self, metrics: &RaftMetrics<NodeId, BasicNode>) {
        let Some(replication) = &metrics.replication else {
            return;
        };
        for (peer, matched) in replication {
            if matched.map(|id| id.index) == metrics.last_log_index {
                self.update(*peer, |t| t.caught_up = Some(Instant::now()));
            }
        }
    }

    fn update(&self, peer: NodeId, change: impl FnOnce(&mut PeerTimes)) {
        let mut times = self
            .times
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(times.entry(peer).or_default());
    }

    fn times(&self, peer: NodeId) -> PeerTimes {
        let times = self
            .times
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        times.get(&peer).copied().unwrap_or_default()
    }
}

impl LeaderState {
    pub(crate) fn of(metrics: &RaftMetrics<NodeId, BasicNode>) -> Self {
        LeaderState {
            leader: metrics.current_leader,
            term: metrics.current_term,
        }
    }
}

impl QuorumStatus {
    /// The status from openraft's metrics, the commit index and the leader's peer times.
    pub(crate) fn new(
        metrics: &RaftMetrics<NodeId, BasicNode>,
        committed_index: Option<u64>,
        clock: &PeerClock,
    ) -> Self {
        let is_leader = metrics.state == ServerState::Leader;
        let membership = metrics.membership_config.membership();
        let progress = |id: NodeId| {
            let address = membership
                .get_node(&id)
                .map(|n| n.addr.clone())
                .unwrap_or_default();
            let voter = VoterStatus {
                node_id: id,
                address,
                matched_index: None,
                lag: None,
                last_contact_ms_ago: None,
                last_caught_up_ms_ago: None,
            };
            if is_leader {
                voter.with_progress(metrics, clock)
            } else {
                voter
            }
        };
        let voters = membership.voter_ids().map(progress).collect();
        let observers = membership.learner_ids().map(progress).collect();
        QuorumStatus {
            node_id: metrics.id,
            leader: metrics.current_leader,
            term: metrics.current_term,
            is_leader,
            committed_index,
            last_log_index: metrics.last_log_index,
            applied_index: metrics.last_applied.map(|id| id.index),
            snapshot_index: metrics.snapshot.map(|id| id.index),
            purged_index: metrics.purged.map(|id| id.index),
            voters,
            observers,
        }
    }
}

impl VoterStatus {
    /// Adds the replication progress that a leader's `metrics` and `clock` show.
    fn with_progress(self, metrics: &RaftMetrics<NodeId, BasicNode>, clock: &PeerClock) -> Self {
        let now = Instant::now();
        let (matched, times) = if self.node_id == metrics.id {
            (
                metrics.last_log_index,
                PeerTimes {
                    contact: Some(now),
                    caught_up: Some(now),
                },
            )
        } else {
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(&self.node_id).copied().flatten());
            (matched.map(|id| id.index), clock.times(self.node_id))
        };
        let ms_ago =
            |at: Option<Instant>| at.map(|at| now.saturating_duration_since(at).as_millis() as u64);
        VoterStatus {
            matched_index: matched,
            lag: Some(entries_up_to(metrics.last_log_index).saturating_sub(entries_up_to(matched))),
            last_contact_ms_ago: ms_ago(times.contact),
            last_caught_up_ms_ago: ms_ago(times.caught_up),
            ..self
        }
    }
}

/// How many entries a log ending at `index` has had (indexes start at 0).
fn entries_up_to(index: Option<u64>) -> u64 {
    index.map_or(0, |i| i + 1)
}
