//! The quorum's behaviour, one module per property. Every cluster runs in-process on
//! 127.0.0.1 with ports chosen by binding port 0, and every test has a deadline.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod cluster;
mod disk;
mod failover;
mod observers;
mod replication;
mod snapshots;
