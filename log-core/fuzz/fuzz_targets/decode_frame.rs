//! Arbitrary bytes as a connection's byte stream: `protocol::read_frame` splits it into frames
//! under a small `socket.request.max.bytes`, and each frame goes through `protocol::decode`,
//! as `server.rs` does. Nothing may panic, and no frame may exceed the limit.
#![no_main]

use fjord_log_core::protocol;
use libfuzzer_sys::fuzz_target;

/// Small, so that oversized prefixes are common in the inputs.
const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    runtime.block_on(async {
        let mut stream = data;
        loop {
            match protocol::read_frame(&mut stream, MAX).await {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= MAX);
                    let _ = protocol::decode(frame.freeze());
                }
                Ok(None) => break,
                Err(protocol::FrameError::BadSize { size, max }) => {
                    assert!(size < 0 || size > max as i64);
                    break;
                }
                Err(_) => break,
            }
        }
    });
});
