//! The invariants every schedule must keep, checked as events happen.
//!
//! - At most one leader per leader epoch.
//! - The controller's states: ISR ⊆ replicas, never empty, the leader in it; epochs only grow.
//! - A replica's high watermark never goes back while it runs, never passes its log end, and
//!   restarts no higher than it was.
//! - Committed records (below any high watermark any replica published) are the same on every
//!   replica that publishes a high watermark over them, are in every later leader's log, and
//!   are never truncated away.
//! - Every acknowledged acks=all record is committed at its offset.

use std::collections::BTreeMap;

use fjord_log_core::replication::LeaderAndIsr;

use crate::model_log::{ModelLog, Record};

#[derive(Debug, Default)]
pub struct Checker {
    /// The longest committed prefix seen so far.
    pub committed: Vec<Record>,
    leaders: BTreeMap<i32, i32>,
    hw: BTreeMap<i32, u64>,
    pub acked: BTreeMap<u64, Record>,
    last_state: Option<LeaderAndIsr>,
    pub elections: u64,
    pub truncations: u64,
    pub isr_changes: u64,
}

pub type Violation = String;

impl Checker {
    pub fn on_controller_state(&mut self, state: &LeaderAndIsr) -> Result<(), Violation> {
        if state.isr.is_empty() || state.isr.iter().any(|b| !state.replicas.contains(b)) {
            return Err(format!("ISR {:?} is empty or not within replicas {:?}", state.isr, state.replicas));
        }
        if state.leader >= 0 && !state.isr.contains(&state.leader) {
            return Err(format!("leader {} is not in the ISR {:?}", state.leader, state.isr));
        }
        if let Some(prev) = &self.last_state {
            if state.partition_epoch <= prev.partition_epoch || state.leader_epoch < prev.leader_epoch {
                return Err(format!("epochs went back: {prev:?} -> {state:?}"));
            }
            if prev.leader != state.leader {
                self.elections += 1;
            } else if prev.isr != state.isr {
                self.isr_changes += 1;
            }
        }
        self.last_state = Some(state.clone());
        Ok(())
    }

    pub fn on_become_leader(&mut self, node: i32, epoch: i32, log: &ModelLog) -> Result<(), Violation> {
        if let Some(&other) = self.leaders.get(&epoch)
            && other != node
        {
            return Err(format!("two leaders in epoch {epoch}: {other} and {node}"));
        }
        self.leaders.insert(epoch, node);
        let n = self.committed.len();
        if log.records.len() < n || log.records[..n] != self.committed[..] {
            return Err(format!(
                "node {node} became leader of epoch {epoch} without every committed record: its log has {} records, {} are committed, first difference at {:?}",
                log.records.len(),
                n,
                first_difference(&log.records, &self.committed)
            ));
        }
        Ok(())
    }

    pub fn on_high_watermark(&mut self, node: i32, hw: u64, log: &ModelLog) -> Result<(), Violation> {
        if let Some(&previous) = self.hw.get(&node)
            && hw < previous
        {
            return Err(format!("node {node}'s high watermark went back from {previous} to {hw}"));
        }
        if hw > log.len() {
            return Err(format!("node {node}'s high watermark {hw} is past its log end {}", log.len()));
        }
        self.hw.insert(node, hw);
        let hw = hw as usize;
        let shared = hw.min(self.committed.len());
        if log.records[..shared] != self.committed[..shared] {
            return Err(format!(
                "node {node} publishes high watermark {hw} over records that differ from the committed ones at {:?}",
                first_difference(&log.records[..shared], &self.committed[..shared])
            ));
        }
        if hw > self.committed.len() {
            self.committed.extend_from_slice(&log.records[self.committed.len()..hw]);
        }
        Ok(())
    }

    /// The node restarted with `hw` from its checkpoint.
    pub fn on_restart(&mut self, node: i32, hw: u64) -> Result<(), Violation> {
        if let Some(&previous) = self.hw.get(&node)
            && hw > previous
        {
            return Err(format!("node {node} restarted with high watermark {hw} above the {previous} it had"));
        }
        self.hw.insert(node, hw);
        Ok(())
    }

    pub fn on_truncate(&mut self, node: i32, to: u64, log: &ModelLog) -> Result<(), Violation> {
        self.truncations += 1;
        let kept_committed = log.records.iter().zip(&self.committed).take_while(|(a, b)| a == b).count() as u64;
        if to < kept_committed {
            return Err(format!("node {node} truncates to {to}, removing committed records it held up to {kept_committed}"));
        }
        Ok(())
    }

    pub fn on_ack(&mut self, offset: u64, record: Record) -> Result<(), Violation> {
        if self.committed.get(offset as usize) != Some(&record) {
            return Err(format!("acknowledged {record:?} at {offset} is not the committed record there ({:?})", self.committed.get(offset as usize)));
        }
        self.acked.insert(offset, record);
        Ok(())
    }

    /// At the end, with every node up and healed: every log equals the leader's and holds
    /// every acknowledged record.
    pub fn converged(&self, logs: &[(i32, &ModelLog)], leader: i32) -> Result<(), Violation> {
        let Some((_, leader_log)) = logs.iter().find(|(id, _)| *id == leader) else {
            return Err(format!("no leader at the end (leader {leader})"));
        };
        for (id, log) in logs {
            if log.records != leader_log.records {
                return Err(format!(
                    "node {id}'s log ({} records) differs from leader {leader}'s ({}) at {:?}",
                    log.records.len(),
                    leader_log.records.len(),
                    first_difference(&log.records, &leader_log.records)
                ));
            }
        }
        for (&offset, record) in &self.acked {
            if leader_log.records.get(offset as usize) != Some(record) {
                return Err(format!("acknowledged {record:?} at {offset} is lost"));
            }
        }
        Ok(())
    }
}

fn first_difference(a: &[Record], b: &[Record]) -> Option<usize> {
    (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i))
}
