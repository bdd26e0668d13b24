//! Fjord's additions to Kafka's answers, carried in tagged fields: Kafka clients skip tags
//! they do not know, so the answers stay Kafka's while Fjord's own tools read more. Tags are
//! taken far above the ones Kafka's schemas use (0, 1, 2, …) so a future Kafka field never
//! collides with them.

/// DescribeCluster, on each broker: its state as the controller records it, as UTF-8 —
/// `alive`, `fenced` or `shutting down` (Kafka's answer has only `is_fenced`).
pub const BROKER_STATE_TAG: i32 = 10_000;
