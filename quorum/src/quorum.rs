//! [`Quorum`]: one running node — its Raft, storage and network — and the operations the
//! caller uses: propose, observe, serve, shut down.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::{BasicNode, RaftMetrics};
use tokio::sync::watch;

use crate::config::QuorumConfig;
use crate::error::QuorumError;
use crate::pb::raft_service_server::RaftServiceServer;
use crate::state_machine::StateMachine;
use crate::status::{LeaderState, PeerClock, QuorumStatus};
use crate::storage::{LogStore, StateMachineStore, blocking};
use crate::transport::client::NetworkFactory;
use crate::transport::server::RaftGrpc;
use crate::types::{NodeId, Payload, Raft};

/// A running node of the quorum. See the crate docs.
///
/// Stop it with [`shutdown`](Self::shutdown): the Raft runs on its own tasks, and a mounted
/// [`raft_service`](Self::raft_service) keeps it alive after the `Quorum` is dropped.
pub struct Quorum {
    node_id: NodeId,
    raft: Raft,
    clock: Arc<PeerClock>,
    leader: watch::Receiver<LeaderState>,
    propose_timeout: Duration,
    max_message_bytes: usize,
}

impl fmt::Debug for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quorum")
            .field("node_id", &self.node_id)
            .field("leader", &*self.leader.borrow())
            .finish()
    }
}

impl Quorum {
    /// Starts this node: opens (and recovers) the log in `config.data_dir`, restores the latest
    /// snapshot into `state_machine` and re-applies the committed log after it, starts the
    /// Raft, and makes `config.voters` the membership if the log is new (every voter is given
    /// the same map, so whichever initialises first, they agree). Peers need not be up.
    ///
    /// The caller then serves [`raft_service`](Self::raft_service) on `config.voters[node_id]`.
    pub async fn start(
        config: QuorumConfig,
        state_machine: Arc<dyn StateMachine>,
    ) -> Result<Quorum, QuorumError> {
        config.validate()?;
        let raft_config = config.raft_config()?;
        let dir = config.raft_dir();
        let (log, machine) = blocking(move || {
            Ok((
                LogStore::open(&dir)?,
                StateMachineStore::open(&dir, state_machine)?,
            ))
        })
        .await?;
        let clock = Arc::new(PeerClock::default());
        let network = NetworkFactory {
            me: config.node_id,
            clock: clock.clone(),
            max_message_bytes: config.max_message_bytes,
            local_address: config.local_address,
        };
        let raft = Raft::new(config.node_id, raft_config, network, log, machine)
            .await
            .map_err(fatal)?;
        if config.is_voter() {
            initialize(&raft, &config.voters).await?;
        } else {
            tracing::info!(
                node_id = config.node_id,
                "starting as an observer (Raft learner): the log arrives once the leader adds this node"
            );
        }

        let metrics = raft.metrics();
        let (leader_tx, leader) = watch::channel(LeaderState::of(&metrics.borrow()));
        tokio::spawn(watch_metrics(metrics, clock.clone(), leader_tx));
        tracing::info!(node_id = config.node_id, voters = ?config.voters, "raft quorum node started");
        Ok(Quorum {
            node_id: config.node_id,
            raft,
            clock,
            leader,
            propose_timeout: Duration::from_millis(config.propose_timeout_ms),
            max_message_bytes: config.max_message_bytes,
        })
    }

    /// The Raft gRPC service, to be mounted on the caller's tonic server next to its own
    /// services, listening on this node's address in `voters`:
    ///
    /// ```no_run
    /// # async fn run(quorum: fjord_quorum::Quorum, listener: tokio::net::TcpListener)
    /// # -> Result<(), tonic::transport::Error> {
    /// tonic::transport::Server::builder()
    ///     .add_service(quorum.raft_service())
    ///     // .add_service(...) the caller's own services, on the same listener
    ///     .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)))
    ///     .await
    /// # }
    /// ```
    pub fn raft_service(&self) -> RaftServiceServer<RaftGrpc> {
        RaftServiceServer::new(RaftGrpc {
            raft: self.raft.clone(),
        })
        .max_decoding_message_size(self.max_message_bytes)
        .max_encoding_message_size(self.max_message_bytes)
    }

    /// Serves only the Raft service on `listener` until `shutdown` completes: for tests and for
    /// programs with no gRPC services of their own.
    pub fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = Result<(), QuorumError>> + Send + 'static {
        let server = tonic::transport::Server::builder().add_service(self.raft_service());
        async move {
            server
                .serve_with_incoming_shutdown(
                    // Heartbeats and votes must not wait for Nagle's algorithm.
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    shutdown,
                )
                .await?;
            Ok(())
        }
    }

    /// Appends `entry` to the replicated log and returns its index once it is committed and
    /// applied to this node's state machine. Only the leader accepts proposals: elsewhere the
    /// answer is [`QuorumError::NotLeader`] naming the leader to forward to.
    ///
    /// On [`QuorumError::Timeout`] (after `propose_timeout_ms`), or when leadership is lost
    /// while the entry is in flight, the entry may still be committed later: entries should be
    /// safe to apply twice, or carry what lets the state machine tell.
    pub async fn propose(&self, entry: Vec<u8>) -> Result<u64, QuorumError> {
        // An entry travels base64-encoded in JSON: leave room for that in a message.
        let limit = self.max_message_bytes / 2;
        if entry.len() > limit {
            return Err(QuorumError::TooLarge {
                bytes: entry.len(),
                limit,
            });
        }
        let write = self.raft.client_write(Payload(entry));
        let response = self.committed(write).await?;
        Ok(response.log_id.index)
    }

    /// Waits at most `propose_timeout` for a write (an entry, a membership change) to be
    /// committed, and translates openraft's refusals.
    async fn committed<T>(
        &self,
        write: impl Future<Output = Result<T, RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>>>,
    ) -> Result<T, QuorumError> {
        match tokio::time::timeout(self.propose_timeout, write).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(QuorumError::NotLeader {
                    leader: forward.leader_id,
                })
            }
            Ok(Err(RaftError::APIError(e))) => Err(QuorumError::Raft(e.to_string())),
            Ok(Err(RaftError::Fatal(e))) => Err(fatal(e)),
            Err(_) => Err(QuorumError::Timeout {
                after_ms: self.propose_timeout.as_millis() as u64,
            }),
        }
    }

    /// Waits until the entry at `index` (or a later one) has been applied here. It does not
    /// time out: wrap it in `tokio::time::timeout` where that matters.
    pub async fn wait_applied(&self, index: u64) -> Result<(), QuorumError> {
        let mut metrics = self.raft.metrics();
        let reached = metrics
            .wait_for(|m| {
                m.running_state.is_err() || m.last_applied.is_some_and(|id| id.index >= index)
            })
            .await
            .map_err(|_| QuorumError::Shutdown)?;
        match &reached.running_state {
            Err(e) => Err(fatal(e.clone())),
            Ok(()) => Ok(()),
        }
    }

    /// As leader: makes `node_id`, reached at `addr`, an observer — a learner that receives
    /// the log and never votes — or updates its address. Returns once the membership change
    /// is committed; does nothing when the node is already an observer at that address.
    /// Elsewhere the answer is [`QuorumError::NotLeader`].
    pub async fn add_observer(&self, node_id: u64, addr: &str) -> Result<(), QuorumError> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let membership = membership.membership();
        if membership.voter_ids().any(|id| id == node_id) {
            return Err(QuorumError::Config(format!(
                "node {node_id} is a voter; it cannot also be an observer"
            )));
        }
        if membership
            .get_node(&node_id)
            .is_some_and(|n| n.addr == addr)
        {
            return Ok(());
        }
        let add = self.raft.add_learner(node_id, BasicNode::new(addr), false);
        self.committed(add).await?;
        tracing::info!(node_id, addr, "added an observer to the quorum");
        Ok(())
    }

    /// The leader and term now, and every change from here on.
    pub fn watch_leader(&self) -> watch::Receiver<LeaderState> {
        self.leader.clone()
    }

    /// This node's view of the quorum; replication progress per voter on the leader only.
    pub async fn status(&self) -> Result<QuorumStatus, QuorumError> {
        let committed = self
            .raft
            .with_raft_state(|state| state.committed.map(|id| id.index))
            .await
            .map_err(fatal)?;
        let metrics = self.raft.metrics().borrow().clone();
        Ok(QuorumStatus::new(&metrics, committed, &self.clock))
    }

    /// Stops the Raft: proposals and status then fail with [`QuorumError::Shutdown`], and peers
    /// calling this node's service are answered that it has stopped. The gRPC server the caller
    /// runs is the caller's to stop (before this, ideally).
    pub async fn shutdown(&self) -> Result<(), QuorumError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| QuorumError::Raft(format!("the raft task failed: {e}")))?;
        tracing::info!(node_id = self.node_id, "raft quorum node stopped");
        Ok(())
    }
}

/// Makes `voters` the first membership of a new log; on a log that has one already (a
/// restart, or another voter initialised first and replicated it) openraft refuses with
/// `NotAllowed`, which is the expected answer.
async fn initialize(raft: &Raft, voters: &BTreeMap<u64, String>) -> Result<(), QuorumError> {
    let members: BTreeMap<NodeId, BasicNode> = voters
        .iter()
        .map(|(id, addr)| (*id, BasicNode::new(addr)))
        .collect();
    match raft.initialize(members.clone()).await {
        Ok(()) => tracing::info!(?voters, "initialised the raft membership"),
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
            let metrics = raft.metrics().borrow().clone();
            let stored = metrics.membership_config.membership();
            let stored: BTreeMap<NodeId, BasicNode> =
                stored.nodes().map(|(id, n)| (*id, n.clone())).collect();
            if !stored.is_empty() && stored != members {
                tracing::warn!(
                    ?stored,
                    ?voters,
                    "the raft log's membership differs from the configured voters, and changing it is not supported: the log's is used"
                );
            }
        }
        Err(e) => return Err(QuorumError::Raft(e.to_string())),
    }
    Ok(())
}

/// Follows openraft's metrics until the Raft stops: publishes leader changes and records the
/// voters that are caught up.
async fn watch_metrics(
    mut metrics: watch::Receiver<RaftMetrics<NodeId, BasicNode>>,
    clock: Arc<PeerClock>,
    leader: watch::Sender<LeaderState>,
) {
    loop {
        let state = {
            let m = metrics.borrow_and_update();
            clock.observe(&m);
            LeaderState::of(&m)
        };
        leader.send_if_modified(|old| std::mem::replace(old, state) != state);
        if metrics.changed().await.is_err() {
            leader.send_modify(|s| s.leader = None);
            return;
        }
    }
}

/// A fatal Raft error: stopped means shut down.
fn fatal(e: Fatal<NodeId>) -> QuorumError {
    match e {
        Fatal::Stopped => QuorumError::Shutdown,
        e => QuorumError::Raft(e.to_string()),
    }
}
