//! Storage conformance suite for `fjord_log_core::storage`, one test binary.

mod basics;
mod compaction;
mod crash;
mod model;
mod retention;
mod support;
mod torn_tail;
