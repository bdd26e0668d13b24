//! `fjord-plugins`: WebAssembly transforms for Fjord.
//!
//! This crate will own the wasmtime host, the WIT interface plugins implement, and the
//! per-instance memory and CPU limits. It knows nothing of Kafka: a record goes in, records
//! come out. The broker (partition leaders), connectors and SQL UDFs all run plugins through it.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final shape.
