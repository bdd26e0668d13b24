//! Running a transform over sample records without a cluster or a WebAssembly runtime: the
//! records are packed into a batch as the host packs them and go through the same code a
//! plugin runs, natively, for a crate's own tests.
//!
//! ```ignore
//! let out = fjord_plugin_sdk::testing::run::<MaskPii>(&[], ["mail me at a@b.org"]).unwrap();
//! assert_eq!(out[0].value_str(), Some("mail me at [EMAIL]"));
//! ```

use std::borrow::Cow;

use crate::columns::{owned_output, ContentsReader, ContentsWriter};
use crate::glue::bindings::fjord::transform::types::InputBatch;
use crate::{glue, Config, Output, Transform};

/// A record to run a transform over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub offset: i64,
}

impl Sample {
    /// A record with `value` and nothing else.
    pub fn with_value(value: impl Into<Vec<u8>>) -> Self {
        Self { value: Some(value.into()), ..Self::default() }
    }
}

/// Initialises `T` with `config` and runs `samples` through it as one batch of partition 0 of
/// `topic`. The error is the plugin's own, prefixed with the offset of the record that failed.
pub fn run_samples<T: Transform>(config: &[(&str, &str)], topic: &str, samples: &[Sample]) -> Result<Vec<Output<'static>>, String> {
    let mut transform = T::init(&Config::new(config.iter().copied()))?;
    let batch = pack(topic, samples)?;
    let answer = glue::run(&mut transform, &batch).map_err(|e| match e.record_index.and_then(|i| samples.get(i as usize)) {
        Some(sample) => format!("record at offset {}: {}", sample.offset, e.message),
        None => e.message,
    })?;
    let mut reader = ContentsReader::new(&answer.contents);
    let mut outputs = Vec::with_capacity(answer.timestamps.len());
    for (timestamp, target) in answer.timestamps.iter().zip(&answer.targets) {
        let mut output = owned_output(reader.next_record()?);
        output.timestamp = Some(*timestamp);
        output.topic = usize::try_from(*target).ok().and_then(|i| answer.topics.get(i)).map(|t| t.clone().into());
        outputs.push(output);
    }
    Ok(outputs)
}

/// As [`run_samples`], for records made from `values`, at offsets 0, 1, 2, … of topic `test`.
pub fn run<T: Transform>(config: &[(&str, &str)], values: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Result<Vec<Output<'static>>, String> {
    let samples: Vec<Sample> = values.into_iter().enumerate().map(|(offset, value)| Sample { offset: offset as i64, ..Sample::with_value(value) }).collect();
    run_samples::<T>(config, "test", &samples)
}

/// `samples` as the host packs a batch (the layout the SDK writes answers in).
fn pack(topic: &str, samples: &[Sample]) -> Result<InputBatch, String> {
    let mut contents = ContentsWriter::with_capacity(0, samples.len());
    for s in samples {
        let headers = s.headers.iter().map(|(name, value)| (Cow::Borrowed(name.as_str()), value.as_deref().map(Cow::Borrowed))).collect();
        let record = Output { key: s.key.as_deref().map(Cow::Borrowed), value: s.value.as_deref().map(Cow::Borrowed), added_headers: headers, ..Output::default() };
        contents.push(&record)?;
    }
    Ok(InputBatch {
        topic: topic.to_string(),
        partition: 0,
        offsets: samples.iter().map(|s| s.offset).collect(),
        timestamps: samples.iter().map(|s| s.timestamp).collect(),
        contents: contents.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;

    /// Keeps records with a value, adds a header saying the value's length, and sends those
    /// with header `to` to the topic it names.
    struct Tag;

    impl Transform for Tag {
        fn init(_: &Config) -> Result<Self, String> {
            Ok(Tag)
        }

        fn process<'a>(&mut self, record: Record<'a>, out: &mut Vec<Output<'a>>) -> Result<(), String> {
            let Some(value) = record.value else { return Ok(()) };
            if value == b"fail" {
                return Err("told to fail".into());
            }
            let mut output = Output::forward(record).with_header("length", value.len().to_string().into_bytes());
            if let Some(to) = record.header("to") {
                output = output.to_topic(String::from_utf8_lossy(to).into_owned());
            }
            out.push(output);
            Ok(())
        }
    }

    #[test]
    fn records_reach_the_transform_and_outputs_come_back_field_for_field() {
        let samples = [
            Sample { key: Some(b"k".to_vec()), value: Some(b"one".to_vec()), headers: vec![("to".into(), Some(b"elsewhere".to_vec())), ("empty".into(), None)], timestamp: 5, offset: 10 },
            Sample { key: None, value: None, headers: vec![], timestamp: 6, offset: 11 },
            Sample { key: None, value: Some(vec![]), headers: vec![], timestamp: 7, offset: 12 },
        ];
        let out = run_samples::<Tag>(&[], "in", &samples).unwrap();
        assert_eq!(out.len(), 2, "the tombstone is dropped");
        assert_eq!(out[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(out[0].value_str(), Some("one"));
        let headers: Vec<_> = out[0].headers().collect();
        assert_eq!(headers, [("to", Some(&b"elsewhere"[..])), ("empty", None), ("length", Some(&b"3"[..]))]);
        assert_eq!((out[0].timestamp, out[0].topic.as_deref()), (Some(5), Some("elsewhere")));
        assert_eq!((out[1].key.as_deref(), out[1].value.as_deref()), (None, Some(&b""[..])), "a null key and an empty value stay what they are");
        assert_eq!((out[1].timestamp, out[1].topic.as_deref(), out[1].header("length")), (Some(7), None, Some(&b"0"[..])));
    }

    #[test]
    fn an_error_names_the_offset_of_its_record() {
        let samples = [Sample::with_value("ok"), Sample { offset: 41, ..Sample::with_value("fail") }];
        assert_eq!(run_samples::<Tag>(&[], "in", &samples).unwrap_err(), "record at offset 41: told to fail");
    }
}
