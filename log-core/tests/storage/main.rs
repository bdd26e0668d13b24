//! Storage conformance suite for `fjord_log_core::storage`, one test binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod basics;
mod compaction;
mod crash;
mod model;
mod retention;
mod support;
mod torn_tail;
