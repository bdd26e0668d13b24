//! What one listener lets clients hold: connections (in all and per address) and the memory
//! of requests read but not yet answered. These are the broker's defences against a client
//! that is hostile or merely heavy; each limit carries its Kafka name.
//!
//! - [`ConnectionTracker`] counts open connections. Past `max.connections.per.ip` a new
//!   connection is refused at once (closed); at `max.connections` the listener stops
//!   accepting until one closes, leaving new ones in the kernel's backlog, as Kafka does.
//! - [`RequestMemory`] is the pool behind `queued.max.request.bytes`: a connection reserves a
//!   frame's bytes as they arrive, a chunk ahead of the socket, and gives them back once the
//!   response is written. At the bound, connections wait — they stop reading their sockets —
//!   instead of allocating. Reserving as bytes arrive (not the size a prefix announces) means
//!   a client that sends only size prefixes holds one chunk each, not the pool.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The limits of [`ConnectionTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max.connections`: open connections in all.
    pub max_connections: usize,
    /// `max.connections.per.ip`: open connections from one address.
    pub max_connections_per_ip: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} already has {open} connections open (max.connections.per.ip is {limit})")]
pub struct TooManyConnections {
    /// The client's address.
    pub ip: IpAddr,
    /// Connections it has open.
    pub open: usize,
    /// The limit.
    pub limit: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Open connections, in all and per client address. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct ConnectionTracker {
    limits: ConnectionLimits,
    counts: Arc<Mutex<Counts>>,
    /// Woken whenever a connection closes (the listener may accept again).
    closed: Arc<Notify>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct ConnectionSlot {
    ip: IpAddr,
    tracker: ConnectionTracker,
}

impl ConnectionTracker {
    /// A tracker with no connection open.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self { limits, counts: Arc::default(), closed: Arc::new(Notify::new()) }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts().total
    }

    /// Waits until fewer than `max.connections` are open.
    pub async fn wait_for_room(&self) {
        loop {
            // Registered before the check, so a close between the check and the wait is seen.
            let closed = self.closed.notified();
            if self.open() < self.limits.max_connections {
                return;
            }
            closed.await;
        }
    }

    /// Admits a connection from `ip`, or refuses it when that address is at its limit.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionSlot, TooManyConnections> {
        let mut counts = self.counts();
        let open = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if open >= self.limits.max_connections_per_ip {
            return Err(TooManyConnections { ip, open, limit: self.limits.max_connections_per_ip });
        }
        counts.per_ip.insert(ip, open + 1);
        counts.total += 1;
        Ok(ConnectionSlot { ip, tracker: self.clone() })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        {
            let mut counts = self.tracker.counts();
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.per_ip.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.per_ip.remove(&self.ip);
                }
            }
        }
        self.tracker.closed.notify_waiters();
    }
}

/// The memory pool for requests read but not yet answered (`queued.max.request.bytes`).
#[derive(Debug, Clone)]
pub struct RequestMemory {
    pool: Arc<Semaphore>,
    capacity: usize,
}

/// Memory reserved for one request; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Nothing reserved yet.
    pub fn empty() -> Self {
        Self { permit: None }
    }

    /// Adds `more` to this reservation.
    pub fn merge(&mut self, more: Reservation) {
        match (&mut self.permit, more.permit) {
            (Some(held), Some(extra)) => held.merge(extra),
            (held @ None, extra) => *held = extra,
            (_, None) => {}
        }
    }
}

impl RequestMemory {
    /// A pool of `capacity` bytes. It must be at least the largest frame accepted
    /// (`socket.request.max.bytes`), or a frame of that size could never be read.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Self { pool: Arc::new(Semaphore::new(capacity)), capacity }
    }

    /// Bytes reserved right now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.pool.available_permits()
    }

    /// Waits until `bytes` can be reserved, and reserves them.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        // Past u32 only with a pool over 4 GiB, and no frame is that large (its size is an i32).
        let wanted = u32::try_from(bytes.min(self.capacity)).unwrap_or(u32::MAX);
        if wanted == 0 {
            return Reservation { permit: None };
        }
        // The semaphore is never closed, so this only fails if it were.
        Reservation { permit: self.pool.clone().acquire_many_owned(wanted).await.ok() }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn an_address_at_its_limit_is_refused_and_others_are_not() {
        let tracker = ConnectionTracker::new(ConnectionLimits { max_connections: 10, max_connections_per_ip: 2 });
        let first = tracker.admit(A).unwrap();
        let _second = tracker.admit(A).unwrap();
        let refused = tracker.admit(A).unwrap_err();
        assert_eq!(refused.open, 2);
        let _other = tracker.admit(B).unwrap();
        assert_eq!(tracker.open(), 3);
        drop(first);
        assert_eq!(tracker.open(), 2);
        let _again = tracker.admit(A).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_listener_waits_for_room_at_max_connections() {
        let tracker = ConnectionTracker::new(ConnectionLimits { max_connections: 1, max_connections_per_ip: 5 });
        let slot = tracker.admit(A).unwrap();
        let waiting = tokio::spawn({
            let tracker = tracker.clone();
            async move { tracker.wait_for_room().await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished(), "no room while the only slot is taken");
        drop(slot);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn request_memory_is_bounded_and_given_back() {
        let memory = RequestMemory::new(100);
        let held = memory.reserve(80).await;
        assert_eq!(memory.in_use(), 80);
        let blocked = tokio::spawn({
            let memory = memory.clone();
            async move {
                let _r = memory.reserve(50).await;
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!blocked.is_finished(), "only 20 bytes are free");
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), blocked).await.unwrap().unwrap();
        assert_eq!(memory.in_use(), 0);
        // A request larger than the pool waits for all of it rather than forever.
        let _all = memory.reserve(1000).await;
        assert_eq!(memory.in_use(), 100);
    }
}
