//! A plugin that fails on purpose, by the value of a record:
//! - `spin`: loops forever (the host's CPU budget must stop it);
//! - `boom`: allocates until its memory runs out (the host's memory limit must stop it);
//! - `trap`: panics (a trap);
//! - `garbage`: answers an error naming a record far outside the batch;
//! - `malformed`: answers an output whose value lies outside the answer's data.
//!
//! Any other record passes through unchanged; `init` refuses `refuse=true`.

wit_bindgen::generate!({ world: "transform", path: "../../wit" });

use fjord::transform::types::Contents;

struct Misbehave;

impl Guest for Misbehave {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        if config.iter().any(|(k, v)| k == "refuse" && v == "true") {
            return Err("refused as asked (refuse=true)".into());
        }
        Ok(())
    }

    fn process(batch: InputBatch) -> Result<OutputBatch, Error> {
        let n = batch.offsets.len();
        // Where each record's bytes start: its key's, then its value's.
        let mut at = 0usize;
        let mut header = 0usize;
        for i in 0..n {
            let c = &batch.contents;
            at += c.key_lengths[i].max(0) as usize;
            let value = usize::try_from(c.value_lengths[i]).ok().map(|len| &c.data[at..at + len]);
            at += c.value_lengths[i].max(0) as usize;
            for h in header..header + c.header_counts[i] as usize {
                at += c.header_name_lengths[h] as usize + c.header_value_lengths[h].max(0) as usize;
            }
            header += c.header_counts[i] as usize;
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
                // An answer whose one record's value runs far past its data.
                Some(b"malformed") => {
                    let contents = Contents { key_lengths: vec![-1], value_lengths: vec![100], header_counts: vec![0], header_name_lengths: vec![], header_value_lengths: vec![], data: vec![] };
                    return Ok(OutputBatch { contents, timestamps: vec![-1], targets: vec![-1], topics: Vec::new() });
                }
                _ => {}
            }
        }
        // Every record passed on: the input's own contents, as they came.
        Ok(OutputBatch { contents: batch.contents, timestamps: vec![-1; n], targets: vec![-1; n], topics: Vec::new() })
    }
}

export!(Misbehave);
