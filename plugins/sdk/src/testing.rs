//! Running a transform over sample records without a cluster or a WebAssembly runtime: the
//! same calls the plugin gets, natively, for a crate's own tests.
//!
//! ```ignore
//! let out = fjord_plugin_sdk::testing::run::<MaskPii>(&[], ["mail me at a@b.org"]).unwrap();
//! assert_eq!(out[0].value_str(), Some("mail me at ***"));
//! ```

use crate::{Config, Output, Record, Transform};

/// Records from values, at offsets 0, 1, 2, … of partition 0 of `topic`.
pub fn records<V: Into<Vec<u8>>>(topic: &str, values: impl IntoIterator<Item = V>) -> Vec<Record> {
    values
        .into_iter()
        .enumerate()
        .map(|(offset, value)| Record { value: Some(value.into()), topic: topic.to_string(), offset: offset as i64, ..Record::default() })
        .collect()
}

/// Initialises `T` with `config` and runs `inputs` through it as one batch. The error is the
/// plugin's own, prefixed with the offset of the record that failed.
pub fn run_records<T: Transform>(config: &[(&str, &str)], inputs: Vec<Record>) -> Result<Vec<Output>, String> {
    let mut transform = T::init(&Config::new(config.iter().copied()))?;
    let mut out = Vec::new();
    for record in inputs {
        let offset = record.offset;
        transform.process(record, &mut out).map_err(|e| format!("record at offset {offset}: {e}"))?;
    }
    Ok(out)
}

/// As [`run_records`], for records made from `values` (see [`records`]).
pub fn run<T: Transform>(config: &[(&str, &str)], values: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Result<Vec<Output>, String> {
    run_records::<T>(config, records("test", values))
}
