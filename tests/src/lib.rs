//! `fjord-tests`: cross-crate tests.
//!
//! Tests here start real `fjord` processes and drive them with real clients (rdkafka, kcat,
//! confluent-kafka, kafka-python), and will grow to multi-broker clusters and failure
//! scenarios. The library part holds the shared harness; the tests live in `tests/tests/`.
