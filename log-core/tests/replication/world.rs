//! A simulated cluster: three replica nodes, a controller and a client, exchanging messages
//! that a seeded network delays, drops and cuts, with nodes crashing and restarting. Time is
//! a number; events run in order from one queue, so a seed replays exactly.
//!
//! The nodes run the real state machines ([`LeaderReplica`], [`FollowerReplica`]); the
//! controller runs the real decisions ([`PartitionChange`], [`validate_alter_isr`],
//! [`BrokerSessions`]). The controller stands for a Raft quorum, so it never fails here; its
//! links to nodes do. A crash loses a node's memory and keeps its log (a process kill: the
//! page cache survives), with the high watermark from its last checkpoint.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use fjord_log_core::controller::{validate_alter_isr, BrokerSessions, PartitionChange};
use fjord_log_core::replication::{
    AckState, AlterIsr, FetchAnswer, FollowerAction, FollowerFetch, FollowerFetchOutcome, FollowerReplica, LeaderAndIsr, LeaderEffect, LeaderReplica,
    LocalLog, ReplicationConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checker::{Checker, Violation};
use crate::model_log::{ModelLog, Record};

const CONTROLLER: i32 = 0;
const NODE_TICK_MS: u64 = 50;
const HEARTBEAT_MS: u64 = 250;
const SESSION_TIMEOUT_MS: u64 = 1_500;
const FETCH_RETRY_MS: u64 = 500;
const CHECKPOINT_MS: u64 = 1_000;
const MAX_FETCH_RECORDS: usize = 20;

/// What can go wrong, and how often.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Chance a message is lost.
    pub drop: f64,
    /// Largest delivery delay.
    pub max_delay_ms: u64,
    /// Chance per second that a running node is killed.
    pub crash_per_sec: f64,
    /// Chance per second that a node is cut off from every other node and the controller.
    pub isolate_per_sec: f64,
}

#[derive(Debug, Clone)]
enum Msg {
    Heartbeat { from: i32, incarnation: u32 },
    State { to: i32, state: LeaderAndIsr },
    AlterIsr { from: i32, request: AlterIsr },
    AlterIsrRefused { to: i32, request: AlterIsr },
    Fetch { from: i32, to: i32, incarnation: u32, fetch: FollowerFetch },
    FetchReply { to: i32, from: i32, incarnation: u32, fetch: FollowerFetch, answer: FetchAnswer, records: Vec<Record> },
}

#[derive(Debug, Clone)]
enum Event {
    Deliver(Msg),
    NodeTick(i32),
    ControllerTick,
    Produce,
    Faults,
    Restart(i32),
    Heal(i32),
}

enum Role {
    None,
    Leader(LeaderReplica),
    Follower { replica: FollowerReplica, in_flight: Option<u64> },
}

struct Pending {
    end: u64,
    offset: u64,
    record: Record,
}

struct Node {
    id: i32,
    alive: bool,
    incarnation: u32,
    log: ModelLog,
    role: Role,
    known_partition_epoch: i32,
    hw_checkpoint: u64,
    last_heartbeat: u64,
    last_checkpoint: u64,
    pending: Vec<Pending>,
}

impl Node {
    fn high_watermark(&self) -> u64 {
        match &self.role {
            Role::Leader(l) => l.high_watermark(),
            Role::Follower { replica, .. } => replica.high_watermark(),
            Role::None => self.hw_checkpoint,
        }
    }
}

struct Controller {
    state: LeaderAndIsr,
    fenced: BTreeSet<i32>,
    incarnations: BTreeMap<i32, u32>,
    sessions: BrokerSessions,
}

/// The running simulation.
pub struct World {
    pub seed: u64,
    now: u64,
    rng: StdRng,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    seq: u64,
    nodes: Vec<Node>,
    controller: Controller,
    isolated: BTreeSet<i32>,
    faults: Faults,
    faults_on: bool,
    producing: bool,
    next_value: u64,
    config: ReplicationConfig,
    pub checker: Checker,
    trace: Vec<String>,
}

impl World {
    pub fn new(seed: u64, faults: Faults) -> Self {
        let replicas = vec![1, 2, 3];
        let state = LeaderAndIsr { leader: 1, leader_epoch: 0, partition_epoch: 0, replicas: replicas.clone(), isr: replicas.clone() };
        let nodes = replicas
            .iter()
            .map(|&id| Node {
                id,
                alive: true,
                incarnation: 0,
                log: ModelLog::default(),
                role: Role::None,
                known_partition_epoch: -1,
                hw_checkpoint: 0,
                last_heartbeat: 0,
                last_checkpoint: 0,
                pending: Vec::new(),
            })
            .collect();
        let mut sessions = BrokerSessions::new(SESSION_TIMEOUT_MS, SESSION_TIMEOUT_MS);
        let mut incarnations = BTreeMap::new();
        for &id in &replicas {
            sessions.touch(id, 0);
            incarnations.insert(id, 0);
        }
        let mut world = Self {
            seed,
            now: 0,
            rng: StdRng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            nodes,
            controller: Controller { state: state.clone(), fenced: BTreeSet::new(), incarnations, sessions },
            isolated: BTreeSet::new(),
            faults,
            faults_on: true,
            producing: true,
            next_value: 1,
            config: ReplicationConfig { replica_lag_time_max_ms: 3_000, min_insync_replicas: 2, alter_isr_retry_ms: 1_000 },
            checker: Checker::default(),
            trace: Vec::new(),
        };
        for id in replicas {
            world.schedule(id as u64 * 7, Event::NodeTick(id));
            world.schedule(1, Event::Deliver(Msg::State { to: id, state: state.clone() }));
        }
        world.schedule(100, Event::ControllerTick);
        world.schedule(200, Event::Produce);
        world.schedule(1_000, Event::Faults);
        world
    }

    /// Runs until `until_ms` of simulated time.
    pub fn run_until(&mut self, until_ms: u64) -> Result<(), Violation> {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until_ms {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(event) = self.events.remove(&seq) else { continue };
            self.handle(event).map_err(|v| self.explain(v))?;
        }
        self.now = until_ms;
        Ok(())
    }

    /// Stops faults: heals the network, restarts dead nodes, stops message loss.
    pub fn calm(&mut self) {
        self.faults_on = false;
        self.faults.drop = 0.0;
        self.isolated.clear();
        for id in 1..=3 {
            if !self.node(id).alive {
                self.schedule(self.now + 1, Event::Restart(id));
            }
        }
    }

    /// Stops the client.
    pub fn stop_producing(&mut self) {
        self.producing = false;
    }

    /// The end state: every node up, one leader, every log the same with every acked record,
    /// the full ISR, and the high watermark at the log end.
    pub fn check_converged(&self) -> Result<(), Violation> {
        let state = &self.controller.state;
        let logs: Vec<(i32, &ModelLog)> = self.nodes.iter().map(|n| (n.id, &n.log)).collect();
        self.checker.converged(&logs, state.leader).map_err(|v| self.explain(v))?;
        if state.isr.len() != 3 {
            return Err(self.explain(format!("the ISR did not recover: {state:?}")));
        }
        let leader = self.node(state.leader);
        if leader.high_watermark() != leader.log.len() {
            return Err(self.explain(format!("the high watermark {} did not reach the log end {}", leader.high_watermark(), leader.log.len())));
        }
        Ok(())
    }

    fn explain(&self, violation: Violation) -> Violation {
        let recent = self.trace.iter().rev().take(40).rev().cloned().collect::<Vec<_>>().join("\n  ");
        format!("seed {} at {} ms: {violation}\nlast events:\n  {recent}", self.seed, self.now)
    }

    fn note(&mut self, what: String) {
        if self.trace.len() > 4_000 {
            self.trace.drain(..2_000);
        }
        self.trace.push(format!("{:>6} {what}", self.now));
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.insert(self.seq, event);
        self.queue.push(Reverse((at, self.seq)));
    }

    fn send(&mut self, from: i32, to: i32, msg: Msg) {
        let cut = from != to && (self.isolated.contains(&from) || self.isolated.contains(&to));
        if cut || self.rng.random_bool(self.faults.drop) {
            return;
        }
        let delay = self.rng.random_range(1..=self.faults.max_delay_ms);
        self.schedule(self.now + delay, Event::Deliver(msg));
    }

    fn node(&self, id: i32) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    fn handle(&mut self, event: Event) -> Result<(), Violation> {
        match event {
            Event::Deliver(msg) => self.deliver(msg),
            Event::NodeTick(id) => {
                self.schedule(self.now + NODE_TICK_MS, Event::NodeTick(id));
                self.node_tick(id)
            }
            Event::ControllerTick => {
                self.schedule(self.now + 100, Event::ControllerTick);
                self.controller_tick()
            }
            Event::Produce => {
                let gap = self.rng.random_range(5..=15);
                self.schedule(self.now + gap, Event::Produce);
                if self.producing { self.produce() } else { Ok(()) }
            }
            Event::Faults => {
                self.schedule(self.now + 1_000, Event::Faults);
                self.inject_faults();
                Ok(())
            }
            Event::Restart(id) => self.restart(id),
            Event::Heal(id) => {
                self.isolated.remove(&id);
                self.note(format!("node {id} reconnected"));
                Ok(())
            }
        }
    }

    fn inject_faults(&mut self) {
        if !self.faults_on {
            return;
        }
        for id in 1..=3 {
            if self.node(id).alive && self.rng.random_bool(self.faults.crash_per_sec) {
                let down_for = self.rng.random_range(200..=5_000);
                let node = self.node_mut(id);
                node.alive = false;
                node.role = Role::None;
                node.pending.clear();
                self.note(format!("node {id} killed for {down_for} ms"));
                self.schedule(self.now + down_for, Event::Restart(id));
            }
            if !self.isolated.contains(&id) && self.rng.random_bool(self.faults.isolate_per_sec) {
                let cut_for = self.rng.random_range(500..=6_000);
                self.isolated.insert(id);
                self.note(format!("node {id} cut off for {cut_for} ms"));
                self.schedule(self.now + cut_for, Event::Heal(id));
            }
        }
    }

    fn restart(&mut self, id: i32) -> Result<(), Violation> {
        if self.node(id).alive {
            return Ok(());
        }
        let node = self.node_mut(id);
        node.alive = true;
        node.incarnation += 1;
        node.known_partition_epoch = -1;
        node.role = Role::None;
        node.last_heartbeat = 0;
        let hw = node.hw_checkpoint;
        self.note(format!("node {id} restarted (high watermark {hw} from its checkpoint)"));
        self.checker.on_restart(id, hw)
    }

    // --- the controller ---------------------------------------------------------------

    fn controller_tick(&mut self) -> Result<(), Violation> {
        for broker in self.controller.sessions.expired(self.now) {
            if self.controller.fenced.insert(broker) {
                self.note(format!("controller fences node {broker}"));
                self.fence_change(broker)?;
            }
        }
        Ok(())
    }

    fn fence_change(&mut self, broker: i32) -> Result<(), Violation> {
        let fenced = self.controller.fenced.clone();
        let next = PartitionChange::new(&self.controller.state).without(broker).build(|b| !fenced.contains(&b));
        self.commit(next)
    }

    fn commit(&mut self, next: Option<LeaderAndIsr>) -> Result<(), Violation> {
        let Some(next) = next else { return Ok(()) };
        self.checker.on_controller_state(&next)?;
        self.note(format!("controller commits {next:?}"));
        self.controller.state = next.clone();
        for id in 1..=3 {
            self.send(CONTROLLER, id, Msg::State { to: id, state: next.clone() });
        }
        Ok(())
    }

    fn controller_heartbeat(&mut self, from: i32, incarnation: u32) -> Result<(), Violation> {
        self.controller.sessions.touch(from, self.now);
        let known = self.controller.incarnations.insert(from, incarnation);
        if known.is_some_and(|k| k < incarnation) && !self.controller.fenced.contains(&from) {
            // A new incarnation registers fenced: the old one's leadership and ISR place go.
            self.controller.fenced.insert(from);
            self.note(format!("controller sees node {from} restarted; fences it"));
            self.fence_change(from)?;
        }
        if self.controller.fenced.remove(&from) {
            self.note(format!("controller unfences node {from}"));
            let fenced = self.controller.fenced.clone();
            let next = PartitionChange::new(&self.controller.state).build(|b| !fenced.contains(&b));
            self.commit(next)?;
        }
        let state = self.controller.state.clone();
        self.send(CONTROLLER, from, Msg::State { to: from, state });
        Ok(())
    }

    fn controller_alter_isr(&mut self, from: i32, request: AlterIsr) -> Result<(), Violation> {
        let fenced = self.controller.fenced.clone();
        match validate_alter_isr(&self.controller.state, &request, |b| !fenced.contains(&b)) {
            Ok(next) => {
                if next != self.controller.state {
                    self.commit(Some(next))?;
                } else {
                    let state = next;
                    self.send(CONTROLLER, from, Msg::State { to: from, state });
                }
            }
            Err(e) => {
                self.note(format!("controller refuses {request:?} from {from}: {e}"));
                self.send(CONTROLLER, from, Msg::AlterIsrRefused { to: from, request });
                let state = self.controller.state.clone();
                self.send(CONTROLLER, from, Msg::State { to: from, state });
            }
        }
        Ok(())
    }

    // --- the nodes --------------------------------------------------------------------

    fn deliver(&mut self, msg: Msg) -> Result<(), Violation> {
        match msg {
            Msg::Heartbeat { from, incarnation } => self.controller_heartbeat(from, incarnation),
            Msg::AlterIsr { from, request } => self.controller_alter_isr(from, request),
            Msg::State { to, state } => {
                if self.node(to).alive {
                    self.apply_state(to, state)
                } else {
                    Ok(())
                }
            }
            Msg::AlterIsrRefused { to, request } => {
                let now = self.now;
                let node = self.node_mut(to);
                if let Role::Leader(l) = &mut node.role
                    && l.pending_alter_isr() == Some(&request)
                {
                    let effects = l.on_alter_isr_refused(now);
                    return self.leader_effects(to, effects);
                }
                Ok(())
            }
            Msg::Fetch { from, to, incarnation, fetch } => self.serve_fetch(from, to, incarnation, fetch),
            Msg::FetchReply { to, from, incarnation, fetch, answer, records } => self.fetch_reply(to, from, incarnation, fetch, answer, records),
        }
    }

    fn node_tick(&mut self, id: i32) -> Result<(), Violation> {
        let now = self.now;
        if !self.node(id).alive {
            return Ok(());
        }
        if now.saturating_sub(self.node(id).last_heartbeat) >= HEARTBEAT_MS {
            let node = self.node_mut(id);
            node.last_heartbeat = now;
            let incarnation = node.incarnation;
            self.send(id, CONTROLLER, Msg::Heartbeat { from: id, incarnation });
        }
        if now.saturating_sub(self.node(id).last_checkpoint) >= CHECKPOINT_MS {
            let node = self.node_mut(id);
            node.last_checkpoint = now;
            node.hw_checkpoint = node.high_watermark();
        }
        let node = self.node_mut(id);
        match &mut node.role {
            Role::Leader(l) => {
                let effects = l.on_tick(now);
                self.leader_effects(id, effects)
            }
            Role::Follower { replica, in_flight } => {
                let due = in_flight.is_none_or(|sent| now.saturating_sub(sent) >= FETCH_RETRY_MS);
                if due && replica.leader() >= 0 {
                    self.send_fetch(id);
                }
                Ok(())
            }
            Role::None => Ok(()),
        }
    }

    fn apply_state(&mut self, id: i32, state: LeaderAndIsr) -> Result<(), Violation> {
        let now = self.now;
        let config = self.config;
        let node = self.node_mut(id);
        if state.partition_epoch <= node.known_partition_epoch {
            return Ok(());
        }
        node.known_partition_epoch = state.partition_epoch;
        if state.leader == id {
            if let Role::Leader(l) = &mut node.role
                && l.state().leader_epoch == state.leader_epoch
            {
                let (_, effects) = l.on_partition_state(&state, now);
                return self.leader_effects(id, effects);
            }
            let hw = node.high_watermark().min(node.log.len());
            node.pending.clear();
            node.log.assign_epoch(state.leader_epoch, node.log.len());
            let leader = LeaderReplica::new(id, config, state.clone(), node.log.len(), hw, now);
            let new_hw = leader.high_watermark();
            node.role = Role::Leader(leader);
            self.note(format!("node {id} becomes leader in epoch {} (log end {}, high watermark {new_hw})", state.leader_epoch, self.node(id).log.len()));
            let log = self.node(id).log.clone();
            self.checker.on_become_leader(id, state.leader_epoch, &log)?;
            self.checker.on_high_watermark(id, new_hw, &log)?;
        } else if state.replicas.contains(&id) {
            if let Role::Follower { replica, .. } = &node.role
                && replica.leader() == state.leader
                && replica.leader_epoch() == state.leader_epoch
            {
                return Ok(());
            }
            let hw = node.high_watermark().min(node.log.len());
            node.pending.clear();
            node.role = Role::Follower { replica: FollowerReplica::new(id, &state, hw), in_flight: None };
            self.note(format!("node {id} follows {} in epoch {}", state.leader, state.leader_epoch));
            if state.leader >= 0 {
                self.send_fetch(id);
            }
        } else {
            node.role = Role::None;
        }
        Ok(())
    }

    fn send_fetch(&mut self, id: i32) {
        let now = self.now;
        let node = self.node_mut(id);
        let incarnation = node.incarnation;
        let local = LocalLog::of(&node.log);
        let Role::Follower { replica, in_flight } = &mut node.role else { return };
        *in_flight = Some(now);
        let fetch = replica.next_fetch(local);
        let leader = replica.leader();
        self.send(id, leader, Msg::Fetch { from: id, to: leader, incarnation, fetch });
    }

    fn serve_fetch(&mut self, from: i32, to: i32, incarnation: u32, fetch: FollowerFetch) -> Result<(), Violation> {
        let now = self.now;
        if !self.node(to).alive {
            return Ok(());
        }
        let node = self.node_mut(to);
        let Role::Leader(leader) = &mut node.role else {
            self.send(to, from, Msg::FetchReply { to: from, from: to, incarnation, fetch, answer: FetchAnswer::NotLeader, records: Vec::new() });
            return Ok(());
        };
        let (outcome, effects) = leader.on_follower_fetch(fetch, &node.log, now);
        let (answer, records) = match outcome {
            FollowerFetchOutcome::Read { high_watermark } => {
                let start = fetch.position.fetch_offset as usize;
                let end = (start + MAX_FETCH_RECORDS).min(node.log.records.len());
                (FetchAnswer::Records { high_watermark }, node.log.records[start..end].to_vec())
            }
            FollowerFetchOutcome::Diverging(end) => (FetchAnswer::Diverging(end), Vec::new()),
            FollowerFetchOutcome::OutOfRange { log_start, log_end } => (FetchAnswer::OutOfRange { log_start, log_end }, Vec::new()),
            FollowerFetchOutcome::FencedLeaderEpoch | FollowerFetchOutcome::UnknownLeaderEpoch | FollowerFetchOutcome::NotAReplica => (FetchAnswer::NotLeader, Vec::new()),
        };
        self.leader_effects(to, effects)?;
        self.send(to, from, Msg::FetchReply { to: from, from: to, incarnation, fetch, answer, records });
        Ok(())
    }

    fn fetch_reply(&mut self, to: i32, from: i32, incarnation: u32, fetch: FollowerFetch, answer: FetchAnswer, records: Vec<Record>) -> Result<(), Violation> {
        let node = self.node_mut(to);
        if !node.alive || node.incarnation != incarnation {
            return Ok(());
        }
        let log_end = node.log.len();
        let Role::Follower { replica, in_flight } = &mut node.role else { return Ok(()) };
        // Only the answer to the fetch this follower has in flight, from its leader, counts.
        if replica.leader() != from || replica.leader_epoch() != fetch.current_leader_epoch || fetch.position.fetch_offset != log_end || in_flight.is_none() {
            return Ok(());
        }
        *in_flight = None;
        let action = replica.on_answer(answer, &node.log);
        match action {
            FollowerAction::Append { leader_high_watermark } => {
                let got = !records.is_empty();
                node.log.append_replicated(&records);
                let Role::Follower { replica, .. } = &mut node.role else { return Ok(()) };
                if let Some(hw) = replica.on_appended(node.log.len(), leader_high_watermark) {
                    let log = node.log.clone();
                    self.checker.on_high_watermark(to, hw, &log)?;
                }
                if got {
                    self.send_fetch(to);
                }
            }
            FollowerAction::TruncateTo(offset) => {
                let log = node.log.clone();
                node.log.truncate_to(offset);
                replica.on_truncated(offset);
                self.note(format!("node {to} truncates from {log_end} to {offset}"));
                self.checker.on_truncate(to, offset, &log)?;
                self.send_fetch(to);
            }
            FollowerAction::StartAt(offset) => {
                return Err(format!("node {to} asked to restart its log at {offset}, but logs here start at 0"));
            }
            FollowerAction::WaitForMetadata => {}
        }
        Ok(())
    }

    fn leader_effects(&mut self, id: i32, effects: Vec<LeaderEffect>) -> Result<(), Violation> {
        for effect in effects {
            match effect {
                LeaderEffect::HighWatermark(hw) => {
                    let log = self.node(id).log.clone();
                    self.checker.on_high_watermark(id, hw, &log)?;
                }
                LeaderEffect::AlterIsr(request) => {
                    self.note(format!("node {id} asks for ISR {:?}", request.isr));
                    self.send(id, CONTROLLER, Msg::AlterIsr { from: id, request });
                }
            }
        }
        self.settle_acks(id)
    }

    fn settle_acks(&mut self, id: i32) -> Result<(), Violation> {
        let node = self.node_mut(id);
        let Role::Leader(leader) = &node.role else { return Ok(()) };
        let mut acked = Vec::new();
        node.pending.retain(|p| match leader.ack_state(p.end) {
            AckState::Pending => true,
            AckState::Acknowledged => {
                acked.push((p.offset, p.record));
                false
            }
            AckState::NotEnoughReplicasAfterAppend => false,
        });
        for (offset, record) in acked {
            self.checker.on_ack(offset, record)?;
        }
        Ok(())
    }

    fn produce(&mut self) -> Result<(), Violation> {
        // Mostly the controller's leader; sometimes a stale view picks any node.
        let target = if self.rng.random_bool(0.85) { self.controller.state.leader } else { self.rng.random_range(1..=3) };
        if target < 0 || !self.node(target).alive {
            return Ok(());
        }
        let now = self.now;
        let value = self.next_value;
        let node = &mut self.nodes[(target - 1) as usize];
        let Role::Leader(leader) = &mut node.role else { return Ok(()) };
        if leader.check_acks_all().is_err() {
            return Ok(());
        }
        self.next_value += 1;
        let epoch = leader.state().leader_epoch;
        node.log.append_as_leader(epoch, value);
        let offset = node.log.len() - 1;
        let Role::Leader(leader) = &mut node.role else { return Ok(()) };
        let effects = leader.on_local_append(offset + 1, now);
        node.pending.push(Pending { end: offset + 1, offset, record: Record { epoch, value } });
        self.leader_effects(target, effects)
    }
}
