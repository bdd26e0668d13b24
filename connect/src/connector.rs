//! What a connector implements: a source task polls records with their source positions; a
//! sink task receives records and makes them durable when asked to flush, before the runtime
//! commits their offsets. The runtime ([`crate::runtime`]) drives both; tasks know nothing of
//! converters, transforms, Kafka clients or offset storage.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::config::ConnectorConfig;
use crate::error::Result;
use crate::record::{SinkRecord, SourceMap, SourceRecord, TopicPartition};

/// A boxed future, so tasks of different connectors can sit behind one trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a connector reads into the cluster or writes out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Source,
    Sink,
}

impl ConnectorKind {
    /// `source` or `sink`, as the REST API writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Sink => "sink",
        }
    }
}

/// What a task starts with.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub connector: String,
    pub task: usize,
    /// The task's config, secrets resolved.
    pub config: ConnectorConfig,
    /// For source tasks: the source offsets stored for this connector, newest per partition.
    pub offsets: Vec<(SourceMap, SourceMap)>,
    /// Where the task reports what only it knows (change data capture's lag).
    pub metrics: crate::runtime::TaskMetrics,
}

/// The running part of a source connector.
pub trait SourceTask: Send {
    /// The next records, in the order they must be written; an empty list after waiting a
    /// short while (under a second) when there is nothing new.
    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<SourceRecord>>>;

    /// The cluster has acknowledged every record up to these offsets (newest per source
    /// partition) and they are stored; sources that confirm to their origin (a replication
    /// slot's LSN) do it here.
    fn commit<'a>(&'a mut self, _acknowledged: &'a [(SourceMap, SourceMap)]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The running part of a sink connector.
pub trait SinkTask: Send {
    /// Offsets the task keeps itself (in the target, with the data), to resume from instead
    /// of the consumer group's committed offsets. Default: none.
    fn stored_offsets(&mut self) -> BoxFuture<'_, Result<HashMap<TopicPartition, i64>>> {
        Box::pin(async { Ok(HashMap::new()) })
    }

    /// Takes records in topic-partition order; may write them now or buffer them.
    fn put(&mut self, records: Vec<SinkRecord>) -> BoxFuture<'_, Result<()>>;

    /// Whether the task holds enough records that it should be flushed now, before the flush
    /// interval (a sink that buffers until flush bounds its memory this way).
    fn wants_flush(&self) -> bool {
        false
    }

    /// Makes every record put so far durable. `offsets` are the next offsets to read per
    /// partition (what the runtime commits after this returns).
    fn flush<'a>(&'a mut self, offsets: &'a HashMap<TopicPartition, i64>) -> BoxFuture<'a, Result<()>>;

    /// What the task is done with (say, the rows a flush wrote), handed back for the runtime
    /// to drop on the thread that decoded the records: freeing memory on another thread than
    /// the one that allocated it costs the allocator several times more. Default: nothing.
    fn spent(&mut self) -> Option<Spent> {
        None
    }
}

/// Memory a sink task hands back to be freed where it was allocated (`SinkTask::spent`).
pub type Spent = Box<dyn Send>;
