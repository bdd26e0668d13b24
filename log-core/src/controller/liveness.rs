//! [`BrokerSessions`]: which brokers the controller has heard from lately.
//!
//! Brokers heartbeat the active controller; one silent for `broker.session.timeout.ms`
//! (Kafka's default: 9 s) is fenced. Sessions are the active controller's own memory, not
//! metadata: a newly elected controller starts every registered broker's session afresh,
//! as Kafka's does, so a controller change alone fences nobody.
//!
//! A broker whose inter-broker port refuses connections (a follower of it reports that: the
//! process is gone, not merely unreachable) is fenced sooner: once it has also missed its
//! heartbeats for `suspect_after_ms`. The heartbeat stays the authority — a broker that keeps
//! heartbeating is never fenced on reports alone.

use std::collections::BTreeMap;

/// Last contact per broker. Times are milliseconds on the controller's monotonic clock.
#[derive(Debug, Clone, Default)]
pub struct BrokerSessions {
    session_timeout_ms: u64,
    suspect_after_ms: u64,
    last_contact_ms: BTreeMap<i32, u64>,
    /// Brokers reported as refusing connections since their last heartbeat.
    refused: BTreeMap<i32, u64>,
}

impl BrokerSessions {
    /// Sessions expiring after `session_timeout_ms` of silence, or `suspect_after_ms` of it
    /// once the broker was reported refusing connections.
    pub fn new(session_timeout_ms: u64, suspect_after_ms: u64) -> Self {
        Self { session_timeout_ms, suspect_after_ms: suspect_after_ms.min(session_timeout_ms), last_contact_ms: BTreeMap::new(), refused: BTreeMap::new() }
    }

    /// The broker registered or heartbeated at `now_ms`.
    pub fn touch(&mut self, broker: i32, now_ms: u64) {
        let at = self.last_contact_ms.entry(broker).or_insert(now_ms);
        *at = (*at).max(now_ms);
        if self.refused.get(&broker).is_some_and(|&reported| reported <= now_ms) {
            self.refused.remove(&broker);
        }
    }

    /// Another broker found `broker`'s port refusing connections at `now_ms`.
    pub fn report_refused(&mut self, broker: i32, now_ms: u64) {
        self.refused.insert(broker, now_ms);
    }

    /// Forgets a broker (unregistered).
    pub fn remove(&mut self, broker: i32) {
        self.last_contact_ms.remove(&broker);
        self.refused.remove(&broker);
    }

    /// Whether `broker` has a live session at `now_ms`.
    pub fn is_live(&self, broker: i32, now_ms: u64) -> bool {
        let Some(&at) = self.last_contact_ms.get(&broker) else { return false };
        let silence = now_ms.saturating_sub(at);
        let timeout = if self.refused.contains_key(&broker) { self.suspect_after_ms } else { self.session_timeout_ms };
        silence < timeout
    }

    /// Brokers whose sessions have expired at `now_ms`, among those tracked.
    pub fn expired(&self, now_ms: u64) -> Vec<i32> {
        self.last_contact_ms.keys().copied().filter(|&b| !self.is_live(b, now_ms)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_broker_expires_after_the_session_timeout() {
        let mut sessions = BrokerSessions::new(9_000, 3_000);
        sessions.touch(1, 0);
        sessions.touch(2, 0);
        sessions.touch(2, 5_000);
        assert!(sessions.expired(8_999).is_empty());
        assert_eq!(sessions.expired(9_000), vec![1]);
        assert!(sessions.is_live(2, 13_999));
        assert!(!sessions.is_live(2, 14_000));
        assert!(!sessions.is_live(3, 0));
    }

    #[test]
    fn a_broker_refusing_connections_expires_once_it_also_misses_heartbeats() {
        let mut sessions = BrokerSessions::new(9_000, 3_000);
        sessions.touch(1, 0);
        sessions.touch(2, 0);
        sessions.report_refused(1, 500);
        assert!(sessions.is_live(1, 2_999), "not before it has been silent for suspect_after_ms");
        assert_eq!(sessions.expired(3_000), vec![1]);
        // A broker that heartbeats after the report is trusted again.
        sessions.report_refused(2, 500);
        sessions.touch(2, 2_000);
        assert!(sessions.is_live(2, 8_000));
        assert!(!sessions.is_live(2, 11_000));
    }
}
