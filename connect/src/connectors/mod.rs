//! The connectors this crate ships, one module each.

pub mod file_sink;
pub mod file_source;
