//! Group coordinator suite for `fjord_log_core::group`, one test binary. Real time with short
//! timeouts; waits are generous "eventually" bounds, never exact timings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod membership;
mod offsets;
mod persistence;
mod support;
mod versions;
