//! [`BrokerSessions`]: which brokers the controller has heard from lately.
//!
//! Brokers heartbeat the active controller; one silent for `broker.session.timeout.ms`
//! (Kafka's default: 9 s) is fenced. Sessions are the active controller's own memory, not
//! metadata: a newly elected controller starts every registered broker's session afresh,
//! as Kafka's does, so a controller change alone fences nobody.

use std::collections::BTreeMap;

/// Last contact per broker. Times are milliseconds on the controller's monotonic clock.
#[derive(Debug, Clone, Default)]
pub struct BrokerSessions {
    session_timeout_ms: u64,
    last_contact_ms: BTreeMap<i32, u64>,
}

impl BrokerSessions {
    /// Sessions expiring after `session_timeout_ms` of silence.
    pub fn new(session_timeout_ms: u64) -> Self {
        Self { session_timeout_ms, last_contact_ms: BTreeMap::new() }
    }

    /// The broker registered or heartbeated at `now_ms`.
    pub fn touch(&mut self, broker: i32, now_ms: u64) {
        let at = self.last_contact_ms.entry(broker).or_insert(now_ms);
        *at = (*at).max(now_ms);
    }

    /// Forgets a broker (unregistered).
    pub fn remove(&mut self, broker: i32) {
        self.last_contact_ms.remove(&broker);
    }

    /// Whether `broker` has a live session at `now_ms`.
    pub fn is_live(&self, broker: i32, now_ms: u64) -> bool {
        self.last_contact_ms.get(&broker).is_some_and(|&at| now_ms.saturating_sub(at) < self.session_timeout_ms)
    }

    /// Brokers whose sessions have expired at `now_ms`, among those tracked.
    pub fn expired(&self, now_ms: u64) -> Vec<i32> {
        self.last_contact_ms.iter().filter(|&(_, &at)| now_ms.saturating_sub(at) >= self.session_timeout_ms).map(|(&b, _)| b).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_broker_expires_after_the_session_timeout() {
        let mut sessions = BrokerSessions::new(9_000);
        sessions.touch(1, 0);
        sessions.touch(2, 0);
        sessions.touch(2, 5_000);
        assert!(sessions.expired(8_999).is_empty());
        assert_eq!(sessions.expired(9_000), vec![1]);
        assert!(sessions.is_live(2, 13_999));
        assert!(!sessions.is_live(2, 14_000));
        assert!(!sessions.is_live(3, 0));
    }
}
