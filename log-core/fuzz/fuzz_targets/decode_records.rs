//! `decode_records`: see `src/decode_records.rs` for the input and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fjord_log_core_fuzz::decode_records::run(data);
});
