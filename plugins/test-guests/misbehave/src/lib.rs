//! A plugin that fails on purpose, by the value of a record:
//! - `spin`: loops forever (the host's CPU budget must stop it);
//! - `boom`: allocates until its memory runs out (the host's memory limit must stop it);
//! - `trap`: panics (a trap);
//! - `garbage`: answers an error naming a record far outside the batch.
//!
//! Any other record passes through unchanged; `init` refuses `refuse=true`.

wit_bindgen::generate!({ world: "transform", path: "../../wit" });



struct Misbehave;

impl Guest for Misbehave {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        if config.iter().any(|(k, v)| k == "refuse" && v == "true") {
            return Err("refused as asked (refuse=true)".into());
        }
        Ok(())
    }

    fn process(batch: InputBatch) -> Result<Vec<OutputRecord>, Error> {
        let mut out = Vec::with_capacity(batch.records.len());
        for record in batch.records {
            match record.value.as_deref() {
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
                _ => out.push(OutputRecord { key: record.key, value: record.value, headers: record.headers, timestamp: None, topic: None }),
            }
        }
        Ok(out)
    }
}

export!(Misbehave);
