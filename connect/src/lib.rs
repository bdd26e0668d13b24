//! `fjord-connect`: Kafka Connect's model — connectors split into tasks, source tasks poll
//! records with their source positions, sink tasks receive records and flush before offsets
//! are committed — over any Kafka-compatible cluster. It reaches clusters only through the
//! Kafka protocol (rdkafka) and never imports `fjord-log-core`.
//!
//! ```text
//! config file / REST ──► config (+ secrets) ──► registry: connector.class → ConnectorPlugin
//!                                                     │ task configs
//!                         runtime::Worker ──► supervisor per task (restart with backoff)
//!   source: task.poll ─► converter ─► producer ─acks─► offsets::OffsetStore ─► task.commit
//!   sink:   consumer ─► converter ─► task.put … task.flush ─► group commit
//! ```
//!
//! Modules: [`config`] (settings, files, secrets, definitions), [`data`] (Connect's schemas
//! and values, JSON), [`converter`], [`record`], [`connector`] (the task traits), [`registry`]
//! (the connector table), [`connectors`] (file source and sink), [`offsets`], [`runtime`].

pub mod config;
pub mod connector;
pub mod connectors;
pub mod converter;
pub mod data;
mod durable;
mod error;
pub mod offsets;
pub mod record;
pub mod registry;
pub mod rest;
pub mod runtime;
pub mod transforms;

pub use error::{ConnectError, Result};
