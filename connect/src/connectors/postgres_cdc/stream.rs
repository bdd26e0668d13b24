//! The replication stream: `START_REPLICATION` on the slot (through `pgwire-replication`),
//! pgoutput messages gathered into committed transactions, and the confirmed position sent
//! back once the cluster has the transaction's records (the slot then lets that WAL go).

use std::time::{Duration, Instant};

use pgwire_replication::{Lsn, ReplicationClient, ReplicationConfig, ReplicationEvent};

use crate::connectors::postgres_cdc::pgoutput::{self, Cell, Message, Relation};
use crate::error::{ConnectError, Result};

/// One change of a transaction.
#[derive(Debug, Clone)]
pub enum Change {
    Insert { relation: u32, new: Vec<Cell>, lsn: u64 },
    Update { relation: u32, old: Option<Vec<Cell>>, new: Vec<Cell>, lsn: u64 },
    Delete { relation: u32, old: Vec<Cell>, lsn: u64 },
    Truncate { relations: Vec<u32>, lsn: u64 },
}

/// A committed transaction.
#[derive(Debug, Clone)]
pub struct Committed {
    pub xid: u32,
    pub commit_lsn: u64,
    pub end_lsn: u64,
    /// Commit time, ms since the Unix epoch.
    pub commit_ms: i64,
    pub changes: Vec<Change>,
}

/// What arrived: relations (describe them before the changes that use them) and transactions.
#[derive(Debug, Default)]
pub struct Arrived {
    pub relations: Vec<Relation>,
    pub transactions: Vec<Committed>,
}

struct Open {
    xid: u32,
    changes: Vec<Change>,
}

pub struct Stream {
    client: ReplicationClient,
    open: Option<Open>,
    /// The newest WAL position the server reported.
    pub server_end: u64,
    /// The newest position a keepalive reported between transactions: every transaction
    /// committed before it has been sent in full, and any later one commits after it.
    pub idle_end: u64,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").finish_non_exhaustive()
    }
}

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Stream {
    /// Starts streaming from `start`.
    pub async fn start(config: ReplicationConfig, start: u64) -> Result<Self> {
        let config = config.with_start_lsn(Lsn(start)).with_status_interval(Duration::from_secs(1));
        let client = ReplicationClient::connect(config).await.map_err(|e| ConnectError::Task(format!("could not start the replication stream: {e}")))?;
        tracing::info!(from = %Lsn(start).to_pg_string(), "replication stream started");
        Ok(Self { client, open: None, server_end: start, idle_end: start })
    }

    /// What arrives within `wait` (returns at most 10 ms after the first transaction
    /// committed).
    pub async fn next(&mut self, wait: Duration, max_changes: usize) -> Result<Arrived> {
        let mut deadline = Instant::now() + wait;
        let mut arrived = Arrived::default();
        let mut changes = 0;
        loop {
            // Once a transaction is in, gather for at most a few more milliseconds: a busy
            // stream never pauses, and waiting for a full batch would delay every change.
            if arrived.transactions.len() == 1 && changes > 0 {
                deadline = deadline.min(Instant::now() + Duration::from_millis(10));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || changes >= max_changes {
                return Ok(arrived);
            }
            let event = match tokio::time::timeout(remaining, self.client.recv()).await {
                Err(_) => return Ok(arrived),
                Ok(Err(e)) => return Err(ConnectError::Task(format!("the replication stream failed: {e}"))),
                Ok(Ok(None)) => return Err(ConnectError::Task("the replication stream ended".into())),
                Ok(Ok(Some(event))) => event,
            };
            match event {
                ReplicationEvent::Begin { xid, .. } => self.open = Some(Open { xid, changes: Vec::new() }),
                ReplicationEvent::XLogData { wal_start, wal_end, data, .. } => {
                    self.server_end = self.server_end.max(wal_end.0);
                    let lsn = wal_start.0;
                    let message = pgoutput::decode(&data).map_err(ConnectError::Task)?;
                    let change = match message {
                        Message::Relation(relation) => {
                            arrived.relations.push(relation);
                            None
                        }
                        Message::Insert { relation, new } => Some(Change::Insert { relation, new, lsn }),
                        Message::Update { relation, old, new } => Some(Change::Update { relation, old, new, lsn }),
                        Message::Delete { relation, old } => Some(Change::Delete { relation, old, lsn }),
                        Message::Truncate { relations } => Some(Change::Truncate { relations, lsn }),
                        Message::Other => None,
                    };
                    if let (Some(change), Some(open)) = (change, self.open.as_mut()) {
                        open.changes.push(change);
                    }
                }
                ReplicationEvent::Commit { lsn, end_lsn, commit_time_micros } => {
                    if let Some(open) = self.open.take() {
                        changes += open.changes.len();
                        arrived.transactions.push(Committed {
                            xid: open.xid,
                            commit_lsn: lsn.0,
                            end_lsn: end_lsn.0,
                            commit_ms: (commit_time_micros + PG_EPOCH_MICROS) / 1000,
                            changes: open.changes,
                        });
                    }
                }
                ReplicationEvent::KeepAlive { wal_end, .. } => {
                    self.server_end = self.server_end.max(wal_end.0);
                    if self.open.is_none() {
                        self.idle_end = self.idle_end.max(wal_end.0);
                    }
                }
                ReplicationEvent::Message { .. } => {}
                ReplicationEvent::StoppedAt { .. } => return Err(ConnectError::Task("the replication stream stopped".into())),
            }
        }
    }

    /// Tells the server everything up to `lsn` is safely elsewhere.
    pub fn confirm(&self, lsn: u64) {
        self.client.update_applied_lsn(Lsn(lsn));
    }
}
