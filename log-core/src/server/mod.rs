//! The Kafka listener: accepts connections and serves each one on its own task
//! ([`connection`]). Requests on one connection are answered in order, one at a time (as
//! Kafka does); connections are independent. A frame that cannot be decoded closes only its
//! own connection.
//!
//! ```text
//! accept ─► limits: max.connections (wait) · max.connections.per.ip (refuse)
//!   └─► connection task: idle timeout ─► size prefix ─► reserve request memory
//!         ─► body within the read timeout ─► decode ─► Broker::handle ─► write ─► release
//! ```

mod connection;
mod limits;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use limits::{ConnectionLimits, ConnectionSlot, ConnectionTracker, RequestMemory, Reservation, TooManyConnections};

use crate::broker::Broker;

/// Serves `listener` until `shutdown` turns true, then stops accepting, lets every
/// connection finish the request it is serving, and returns.
pub async fn serve(broker: Arc<Broker>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
    let config = broker.config();
    let tracker = ConnectionTracker::new(ConnectionLimits {
        max_connections: config.max_connections.max(1),
        max_connections_per_ip: config.max_connections_per_ip.max(1),
    });
    let memory = RequestMemory::new(config.queued_max_request_bytes.max(config.socket_request_max_bytes));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept(&listener, &tracker) => match accepted {
                Ok((stream, peer)) => match tracker.admit(peer.ip()) {
                    Ok(slot) => {
                        let served = connection::Connection::new(broker.clone(), stream, peer, slot, memory.clone());
                        connections.spawn(served.serve(shutdown.clone()));
                    }
                    Err(refused) => {
                        broker.metrics().connections_refused.inc();
                        tracing::debug!(%peer, error = %refused, "refusing a connection");
                        drop(stream);
                    }
                },
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed; check the open-file limit (ulimit -n) and max.connections");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    // Requests in hand get a grace period to be answered; a parked JoinGroup or a client that
    // stopped reading its response must not hold the shutdown for minutes.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(connections = connections.len(), grace_s = SHUTDOWN_GRACE.as_secs(), "closing connections whose requests did not finish within the shutdown grace period");
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// How long shutdown waits for the requests in hand.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Accepts the next connection once there is room for it under `max.connections`.
async fn accept(listener: &TcpListener, tracker: &ConnectionTracker) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    tracker.wait_for_room().await;
    listener.accept().await
}
