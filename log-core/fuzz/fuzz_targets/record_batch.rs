//! `record_batch`: see `src/record_batch.rs` for the input and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fjord_log_core_fuzz::record_batch::run(data);
});
