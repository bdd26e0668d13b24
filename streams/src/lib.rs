//! `fjord-streams`: continuous SQL over topics.
//!
//! This crate will parse SQL, plan it with DataFusion and run it continuously over Arrow
//! record batches decoded from topics: filters, event-time windows with watermarks, joins and
//! materialized views with pull queries. It reaches a cluster only through the Kafka protocol
//! and never imports `fjord-log-core`.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final shape.
