//! The broker's background work: retention and compaction every
//! `log.retention.check.interval.ms`; every second, the fsync of segments rolled since the
//! last pass and `flush.ms` for partitions nobody appends to; every 5 seconds (Kafka's
//! `replica.high.watermark.checkpoint.interval.ms`), the high watermark checkpoints.
//! Each pass runs on the blocking pool (it does file I/O) and stops on shutdown.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Broker;

/// Handles of the running tasks and their stop signal.
#[derive(Debug)]
pub struct BackgroundTasks {
    stop: watch::Sender<bool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        Self { stop: watch::channel(false).0, handles: Mutex::new(Vec::new()) }
    }
}

impl BackgroundTasks {
    /// A receiver that changes when the tasks must stop.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Adds tasks stopped (and awaited) by [`BackgroundTasks::stop`].
    pub fn add(&self, handles: Vec<JoinHandle<()>>) {
        if let Ok(mut h) = self.handles.lock() {
            h.extend(handles);
        }
    }

    /// Signals every task to stop and waits for them.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let handles: Vec<_> = self.handles.lock().map(|mut h| h.drain(..).collect()).unwrap_or_default();
        for handle in handles {
            let _ = handle.await;
        }
    }
}

/// Starts the periodic tasks of `broker`.
pub fn start(broker: &Arc<Broker>) {
    let clean_every = Duration::from_millis(broker.config.retention_check_interval_ms.max(100));
    let handles = vec![
        spawn_periodic(broker, clean_every, "retention and compaction", |b| {
            for partition in b.all_partitions() {
                if let Err(e) = partition.clean() {
                    tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "cleaning failed; will retry next pass");
                }
            }
        }),
        spawn_periodic(broker, Duration::from_secs(1), "flush", |b| {
            for partition in b.all_partitions().into_iter().filter(|p| !p.is_offline()) {
                if let Err(e) = partition.sync_sealed() {
                    tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "fsync of rolled segments failed");
                }
                if let Err(e) = partition.maybe_flush() {
                    tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "flush failed");
                }
            }
        }),
        spawn_periodic(broker, Duration::from_secs(5), "high watermark checkpoint", |b| {
            // A partition alone on this broker restarts at its log end; only replicated ones need it.
            for partition in b.all_partitions().into_iter().filter(|p| !p.is_offline() && p.is_replicated()) {
                if let Err(e) = partition.checkpoint_high_watermark() {
                    tracing::warn!(topic = partition.topic(), partition = partition.index(), error = %e, "high watermark checkpoint failed");
                }
            }
        }),
    ];
    if let Ok(mut h) = broker.tasks.handles.lock() {
        h.extend(handles);
    }
}

fn spawn_periodic(broker: &Arc<Broker>, every: Duration, name: &'static str, pass: fn(&Broker)) -> JoinHandle<()> {
    // A blocking pass runs to its end: shutdown waits for it rather than closing partitions
    // under it.
    spawn_loop(broker, every, Start::AfterOnePeriod, move |broker| async move {
        if let Err(e) = tokio::task::spawn_blocking(move || pass(&broker)).await {
            tracing::error!(task = name, error = %e, "background pass panicked");
        }
    })
}

/// When a loop's first pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// At once.
    Now,
    /// One period after the loop starts.
    AfterOnePeriod,
}

/// Runs `pass` every `every` (a pass that overruns delays the next) until the broker's tasks
/// stop or the broker is gone. The loop holds the broker weakly; each pass gets it strongly.
pub(super) fn spawn_loop<F, Fut>(broker: &Arc<Broker>, every: Duration, start: Start, pass: F) -> JoinHandle<()>
where
    F: Fn(Arc<Broker>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let weak: Weak<Broker> = Arc::downgrade(broker);
    let mut stop = broker.tasks.stop.subscribe();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if start == Start::AfterOnePeriod {
            ticker.tick().await;
        }
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            let Some(broker) = weak.upgrade() else { break };
            pass(broker).await;
        }
    })
}
