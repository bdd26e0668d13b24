//! The Rust types and calls generated from `wit/transform.wit` (the `fjord:transform` world).
//! Its batches are packed; [`crate::records`] turns them into and out of the host's records.

wasmtime::component::bindgen!({
    path: "wit",
    world: "transform",
});

pub use fjord::transform::types as wit;
pub use wit::Error as GuestError;
