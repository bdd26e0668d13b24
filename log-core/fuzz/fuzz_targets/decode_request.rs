//! Arbitrary bytes as one request frame (size prefix already removed), through
//! `protocol::decode`: it must return `Ok` or `Err`, never panic, abort or allocate without
//! bound, and what it returns must agree with the fixed header bytes.
#![no_main]

use bytes::Bytes;
use fjord_log_core::protocol::{self, DecodeError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixed = (data.len() >= 8).then(|| {
        (
            i16::from_be_bytes([data[0], data[1]]),
            i16::from_be_bytes([data[2], data[3]]),
            i32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        )
    });
    match protocol::decode(Bytes::copy_from_slice(data)) {
        Ok(request) => {
            let (key, version, correlation_id) = fixed.expect("a decoded request has a header");
            assert_eq!(request.api_key as i16, key);
            assert_eq!(request.version, version);
            assert_eq!(request.header.correlation_id, correlation_id);
            let (min, max) = protocol::supported(request.api_key).expect("only served APIs decode");
            assert!((min..=max).contains(&request.version));
        }
        Err(DecodeError::TooShort(n)) => assert!(n < 8 && fixed.is_none()),
        Err(e) => assert_eq!(e.correlation_id(), fixed.map(|(_, _, c)| c)),
    }
});
