//! Changes decided in one place. Creating a connector must fail when the name is taken, and
//! deleting one when it is gone, so two workers answering such calls at once cannot each
//! decide from their own view: both would succeed. As in Kafka Connect, where followers
//! forward these calls to the leader, one worker decides them — here the worker the group gave
//! the assignment topic's partition 0. Any worker writes a request to the config topic; the
//! leader, reading requests in log order, writes the resulting connector records and an
//! answer, then a tombstone, and the asking worker returns the answer to its caller.
//!
//! Only the leader writes `connector-…` records for these changes, so the topic's last record
//! under each key is always the outcome (what compaction keeps), never a refused attempt.
//!
//! The leader decides a request only once it has read back its own previous write (its
//! leadership marker, or the last decision's answer): a decision then sees every earlier one,
//! including those of a leader before it.

use std::collections::VecDeque;

use crate::runtime::TargetState;
use crate::runtime::distributed::records::{Answer, Change, ConfigRecord};

/// A worker's view of the requests waiting for the leader, and whether it leads.
#[derive(Debug, Default)]
pub(crate) struct Leadership {
    leading: bool,
    /// Requests read and not answered yet, in log order.
    pending: VecDeque<(String, Change)>,
    /// The offset of this worker's last write as the leader, until it has been read back.
    awaiting: Option<i64>,
}

impl Leadership {
    /// A request read from the config topic.
    pub fn requested(&mut self, id: String, change: Change) {
        self.pending.push_back((id, change));
    }

    /// A request answered (by whichever leader): it waits no more.
    pub fn answered(&mut self, id: &str) {
        self.pending.retain(|(pending, _)| pending != id);
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

    /// The next request to decide, when this worker leads and has read back its last write
    /// (`applied` is the next offset it will apply).
    pub fn next(&mut self, applied: i64) -> Option<(String, Change)> {
        if !self.leading || self.awaiting.is_none_or(|offset| applied <= offset) {
            return None;
        }
        self.pending.pop_front()
    }
}

/// What the leader writes for `change`, given whether its connector exists now: the records
/// making the change (none when refused), then the answer.
pub(crate) fn decide(id: &str, change: Change, exists: bool) -> Vec<ConfigRecord> {
    let answer = |status: u16, message: String| ConfigRecord::Answer { id: id.to_string(), answer: Some(Answer { status, message }) };
    let mut records = Vec::new();
    match change {
        Change::Create { name, .. } if exists => records.push(answer(409, format!("Connector {name} already exists"))),
        Change::Create { name, config, state } => {
            records.push(ConfigRecord::TargetState { name: name.clone(), state: Some(state) });
            records.push(ConfigRecord::Connector { name: name.clone(), config: Some(config) });
            records.push(answer(201, format!("Connector {name} created")));
        }
        Change::Put { name, config } => {
            if !exists {
                records.push(ConfigRecord::TargetState { name: name.clone(), state: Some(TargetState::Running) });
            }
            records.push(ConfigRecord::Connector { name: name.clone(), config: Some(config) });
            records.push(if exists { answer(200, format!("Connector {name} updated")) } else { answer(201, format!("Connector {name} created")) });
        }
        Change::Delete { name } if !exists => records.push(answer(404, format!("Connector {name} not found"))),
        Change::Delete { name } => {
            records.push(ConfigRecord::TargetState { name: name.clone(), state: None });
            records.push(ConfigRecord::Connector { name: name.clone(), config: None });
            records.push(answer(204, format!("Connector {name} deleted")));
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

    fn status_of(records: &[ConfigRecord]) -> Option<u16> {
        records.iter().find_map(|r| match r {
            ConfigRecord::Answer { answer: Some(a), .. } => Some(a.status),
            _ => None,
        })
    }

    #[test]
    fn a_name_taken_refuses_a_create_and_writes_no_connector_record() {
        let records = decide("r1", create("a"), true);
        assert_eq!(status_of(&records), Some(409));
        assert!(!records.iter().any(|r| matches!(r, ConfigRecord::Connector { .. } | ConfigRecord::TargetState { .. })));
        assert_eq!(records.last(), Some(&ConfigRecord::Answer { id: "r1".into(), answer: None }));
    }

    #[test]
    fn a_create_writes_its_state_before_its_config_and_answers_last() {
        let records = decide("r1", create("a"), false);
        assert!(matches!(records[0], ConfigRecord::TargetState { state: Some(TargetState::Running), .. }));
        assert!(matches!(records[1], ConfigRecord::Connector { config: Some(_), .. }));
        assert_eq!(status_of(&records), Some(201));
        assert_eq!(status_of(&decide("r2", Change::Put { name: "a".into(), config: BTreeMap::new() }, true)), Some(200));
        assert_eq!(status_of(&decide("r3", Change::Put { name: "a".into(), config: BTreeMap::new() }, false)), Some(201));
        assert_eq!(status_of(&decide("r4", Change::Delete { name: "a".into() }, false)), Some(404));
        let deleted = decide("r5", Change::Delete { name: "a".into() }, true);
        assert_eq!(status_of(&deleted), Some(204));
        assert!(deleted.contains(&ConfigRecord::Connector { name: "a".into(), config: None }));
    }

    #[test]
    fn a_leader_decides_only_after_reading_back_its_last_write() {
        let mut leadership = Leadership::default();
        leadership.requested("r1".into(), create("a"));
        leadership.requested("r2".into(), create("a"));
        // Not leading: nothing to decide.
        assert_eq!(leadership.next(100), None);
        leadership.set_leading(true);
        // Leading, but the marker is not written yet.
        assert_eq!(leadership.next(100), None);
        leadership.wrote(105);
        assert_eq!(leadership.next(105), None, "the marker at 105 is not read back yet");
        assert_eq!(leadership.next(106).map(|(id, _)| id), Some("r1".to_string()));
        leadership.wrote(110);
        assert_eq!(leadership.next(108), None, "r1's records are not read back yet");
        assert_eq!(leadership.next(111).map(|(id, _)| id), Some("r2".to_string()));
    }

    #[test]
    fn answers_from_an_earlier_leader_clear_the_queue_and_losing_leadership_stops_decisions() {
        let mut leadership = Leadership::default();
        leadership.requested("r1".into(), create("a"));
        leadership.requested("r2".into(), create("b"));
        leadership.answered("r1");
        leadership.set_leading(true);
        leadership.wrote(7);
        leadership.set_leading(false);
        assert_eq!(leadership.next(8), None);
        leadership.set_leading(true);
        leadership.wrote(9);
        assert_eq!(leadership.next(10).map(|(id, _)| id), Some("r2".to_string()));
        assert_eq!(leadership.next(10), None);
    }
}
