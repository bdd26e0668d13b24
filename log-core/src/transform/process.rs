//! One plugin call's worth of work, as a runner does it: a batch of input records through the
//! plugin, and what to write for it. A batch that fails is run again one record at a time, so
//! only the records the plugin really fails on meet the deployment's error policy
//! (dead-letter, skip or stop) and the rest are written as usual.

use fjord_plugins::{InputBatch, InputRecord, OutputRecord, PluginInstance};

use crate::metadata::{OnError, TransformDeployment};

/// A record to write.
#[derive(Debug)]
pub(crate) enum Write {
    /// A plugin's output, to one of the deployment's output topics.
    Output {
        /// The topic.
        topic: String,
        /// The record.
        record: OutputRecord,
        /// Its timestamp when the plugin gave none: the newest of the call's input records.
        timestamp: i64,
    },
    /// An input record the plugin failed on, to the dead-letter topic (its source is the
    /// runner's partition).
    DeadLetter {
        /// The dead-letter topic.
        topic: String,
        /// The input record, as read.
        record: InputRecord,
        /// Why it failed.
        error: String,
    },
}

impl Write {
    /// Its topic, key, value and timestamp.
    pub(crate) fn parts(&self) -> (&str, Option<&[u8]>, Option<&[u8]>, i64) {
        match self {
            Self::Output { topic, record, timestamp } => (topic, record.key.as_deref(), record.value.as_deref(), record.timestamp.unwrap_or(*timestamp)),
            Self::DeadLetter { topic, record, .. } => (topic, record.key.as_deref(), record.value.as_deref(), record.timestamp),
        }
    }
}

/// What a batch came to.
#[derive(Debug, Default)]
pub(crate) struct Processed {
    /// What to write, in order.
    pub(crate) writes: Vec<Write>,
    /// Input records the plugin failed on.
    pub(crate) failed: u64,
    /// Input records dropped by `on-error skip`, with why (for the transform's log).
    pub(crate) skipped: Vec<(i64, String)>,
    /// With `on-error stop`: the offset of the record that stops the transform, and why. The
    /// writes are those of the records before it.
    pub(crate) stop_at: Option<(i64, String)>,
}

/// Runs `batch` through `instance` and decides what to write.
pub(crate) fn process(instance: &mut PluginInstance, batch: &InputBatch, deployment: &TransformDeployment) -> Processed {
    let mut processed = Processed::default();
    if let Ok(writes) = call(instance, batch, deployment) {
        processed.writes = writes;
        return processed;
    }
    for record in &batch.records {
        let single = InputBatch { topic: batch.topic.clone(), partition: batch.partition, records: vec![record.clone()] };
        match call(instance, &single, deployment) {
            Ok(writes) => processed.writes.extend(writes),
            Err(error) => {
                processed.failed += 1;
                match &deployment.on_error {
                    OnError::DeadLetter { topic } => {
                        processed.writes.push(Write::DeadLetter { topic: topic.clone(), record: record.clone(), error });
                    }
                    OnError::Skip => processed.skipped.push((record.offset, error)),
                    OnError::Stop => {
                        processed.stop_at = Some((record.offset, error));
                        return processed;
                    }
                }
            }
        }
    }
    processed
}

/// One plugin call: its outputs as writes, or why it failed (the plugin's error, or an
/// output naming a topic the deployment may not write).
fn call(instance: &mut PluginInstance, batch: &InputBatch, deployment: &TransformDeployment) -> Result<Vec<Write>, String> {
    let outputs = instance.process(batch).map_err(|e| e.to_string())?;
    let timestamp = batch.records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let mut writes = Vec::with_capacity(outputs.len());
    for record in outputs {
        let topic = match &record.topic {
            None => deployment.outputs.first().cloned().unwrap_or_default(),
            Some(named) if deployment.outputs.contains(named) => named.clone(),
            Some(named) => {
                return Err(format!(
                    "the plugin wrote to topic {named:?}, which is not an output of transform {:?} (its outputs: {}); deploy it with --output {named} to allow it",
                    deployment.name,
                    deployment.outputs.join(", ")
                ));
            }
        };
        writes.push(Write::Output { topic, record, timestamp });
    }
    Ok(writes)
}
