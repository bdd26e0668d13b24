//! The connectors this crate ships, one module each.

pub mod file_sink;
pub mod file_source;
pub mod postgres;
pub mod postgres_cdc;
pub mod postgres_sink;
pub mod postgres_source;
