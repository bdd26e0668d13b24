//! The bridge between the `fjord:transform` world (wit-bindgen's bindings) and [`Transform`]:
//! the transform's state for the instance's lifetime, and the conversions. Used by
//! [`crate::transform!`]; not for plugin authors.

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

use bindings::fjord::transform::types::{Error, Header, InputBatch, InputRecord, OutputRecord};

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

/// The world's `process`: every record through the transform, in order; the first error
/// fails the batch and names its record.
pub fn process<T: Transform>(batch: InputBatch) -> Result<Vec<OutputRecord>, Error> {
    let InputBatch { topic, partition, records } = batch;
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let transform = state
            .as_mut()
            .and_then(|s| s.downcast_mut::<T>())
            .ok_or_else(|| Error { message: "process was called before init".into(), record_index: None })?;
        let mut out = Vec::with_capacity(records.len());
        let mut produced = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            let timestamp = record.timestamp;
            transform.process(from_input(record, &topic, partition), &mut produced).map_err(|message| Error { message, record_index: Some(index as u32) })?;
            out.extend(produced.drain(..).map(|o| to_output(o, timestamp)));
        }
        Ok(out)
    })
}

fn from_input(r: InputRecord, topic: &str, partition: i32) -> Record {
    Record {
        key: r.key,
        value: r.value,
        headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
        timestamp: r.timestamp,
        topic: topic.to_string(),
        partition,
        offset: r.offset,
    }
}

/// An output as the host takes it; an output without a timestamp gets its input's (the host
/// cannot tell which input of a batch an output came from).
fn to_output(o: Output, input_timestamp: i64) -> OutputRecord {
    OutputRecord {
        key: o.key,
        value: o.value,
        headers: o.headers.into_iter().map(|(key, value)| Header { key, value }).collect(),
        timestamp: Some(o.timestamp.unwrap_or(input_timestamp)),
        topic: o.topic,
    }
}
