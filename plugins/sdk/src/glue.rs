//! The bridge between the `fjord:transform` world (wit-bindgen's bindings) and [`Transform`]:
//! the transform's state for the instance's lifetime, and each batch's records handed to it
//! one by one, borrowed from the batch, and its outputs packed. Used by
//! [`crate::transform!`] and [`crate::testing`]; not for plugin authors.

use std::any::Any;
use std::cell::RefCell;

use crate::{Config, Output, Record, Transform};

#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "transform",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "fjord_plugin_sdk::glue::bindings",
    });
}

use bindings::fjord::transform::types::{Error, InputBatch, OutputBatch};

use crate::columns::{ContentsReader, ContentsWriter};

thread_local! {
    /// The instance's transform, made by `init`. WebAssembly instances are single-threaded.
    static STATE: RefCell<Option<Box<dyn Any>>> = RefCell::new(None);
}

/// The world's `init`: builds the transform from its settings.
pub fn init<T: Transform>(config: Vec<(String, String)>) -> Result<(), String> {
    let transform = T::init(&Config::new(config))?;
    STATE.with(|state| *state.borrow_mut() = Some(Box::new(transform)));
    Ok(())
}

/// The world's `process`: the instance's transform over the batch ([`run`]).
pub fn process<T: Transform>(batch: InputBatch) -> Result<OutputBatch, Error> {
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let transform = state
            .as_mut()
            .and_then(|s| s.downcast_mut::<T>())
            .ok_or_else(|| Error { message: "process was called before init".into(), record_index: None })?;
        run(transform, &batch)
    })
}

/// Every record of the batch, borrowed from it, through `transform`, in order, and its
/// outputs packed; the first error fails the batch and names its record.
pub fn run<T: Transform>(transform: &mut T, batch: &InputBatch) -> Result<OutputBatch, Error> {
    let malformed = |record_index: Option<usize>, why: String| Error { message: format!("the host sent a malformed batch: {why}"), record_index: record_index.map(|i| i as u32) };
    let mut reader = ContentsReader::new(&batch.contents);
    let n = reader.records().map_err(|why| malformed(None, why))?;
    if batch.offsets.len() != n || batch.timestamps.len() != n {
        return Err(malformed(None, format!("{} offsets and {} timestamps for {n} records", batch.offsets.len(), batch.timestamps.len())));
    }
    let mut out = ContentsWriter::with_capacity(batch.contents.data.len(), n);
    let mut timestamps = Vec::with_capacity(n);
    let mut targets = Vec::with_capacity(n);
    let mut topics: Vec<String> = Vec::new();
    let mut produced: Vec<Output<'_>> = Vec::new();
    for index in 0..n {
        let (key, value, headers) = reader.next_record().map_err(|why| malformed(Some(index), why))?;
        let timestamp = batch.timestamps[index];
        let record = Record { key, value, headers, timestamp, topic: &batch.topic, partition: batch.partition, offset: batch.offsets[index] };
        let failed = |message: String| Error { message, record_index: Some(index as u32) };
        transform.process(record, &mut produced).map_err(failed)?;
        for output in produced.drain(..) {
            out.push(&output).map_err(failed)?;
            // Without a timestamp of its own an output gets its input's: the host cannot tell
            // which input of a batch an output came from.
            timestamps.push(output.timestamp.unwrap_or(timestamp));
            targets.push(match output.topic {
                None => -1,
                Some(topic) => match topics.iter().position(|known| *known == topic) {
                    Some(i) => i as i32,
                    None => {
                        topics.push(topic.into_owned());
                        topics.len() as i32 - 1
                    }
                },
            });
        }
    }
    Ok(OutputBatch { contents: out.finish(), timestamps, targets, topics })
}
