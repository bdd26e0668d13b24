//! Changes decided in one place. Creating a connector must fail when the name is taken, and
//! deleting one when it is gone, so two workers answering such calls at once cannot each
//! decide from their own view: both would succeed. As in Kafka Connect, where followers
//! forward these calls to the leader, one worker decides them — here the worker the group gave
//! the assignment topic's partition 0. Any worker writes a request to the config topic; the
//! leader, reading requests in log order, writes its answer (the decision), then the records
//! that carry it out, then a tombstone that ends the request; the asking worker returns the
//! answer to its caller when it reads the tombstone, having applied everything before it.
//!
//! Only the leader writes `connector-…` records for these changes, so the topic's last record
//! under each key is always an outcome (what compaction keeps), never a refused attempt.
//!
//! The leader decides a request only once it has read back its own previous write (its
//! leadership marker, or the last decision's tombstone): a decision then sees every earlier
//! one, including those of a leader before it. A leader that dies between its answer and the
//! tombstone leaves the decision in the topic; the next leader carries that decision out again
//! (the records are the same) instead of deciding anew, so a connector created just before the
//! failover is not then refused as taken.

use std::collections::VecDeque;

use crate::runtime::TargetState;
use crate::runtime::distributed::records::{Answer, Change, ConfigRecord};

/// A request waiting for the leader, and its answer once the leader decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub id: String,
    pub change: Change,
    pub answer: Option<Answer>,
}

/// A worker's view of the requests waiting for the leader, and whether it leads.
#[derive(Debug, Default)]
pub(crate) struct Leadership {
    leading: bool,
    /// Requests read and not ended yet, in log order.
    pending: VecDeque<Pending>,
    /// The offset of this worker's last write as the leader, until it has been read back.
    awaiting: Option<i64>,
}

impl Leadership {
    /// A request read from the config topic.
    pub fn requested(&mut self, id: String, change: Change) {
        self.pending.push_back(Pending { id, change, answer: None });
    }

    /// The leader's answer to a request, read from the config topic.
    pub fn decided(&mut self, id: &str, answer: Answer) {
        if let Some(pending) = self.pending.iter_mut().find(|p| p.id == id) {
            pending.answer = Some(answer);
        }
    }

    /// A request ended (its tombstone read): it waits no more. Its answer, if this worker
    /// read the request and the answer.
    pub fn ended(&mut self, id: &str) -> Option<Answer> {
        let at = self.pending.iter().position(|p| p.id == id)?;
        self.pending.remove(at).and_then(|p| p.answer)
    }

    /// The group made this worker the leader (`true`) or took that away. A new leader writes
    /// its marker and decides nothing until it has read it back (`wrote`).
    pub fn set_leading(&mut self, leading: bool) {
        self.leading = leading;
        self.awaiting = None;
    }

    pub fn is_leading(&self) -> bool {
        self.leading
    }

    /// This worker, leading, wrote up to `offset`.
    pub fn wrote(&mut self, offset: i64) {
        self.awaiting = Some(offset);
    }

    /// The next request to decide or carry out, when this worker leads and has read back its
    /// last write (`applied` is the next offset it will apply). It stays pending until its
    /// tombstone is read.
    pub fn next(&self, applied: i64) -> Option<Pending> {
        if !self.leading || self.awaiting.is_none_or(|offset| applied <= offset) {
            return None;
        }
        self.pending.front().cloned()
    }
}

/// The leader's answer to `change`, given whether its connector exists now.
pub(crate) fn decide(change: &Change, exists: bool) -> Answer {
    let answer = |status: u16, message: String| Answer { status, message };
    match change {
        Change::Create { name, .. } if exists => answer(409, format!("Connector {name} already exists")),
        Change::Create { name, .. } => answer(201, format!("Connector {name} created")),
        Change::Put { name, .. } if exists => answer(200, format!("Connector {name} updated")),
        Change::Put { name, .. } => answer(201, format!("Connector {name} created")),
        Change::Delete { name } if exists => answer(204, format!("Connector {name} deleted")),
        Change::Delete { name } => answer(404, format!("Connector {name} not found")),
    }
}

/// What the leader writes for a request after its answer: the records carrying the change out
/// (none when refused), then the tombstone ending the request.
pub(crate) fn carry_out(id: &str, change: Change, answer: &Answer) -> Vec<ConfigRecord> {
    let mut records = Vec::new();
    let refused = !(200..300).contains(&answer.status);
    match change {
        _ if refused => {}
        Change::Create { name, config, state } => {
            records.push(ConfigRecord::TargetState { name: name.clone(), state: Some(state) });
            records.push(ConfigRecord::Connector { name, config: Some(config) });
        }
        Change::Put { name, config } => {
            if answer.status == 201 {
                records.push(ConfigRecord::TargetState { name: name.clone(), state: Some(TargetState::Running) });
            }
            records.push(ConfigRecord::Connector { name, config: Some(config) });
        }
        Change::Delete { name } => {
            records.push(ConfigRecord::TargetState { name: name.clone(), state: None });
            records.push(ConfigRecord::Connector { name, config: None });
        }
    }
    // The request is done with: compaction may drop it and its answer.
    records.push(ConfigRecord::Answer { id: id.to_string(), answer: None });
    records
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn create(name: &str) -> Change {
        Change::Create { name: name.into(), config: BTreeMap::from([("name".into(), name.into())]), state: TargetState::Running }
    }

    fn ids(leadership: &Leadership, applied: i64) -> Option<String> {
        leadership.next(applied).map(|p| p.id)
    }

    #[test]
    fn a_name_taken_refuses_a_create_and_nothing_but_the_tombstone_follows() {
        let answer = decide(&create("a"), true);
        assert_eq!(answer.status, 409);
        assert_eq!(carry_out("r1", create("a"), &answer), vec![ConfigRecord::Answer { id: "r1".into(), answer: None }]);
    }

    #[test]
    fn a_create_writes_its_state_before_its_config_and_ends_with_the_tombstone() {
        let answer = decide(&create("a"), false);
        assert_eq!(answer.status, 201);
        let records = carry_out("r1", create("a"), &answer);
        assert!(matches!(records[0], ConfigRecord::TargetState { state: Some(TargetState::Running), .. }));
        assert!(matches!(records[1], ConfigRecord::Connector { config: Some(_), .. }));
        assert_eq!(records.last(), Some(&ConfigRecord::Answer { id: "r1".into(), answer: None }));
        let put = |exists| decide(&Change::Put { name: "a".into(), config: BTreeMap::new() }, exists).status;
        assert_eq!((put(true), put(false)), (200, 201));
        assert_eq!(decide(&Change::Delete { name: "a".into() }, false).status, 404);
        let deleting = Change::Delete { name: "a".into() };
        let answer = decide(&deleting, true);
        assert_eq!(answer.status, 204);
        assert!(carry_out("r5", deleting, &answer).contains(&ConfigRecord::Connector { name: "a".into(), config: None }));
    }

    #[test]
    fn a_leader_decides_only_after_reading_back_its_last_write() {
        let mut leadership = Leadership::default();
        leadership.requested("r1".into(), create("a"));
        leadership.requested("r2".into(), create("a"));
        // Not leading: nothing to decide.
        assert_eq!(ids(&leadership, 100), None);
        leadership.set_leading(true);
        // Leading, but the marker is not written yet.
        assert_eq!(ids(&leadership, 100), None);
        leadership.wrote(105);
        assert_eq!(ids(&leadership, 105), None, "the marker at 105 is not read back yet");
        assert_eq!(ids(&leadership, 106), Some("r1".into()));
        leadership.wrote(110);
        assert_eq!(ids(&leadership, 108), None, "r1's records are not read back yet");
        leadership.decided("r1", Answer { status: 201, message: String::new() });
        assert_eq!(leadership.ended("r1").map(|a| a.status), Some(201));
        assert_eq!(ids(&leadership, 111), Some("r2".into()));
    }

    #[test]
    fn a_decision_a_dead_leader_left_unfinished_is_carried_out_not_taken_again() {
        let mut leadership = Leadership::default();
        leadership.requested("r1".into(), create("a"));
        leadership.requested("r2".into(), create("b"));
        // The old leader answered r1 and ended it; it answered r2 and died.
        leadership.decided("r1", Answer { status: 201, message: String::new() });
        assert!(leadership.ended("r1").is_some());
        leadership.decided("r2", Answer { status: 201, message: String::new() });
        leadership.set_leading(true);
        leadership.wrote(9);
        let next = leadership.next(10).expect("r2 waits for the new leader");
        assert_eq!((next.id.as_str(), next.answer.map(|a| a.status)), ("r2", Some(201)));
        // Losing leadership stops decisions; an unknown request ends with no answer.
        leadership.set_leading(false);
        assert_eq!(ids(&leadership, 100), None);
        assert_eq!(leadership.ended("nobody"), None);
    }
}
