//! `fjord-mirror`: replication between clusters in the manner of MirrorMaker 2.
//!
//! This crate will own remote-topic naming, offset-sync and checkpoint topics, consumer-group
//! offset translation, heartbeats and config sync. It reaches both clusters only through the
//! Kafka protocol and never imports `fjord-log-core`.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final shape.
