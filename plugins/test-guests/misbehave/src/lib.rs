//! A plugin that fails on purpose, by the value of a record:
//! - `spin`: loops forever (the host's CPU budget must stop it);
//! - `boom`: allocates until its memory runs out (the host's memory limit must stop it);
//! - `trap`: panics (a trap);
//! - `garbage`: answers an error naming a record far outside the batch;
//! - `malformed`: answers an output whose value lies outside the answer's data.
//!
//! Any other record passes through unchanged; `init` refuses `refuse=true`.

wit_bindgen::generate!({ world: "transform", path: "../../wit" });

use fjord::transform::types::{OutputRecord, Span};



struct Misbehave;

impl Guest for Misbehave {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        if config.iter().any(|(k, v)| k == "refuse" && v == "true") {
            return Err("refused as asked (refuse=true)".into());
        }
        Ok(())
    }

    fn process(batch: InputBatch) -> Result<OutputBatch, Error> {
        let mut records = Vec::with_capacity(batch.records.len());
        for record in &batch.records {
            let value = record.value.map(|s| &batch.data[s.offset as usize..(s.offset + s.len) as usize]);
            match value {
                Some(b"spin") => {
                    let mut n = 0u64;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                Some(b"boom") => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                Some(b"trap") => panic!("told to trap"),
                Some(b"garbage") => return Err(Error { message: String::from("garbage"), record_index: Some(u32::MAX) }),
                Some(b"malformed") => records.push(OutputRecord {
                    key: None,
                    value: Some(Span { offset: u32::MAX - 1, len: 100 }),
                    first_header: 0,
                    header_count: 0,
                    timestamp: None,
                    topic: None,
                }),
                // The input's own spans: its bytes and headers are returned as they came.
                _ => records.push(OutputRecord {
                    key: record.key,
                    value: record.value,
                    first_header: record.first_header,
                    header_count: record.header_count,
                    timestamp: None,
                    topic: None,
                }),
            }
        }
        Ok(OutputBatch { data: batch.data, headers: batch.headers, topics: Vec::new(), records })
    }
}

export!(Misbehave);
