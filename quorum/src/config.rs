//! [`QuorumConfig`]: who the voters are, where the log lives, and the Raft timings; and its
//! translation into openraft's `Config`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::QuorumError;

/// How one node of the quorum runs. Every voter must be given the same `voters` map.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node's id; must be one of `voters`.
    pub node_id: u64,
    /// Every voter's id and the `host:port` its Raft gRPC service listens on.
    pub voters: BTreeMap<u64, String>,
    /// The node's directory; the Raft log, vote and snapshot go in `data_dir/raft/`.
    pub data_dir: PathBuf,
    /// How often the leader sends heartbeats, in milliseconds.
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for a random time in
    /// `election_timeout_min_ms..election_timeout_max_ms` starts an election.
    pub election_timeout_min_ms: u64,
    /// See `election_timeout_min_ms`.
    pub election_timeout_max_ms: u64,
    /// A snapshot is taken after this many entries since the last one.
    pub snapshot_every_entries: u64,
    /// How many entries before the snapshot's index stay in the log after it is taken (so a
    /// follower a little behind catches up from the log rather than by a whole snapshot).
    pub keep_after_snapshot: u64,
    /// How long sending a whole snapshot to a follower may take, in milliseconds.
    pub snapshot_send_timeout_ms: u64,
    /// How long [`Quorum::propose`](crate::Quorum::propose) waits for its entry to be applied.
    pub propose_timeout_ms: u64,
    /// The largest gRPC message sent or accepted. A snapshot is one message, so the state
    /// machine's snapshot must stay under it; a proposal may be up to half of it.
    pub max_message_bytes: usize,
    /// The local address this node's connections to its peers leave from (`None`: the
    /// system chooses). Set it on a host with several addresses so peers, firewalls and
    /// fault-injecting proxies see traffic come from the address the node listens on.
    pub local_address: Option<std::net::IpAddr>,
}

impl QuorumConfig {
    /// A configuration with the defaults below for a LAN or one host.
    pub fn new(node_id: u64, voters: BTreeMap<u64, String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_id,
            voters,
            data_dir: data_dir.into(),
            heartbeat_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1000,
            snapshot_every_entries: 1000,
            keep_after_snapshot: 100,
            snapshot_send_timeout_ms: 10_000,
            propose_timeout_ms: 10_000,
            max_message_bytes: 256 * 1024 * 1024,
            local_address: None,
        }
    }

    /// The directory holding the log, the vote and the snapshot.
    pub fn raft_dir(&self) -> PathBuf {
        self.data_dir.join("raft")
    }

    /// Whether this node votes. A node not among `voters` is an observer: a Raft learner
    /// that receives the log once the leader adds it ([`Quorum::add_observer`]).
    ///
    /// [`Quorum::add_observer`]: crate::Quorum::add_observer
    pub fn is_voter(&self) -> bool {
        self.voters.contains_key(&self.node_id)
    }

    /// Checks what openraft does not: there are voters and every address is `host:port`.
    pub(crate) fn validate(&self) -> Result<(), QuorumError> {
        if self.voters.is_empty() {
            return Err(QuorumError::Config("the quorum has no voters".into()));
        }
        for (id, addr) in &self.voters {
            if tonic::transport::Endpoint::from_shared(format!("http://{addr}")).is_err() {
                return Err(QuorumError::Config(format!(
                    "voter {id}: {addr:?} is not host:port"
                )));
            }
        }
        if self.snapshot_every_entries == 0 {
            return Err(QuorumError::Config(
                "snapshot_every_entries must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// openraft's configuration for these settings.
    pub(crate) fn raft_config(&self) -> Result<Arc<openraft::Config>, QuorumError> {
        let config = openraft::Config {
            cluster_name: "fjord-quorum".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_timeout_min_ms,
            election_timeout_max: self.election_timeout_max_ms,
            install_snapshot_timeout: self.snapshot_send_timeout_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every_entries),
            max_in_snapshot_log_to_keep: self.keep_after_snapshot,
            // openraft's docs ask for more than the snapshot interval (0.9 uses it only to
            // decide when a learner being added has caught up).
            replication_lag_threshold: self.snapshot_every_entries.saturating_mul(2).max(5000),
            ..Default::default()
        };
        config
            .validate()
            .map(Arc::new)
            .map_err(|e| QuorumError::Config(e.to_string()))
    }
}
