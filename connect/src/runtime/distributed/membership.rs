//! A worker's membership of its group: a consumer in the group (the group id the workers
//! share) subscribed to the assignment topic, whose partitions the group's round-robin
//! assignor divides among the live workers. It never reads a record; what matters is the
//! rebalance. Before giving partitions up the worker stops their tasks (each flushes and
//! stores its offsets), so a task never runs on two workers of a healthy group; after an
//! assignment the worker starts the tasks of its new partitions. A worker that dies stops
//! heartbeating, and after the session timeout (10 s) the group hands its partitions to the
//! others.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};

use crate::error::Result;
use crate::runtime::Cluster;

/// What a worker is told when the group changes its partitions: the set it now has.
pub(crate) type OnAssignment = Box<dyn Fn(BTreeSet<i32>) + Send + Sync>;

struct Context {
    on_assignment: OnAssignment,
    stopping: Arc<AtomicBool>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            tracing::info!(partitions = partitions.count(), "the group is rebalancing; stopping this worker's tasks before giving them up");
            (self.on_assignment)(BTreeSet::new());
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) if !self.stopping.load(Ordering::Relaxed) => {
                let assigned: BTreeSet<i32> = partitions.elements().iter().map(|e| e.partition()).collect();
                tracing::info!(partitions = assigned.len(), "the group assigned this worker its share of the tasks");
                (self.on_assignment)(assigned);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "the group's rebalance failed; the worker rejoins"),
            _ => {}
        }
    }
}

/// Joins group `group_id` and keeps the membership alive on a thread until `stop` is set;
/// then leaves the group, giving its tasks up first.
pub(crate) fn spawn(cluster: &Cluster, group_id: &str, assignment_topic: &str, worker_id: &str, stop: Arc<AtomicBool>, on_assignment: OnAssignment) -> Result<std::thread::JoinHandle<()>> {
    let mut config = cluster.client();
    config.set("group.id", group_id);
    config.set("client.id", format!("connect-worker-{worker_id}"));
    config.set("partition.assignment.strategy", "roundrobin");
    config.set("enable.auto.commit", "false");
    config.set("session.timeout.ms", "10000");
    config.set("heartbeat.interval.ms", "1000");
    let consumer: BaseConsumer<Context> = config.create_with_context(Context { on_assignment, stopping: stop.clone() })?;
    consumer.subscribe(&[assignment_topic])?;
    let thread = std::thread::Builder::new()
        .name("connect-group".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(Err(e)) = consumer.poll(Duration::from_millis(200)) {
                    tracing::warn!(error = %e, "the connect group's membership reported an error");
                }
            }
            // Dropping the consumer leaves the group (its revocation stops the tasks first).
            drop(consumer);
        })
        .map_err(|e| crate::error::ConnectError::Task(format!("could not start the group thread: {e}")))?;
    Ok(thread)
}
