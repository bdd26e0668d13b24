//! `fjord-connect`: declarative source and sink connectors.
//!
//! This crate will own the connector runtime (connector → tasks), a REST API compatible with
//! Kafka Connect's, the file and PostgreSQL (including change data capture) connectors, and
//! single message transforms. It reaches a cluster only through the Kafka protocol and never
//! imports `fjord-log-core`, so it works against any Kafka-compatible cluster.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final shape.
