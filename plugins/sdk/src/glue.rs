//! The bridge between the `fjord:transform` world (wit-bindgen's bindings) and [`Transform`]:
//! the transform's state for the instance's lifetime, and the unpacking of input batches and
//! packing of outputs. Used by
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

use bindings::fjord::transform::types::{Error, Header, InputBatch, OutputBatch, OutputRecord, Span};

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

/// The world's `process`: every record of the packed batch unpacked and through the
/// transform, in order, its outputs packed; the first error fails the batch and names its
/// record.
pub fn process<T: Transform>(batch: InputBatch) -> Result<OutputBatch, Error> {
    let InputBatch { topic, partition, data, headers, records } = batch;
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let transform = state
            .as_mut()
            .and_then(|s| s.downcast_mut::<T>())
            .ok_or_else(|| Error { message: "process was called before init".into(), record_index: None })?;
        let mut out = Packer::with_capacity(data.len(), records.len());
        let mut produced = Vec::new();
        for (index, r) in records.iter().enumerate() {
            let first = r.first_header as usize;
            let own_headers = headers.get(first..first.saturating_add(r.header_count as usize)).unwrap_or_default();
            let record = Record {
                key: r.key.map(|s| bytes(&data, s).to_vec()),
                value: r.value.map(|s| bytes(&data, s).to_vec()),
                headers: own_headers.iter().map(|h| (String::from_utf8_lossy(bytes(&data, h.key)).into_owned(), h.value.map(|v| bytes(&data, v).to_vec()))).collect(),
                timestamp: r.timestamp,
                topic: topic.clone(),
                partition,
                offset: r.offset,
            };
            transform.process(record, &mut produced).map_err(|message| Error { message, record_index: Some(index as u32) })?;
            for output in produced.drain(..) {
                out.push(output, r.timestamp);
            }
        }
        Ok(out.finish())
    })
}

/// The bytes of `span` (the host made the spans; one out of range reads as empty).
fn bytes(data: &[u8], span: Span) -> &[u8] {
    let start = span.offset as usize;
    data.get(start..start.saturating_add(span.len as usize)).unwrap_or_default()
}

/// Output records being packed into one batch.
struct Packer {
    data: Vec<u8>,
    headers: Vec<Header>,
    topics: Vec<String>,
    records: Vec<OutputRecord>,
}

impl Packer {
    fn with_capacity(bytes: usize, records: usize) -> Self {
        Self { data: Vec::with_capacity(bytes), headers: Vec::new(), topics: Vec::new(), records: Vec::with_capacity(records) }
    }

    fn put(&mut self, bytes: &[u8]) -> Span {
        let offset = self.data.len() as u32;
        self.data.extend_from_slice(bytes);
        Span { offset, len: bytes.len() as u32 }
    }

    /// Adds `o`; without a timestamp of its own it gets its input's (the host cannot tell
    /// which input of a batch an output came from).
    fn push(&mut self, o: Output, input_timestamp: i64) {
        let key = o.key.as_deref().map(|k| self.put(k));
        let value = o.value.as_deref().map(|v| self.put(v));
        let first_header = self.headers.len() as u32;
        for (name, value) in &o.headers {
            let key = self.put(name.as_bytes());
            let value = value.as_deref().map(|v| self.put(v));
            self.headers.push(Header { key, value });
        }
        let topic = o.topic.map(|t| match self.topics.iter().position(|known| *known == t) {
            Some(i) => i as u32,
            None => {
                self.topics.push(t);
                self.topics.len() as u32 - 1
            }
        });
        self.records.push(OutputRecord {
            key,
            value,
            first_header,
            header_count: o.headers.len() as u32,
            timestamp: Some(o.timestamp.unwrap_or(input_timestamp)),
            topic,
        });
    }

    fn finish(self) -> OutputBatch {
        OutputBatch { data: self.data, headers: self.headers, topics: self.topics, records: self.records }
    }
}
