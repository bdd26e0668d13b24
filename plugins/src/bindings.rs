//! The Rust types and calls generated from `wit/transform.wit` (the `fjord:transform` world).

wasmtime::component::bindgen!({
    path: "wit",
    world: "transform",
});

pub use fjord::transform::types::{Error as GuestError, Header, InputRecord};
