//! `segment_recovery`: see `src/segment_recovery.rs` for the input and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fjord_log_core_fuzz::segment_recovery::run(data);
});
